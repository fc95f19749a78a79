"""Figures read when Prometheus scrapes: the rooms, the media totals, the pool, the loop.

Nothing here runs between scrapes: the collector walks the rooms open at that
moment (a few dozen objects) and copies the integers the media path keeps
(``server/rooms/counters.py``). The metric names and help texts are the
reference docs/operations.md describes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine

from server.live.rooms import LiveRooms
from server.metrics.loop_lag import LoopLagMonitor
from server.rooms.participant import Admission

#: (attribute of MediaCounters, metric name without _total, help).
MEDIA_COUNTERS = (
    (
        "packets_forwarded",
        "concord_media_packets_forwarded",
        "RTP packets the media server sent to subscribers (retransmissions not included).",
    ),
    (
        "bytes_forwarded",
        "concord_media_bytes_forwarded",
        "Bytes of those packets, RTP header and payload, before SRTP protection.",
    ),
    (
        "nacked_packets",
        "concord_media_nack_packets",
        "Packets that subscribers asked for again by RTCP NACK.",
    ),
    (
        "retransmissions",
        "concord_media_rtx_packets",
        "NACKed packets sent again over RTX from the server's short history.",
    ),
    (
        "keyframe_requests_received",
        "concord_media_pli_received",
        "Keyframe requests (RTCP PLI or FIR) received from subscribers.",
    ),
    (
        "keyframe_requests_sent",
        "concord_media_pli_sent",
        "PLIs sent to publishers (subscribers' requests and the server's own, "
        "at most one per publisher per keyframe_request_interval).",
    ),
)


class LiveCollector(Collector):
    """Reads the app's rooms, engine and loop monitor at each scrape.

    ``rooms`` and ``engine`` are callables because both exist only while the
    app runs (its cleanup contexts make them); before or after, their
    figures are simply absent.
    """

    def __init__(
        self,
        rooms: Callable[[], LiveRooms | None],
        engine: Callable[[], AsyncEngine | None],
        lag: LoopLagMonitor,
    ) -> None:
        self._rooms = rooms
        self._engine = engine
        self._lag = lag

    def describe(self) -> Iterable[Metric]:
        # Nothing to check for clashes at registration: collect() runs at scrape only.
        return []

    def collect(self) -> Iterable[Metric]:
        rooms = self._rooms()
        if rooms is not None:
            yield from self._rooms_metrics(rooms)
        engine = self._engine()
        if engine is not None:
            yield from _pool_metrics(engine)
        yield GaugeMetricFamily(
            "concord_event_loop_lag_seconds",
            "How late the event loop ran the latest lag probe (scheduled every 0.25 s).",
            value=self._lag.latest,
        )
        yield GaugeMetricFamily(
            "concord_event_loop_lag_max_seconds",
            "The largest event-loop lag of the last 60 seconds.",
            value=self._lag.worst,
        )

    def _rooms_metrics(self, rooms: LiveRooms) -> Iterable[Metric]:
        live_rooms = list(rooms)
        admissions: Counter[str] = Counter({state.value: 0 for state in Admission})
        connections = 0
        routes = 0
        for live in live_rooms:
            admissions.update(p.admission.value for p in live.room.participants.values())
            connections += len(live.sessions)
            routes += live.media.forwarded_routes
        yield GaugeMetricFamily(
            "concord_rooms_open", "Live rooms open in this process.", value=len(live_rooms)
        )
        participants = GaugeMetricFamily(
            "concord_room_participants",
            "People the open rooms know, by admission (left and removed people are "
            "remembered until their room closes).",
            labels=["admission"],
        )
        for admission, count in sorted(admissions.items()):
            participants.add_metric([admission], count)
        yield participants
        yield GaugeMetricFamily(
            "concord_room_connections",
            "Room sockets joined to a room now (one per person present).",
            value=connections,
        )
        yield GaugeMetricFamily(
            "concord_forwarded_streams",
            "Media streams forwarded now: (source, audio or video, receiver) routes "
            "between connected participants.",
            value=routes,
        )
        counters = rooms.counters
        for attribute, name, help_text in MEDIA_COUNTERS:
            yield CounterMetricFamily(name, help_text, value=getattr(counters, attribute))
        errors = CounterMetricFamily(
            "concord_signaling_errors",
            "Error responses sent on room sockets, and refused room-socket handshakes, "
            "by error code.",
            labels=["code"],
        )
        for code, count in sorted(rooms.signal_errors.items()):
            errors.add_metric([code], count)
        yield errors


def _pool_metrics(engine: AsyncEngine) -> Iterable[Metric]:
    """The connection pool's figures, where the pool keeps them (a queue pool does)."""
    pool: Any = engine.pool
    for method, name, help_text in (
        ("size", "concord_db_pool_size", "Connections the database pool keeps (pool_size)."),
        (
            "checkedout",
            "concord_db_pool_checked_out",
            "Database connections in use by requests and rooms now.",
        ),
        (
            "overflow",
            "concord_db_pool_overflow",
            "Connections open beyond pool_size now (negative: pool slots not yet opened).",
        ),
    ):
        read = getattr(pool, method, None)
        if callable(read):
            yield GaugeMetricFamily(name, help_text, value=float(read()))
