"""Concord: remote multi-party mediation for community police offices."""

__version__ = "0.1.0"
