"""调解笔录: the structured minutes of a session, their sign-off and their paper."""
