"""One app's metrics: its registry, its histograms, and the collector of live figures."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from sqlalchemy.ext.asyncio import AsyncEngine

from server.live.rooms import LiveRooms
from server.metrics.live import LiveCollector
from server.metrics.loop_lag import LoopLagMonitor

#: Join times: a keyframe usually follows within a second, a bad link takes several.
JOIN_BUCKETS = (0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0)
#: PDF steps: 0.02 s for a seal, 0.2-0.3 s for a warm render, seconds when cold or contended.
PDF_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: Event-loop lag: a few milliseconds is normal, 50 ms starts to drop packets.
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class AppMetrics:
    """The registry ``/metrics`` renders, and what feeds its histograms.

    Made with the app; the app's cleanup context (``server/app.py``) hands
    ``join_seconds.observe`` to the rooms, :meth:`pdf_step` to the PDF
    worker, and starts and stops :attr:`lag`.
    """

    def __init__(
        self,
        *,
        rooms: Callable[[], LiveRooms | None],
        engine: Callable[[], AsyncEngine | None],
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.lag = LoopLagMonitor(on_sample=self._lag_sample)
        self.join_seconds = Histogram(
            "concord_join_seconds",
            "Seconds from a joining connection's media being attached to its room (the "
            "join request, once the room's lock is free) to the first video keyframe the "
            "server forwarded to it; connections that never receive video are not counted.",
            buckets=JOIN_BUCKETS,
            registry=self.registry,
        )
        self._pdf = {
            step: Histogram(
                f"concord_pdf_{step}_seconds",
                help_text,
                ["document"],
                buckets=PDF_BUCKETS,
                registry=self.registry,
            )
            for step, help_text in (
                ("render", "Seconds the PDF worker spent rendering a document (WeasyPrint)."),
                ("seal", "Seconds the PDF worker spent sealing a document (pyHanko signature)."),
                (
                    "job",
                    "Seconds the server awaited a PDF job (render and seal, or verify), "
                    "waiting for a free worker and the trip to it included.",
                ),
            )
        }
        self._lag_histogram = Histogram(
            "concord_event_loop_tick_lag_seconds",
            "Each lag probe's delay (every 0.25 s): how late the event loop ran what was due.",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(
            LiveCollector(
                rooms=rooms,
                engine=engine,
                lag=self.lag,
            )
        )

    def pdf_step(self, document: str, step: str, seconds: float) -> None:
        """``AgreementWorks``'s timing observer."""
        self._pdf[step].labels(document=document).observe(seconds)

    def _lag_sample(self, lag: float) -> None:
        self._lag_histogram.observe(lag)

    def render(self) -> bytes:
        """The exposition, in Prometheus's text format."""
        return generate_latest(self.registry)
