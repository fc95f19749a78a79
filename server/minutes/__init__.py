"""调解笔录: a session's minutes as timed entries written live in the room, their sign-off
and their paper."""
