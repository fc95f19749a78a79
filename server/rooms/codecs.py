"""Which video codec a room uses: one that every connected participant can decode.

The media server forwards packets and never transcodes, so a room's
publishers must all send the one codec all its subscribers decode. iPhones
(and WeChat's browser on iOS) prefer H.264 and many Android phones decode it
in hardware; desktop browsers decode VP8 and usually H.264 too. Each page
declares what it can decode when it joins (``video_codecs``); a page that
declares nothing is an older one and is taken to decode VP8 only.

The rule (:class:`RoomVideoCodec`):

- The first participant to join a room nobody is connected to decides: the
  station's preferred codec if they decode it, else the other one they do.
- Everyone who joins later must decode that codec, or is refused with
  :class:`CodecUnsupported`: switching codecs would renegotiate every
  connection of the room at once, and would stop someone else's video.
- When the last connected participant goes, the choice is forgotten; the
  next joiner decides afresh.

Pure: no aiortc, no I/O. The live layer holds one per room and asks it under
the room's lock.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from server.errors import N_, DomainError, ErrorCode


class VideoCodec(enum.StrEnum):
    """A video codec the media server forwards."""

    VP8 = "vp8"
    H264 = "h264"

    @property
    def display_name(self) -> str:
        """As pages and SDP write it (``VP8``, ``H264``)."""
        return _DISPLAY[self]


_DISPLAY = {VideoCodec.VP8: "VP8", VideoCodec.H264: "H264"}
#: The order a joiner's codecs are tried in after the station's preference.
FALLBACK_ORDER = (VideoCodec.VP8, VideoCodec.H264)
#: What a page that declares nothing decodes (pages older than the declaration).
UNDECLARED = frozenset({VideoCodec.VP8})


class CodecUnsupported(DomainError):
    """The joiner cannot decode the room's video codec (or any codec forwarded)."""

    code = ErrorCode.CODEC_UNSUPPORTED


def decodable(declared: Iterable[str] | None) -> frozenset[VideoCodec]:
    """The forwarded codecs among a page's declared names (``VP8``, ``H264``, any case).

    ``None`` (nothing declared) means :data:`UNDECLARED`; names of codecs
    the server does not forward (``AV1``, ``VP9``) are left out, so the
    result may be empty.
    """
    if declared is None:
        return UNDECLARED
    known = {codec.display_name.lower(): codec for codec in VideoCodec}
    return frozenset(known[name.lower()] for name in declared if name.lower() in known)


def first_choice(can_decode: frozenset[VideoCodec], preference: VideoCodec) -> VideoCodec | None:
    """The codec a room's first joiner gets: the preference if they decode it, else another."""
    if preference in can_decode:
        return preference
    return next((codec for codec in FALLBACK_ORDER if codec in can_decode), None)


class RoomVideoCodec:
    """One room's video codec and what each connected participant decodes."""

    def __init__(self, preference: VideoCodec = VideoCodec.VP8) -> None:
        self.preference = preference
        self._decodes: dict[str, frozenset[VideoCodec]] = {}
        self._codec: VideoCodec | None = None

    @property
    def codec(self) -> VideoCodec | None:
        """The room's codec; None while nobody is connected."""
        return self._codec

    def choose(self, pid: str, can_decode: frozenset[VideoCodec]) -> VideoCodec:
        """The codec ``pid`` would get by joining now; nothing changes.

        ``pid``'s own earlier connection (a new tab replacing it) does not
        count: if nobody else is connected, the choice is made afresh.
        Raises :class:`CodecUnsupported` when ``pid`` cannot decode the
        room's codec, or none of the forwarded ones.
        """
        others = any(other != pid for other in self._decodes)
        if others and self._codec is not None:
            if self._codec not in can_decode:
                raise CodecUnsupported(
                    N_(
                        "This room's video uses %(codec)s, which this browser cannot "
                        "decode. Join from another browser, or ask the mediator."
                    ),
                    params={"codec": self._codec.display_name},
                )
            return self._codec
        chosen = first_choice(can_decode, self.preference)
        if chosen is None:
            raise CodecUnsupported(
                N_(
                    "This browser decodes none of the video formats the room can use "
                    "(VP8, H264). Join from another browser."
                )
            )
        return chosen

    def admit(self, pid: str, can_decode: frozenset[VideoCodec]) -> VideoCodec:
        """``pid`` is connected now (decided by :meth:`choose`): the room's codec."""
        codec = self.choose(pid, can_decode)
        self._decodes[pid] = can_decode
        self._codec = codec
        return codec

    def release(self, pid: str) -> None:
        """``pid``'s connection ended; the last one to go leaves the choice open."""
        self._decodes.pop(pid, None)
        if not self._decodes:
            self._codec = None

    @property
    def connected(self) -> frozenset[str]:
        """Who the choice counts as connected."""
        return frozenset(self._decodes)
