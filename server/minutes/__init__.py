"""调解笔录: the minutes of a session as timed entries, written live in the room."""
