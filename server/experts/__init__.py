"""The expert pool: who can be invited to help mediate, and for what."""
