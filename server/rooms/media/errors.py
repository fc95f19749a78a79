"""What the media plane raises: one public error, one internal signal."""

from __future__ import annotations


class MediaError(Exception):
    """A request the media plane cannot honour (bad SDP, no offer pending, ...)."""


class Superseded(Exception):
    """The offer awaiting its answer was replaced (restart or close).

    Not a failure: the negotiation loop moves on to the next offer without
    counting it against the connection.
    """
