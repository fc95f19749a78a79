"""What an operator's Prometheus reads at ``/metrics``, and the event-loop lag monitor.

Each app has its own :class:`~server.metrics.registry.AppMetrics` (its own
``CollectorRegistry``, not prometheus-client's global one: tests make many
apps in one process, and a worker of ``--workers N`` is one app). Most
figures are read when Prometheus scrapes, from what the rooms and the
database pool already hold (:mod:`~server.metrics.live`); the counters that
must survive the participants they count are plain integers the media path
keeps (``server/rooms/counters.py``). Histograms (join time, PDF steps,
event-loop lag) are observed as things happen. Who may read the page is
:mod:`~server.metrics.access`'s rule.
"""

from server.metrics.registry import AppMetrics

__all__ = ["AppMetrics"]
