"""The media plane: forward Opus and VP8 or H.264 RTP packets between participants.

A library on aiortc; the live layer drives it and the room's pure routing
function decides who receives what. :class:`MediaServer` only applies the
routes it is given, to the participants attached to it: each attached
connection is one :class:`ParticipantMedia` (its publisher and subscriber
legs), held by the participant's live session, closed when that ends.

Connection model (see ``docs/room.md``): two ``RTCPeerConnection`` per
participant, both ``max-bundle``, the room's one video codec (VP8, or H.264
constrained baseline in packetization mode 1: ``server/rooms/codecs.py``
chooses) the only video codec, Opus the only audio codec. The browser offers
on its *publisher* connection; only the server offers on its *subscriber*
connection, so neither side ever re-offers on a connection the other offers
on.

Packets: each subscriber m-section is one continuous RTP stream (its own SSRC,
sequence numbers and timestamps) whatever source feeds it; a new source, a
resumed one or a new publisher connection starts a new *run* that continues
the numbering. Subscribers' NACKs are answered from a short per-stream history
over RTX; RTCP sender reports carry what each stream really sent. All of that,
and every other reach into aiortc's internals, is in
:mod:`server.rooms.aiortc_adapter`.

The modules, by what they hold:

- :mod:`~server.rooms.media.server`: :class:`MediaServer`, the façade the
  live layer calls; attaches participants, turns routes into slots, feeds
  and negotiations;
- :mod:`~server.rooms.media.participant_media`: :class:`ParticipantMedia`,
  one participant's two legs, through which their browser's requests go;
- :mod:`~server.rooms.media.publishing`: publisher connections, capturing
  their receivers, the sources that outlive them, keyframe requests;
- :mod:`~server.rooms.media.negotiation`: a subscriber connection's
  serialised offer/answer loop, its slots' m-sections and feeds, replacing
  the connection;
- :mod:`~server.rooms.media.slots`: which source takes which slot, reuse and
  liveness rules; pure, without aiortc;
- :mod:`~server.rooms.media.connections`: ICE, trickled candidates, state
  reports and the background tasks both sides share;
- :mod:`~server.rooms.media.config` and :mod:`~server.rooms.media.errors`.
"""

from server.rooms.aiortc_adapter.ports import PortRange
from server.rooms.media.config import MediaConfig
from server.rooms.media.errors import MediaError, MediaPortsExhausted
from server.rooms.media.negotiation import SlotInfo, SubscriberOffer
from server.rooms.media.participant_media import ParticipantMedia
from server.rooms.media.server import MediaServer

__all__ = [
    "MediaConfig",
    "MediaError",
    "MediaPortsExhausted",
    "MediaServer",
    "ParticipantMedia",
    "PortRange",
    "SlotInfo",
    "SubscriberOffer",
]
