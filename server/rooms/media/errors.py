"""What the media plane raises: one public error (and its one special case), one internal signal."""

from __future__ import annotations


class MediaError(Exception):
    """A request the media plane cannot honour (bad SDP, no offer pending, ...)."""


class MediaPortsExhausted(MediaError):
    """Every UDP port of the configured media range is in use: no new connection now.

    Not the request's fault: the station is at its capacity (or the range is
    too narrow for it), so signalling says so with its own error code.
    """


class Superseded(Exception):
    """The offer awaiting its answer was replaced (restart or close).

    Not a failure: the negotiation loop moves on to the next offer without
    counting it against the connection.
    """
