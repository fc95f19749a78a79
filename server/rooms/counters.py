"""Running totals of one process's media work, for the operator's metrics.

The per-stream statistics (``OutboundStream.packets_out`` and the like) die
with their stream: a participant who leaves takes their counts along, so a
sum over the streams alive at scrape time would go down, which a Prometheus
counter must never do. The media servers of one process therefore share one
:class:`MediaCounters`, which only grows: the forwarding path adds to it
beside the per-stream counts it already keeps (two integer additions per
forwarded packet, nothing looked up), the rarer events (a NACK, a PLI, a
retransmission) add one each.

Plain integers, no locks: everything runs on the event loop's thread.
"""

from __future__ import annotations

from collections.abc import Callable


class MediaCounters:
    """Totals since the process started, across every room's media server."""

    __slots__ = (
        "bytes_forwarded",
        "join_observer",
        "keyframe_requests_received",
        "keyframe_requests_sent",
        "nacked_packets",
        "packets_forwarded",
        "retransmissions",
    )

    def __init__(self) -> None:
        #: RTP packets sent to subscribers (retransmissions not included).
        self.packets_forwarded = 0
        #: Their bytes, RTP header and payload, before SRTP protection.
        self.bytes_forwarded = 0
        #: Packets that subscribers' NACKs asked for again.
        self.nacked_packets = 0
        #: Of those, the ones answered from the history over RTX.
        self.retransmissions = 0
        #: PLI/FIR messages received from subscribers.
        self.keyframe_requests_received = 0
        #: PLIs sent to publishers (after the per-publisher rate limit).
        self.keyframe_requests_sent = 0
        #: Told, once per joined connection, the seconds from its media being
        #: attached to the first video keyframe forwarded to it.
        self.join_observer: Callable[[float], None] | None = None

    def joined(self, seconds: float) -> None:
        """A connection received its first video keyframe ``seconds`` after it joined."""
        if self.join_observer is not None:
            self.join_observer(seconds)
