"""``/healthz``, ``/readyz`` and ``/metrics``: what load balancers and Prometheus read.

- ``/healthz`` answers 200 whenever the process answers at all (liveness:
  restart it when this fails).
- ``/readyz`` runs the checks of ``server/readiness.py``: 200 when all pass,
  503 naming the failing ones otherwise (readiness: send it no traffic while
  this fails). Anybody may ask, since a load balancer must, but only the
  check names and their pass/fail are public; what exactly failed (a
  database host name, a revision) is added for addresses in
  ``metrics_allow``.
- ``/metrics`` is the Prometheus exposition of ``server/metrics/``, for
  addresses in ``metrics_allow`` only; others get 404.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from server import readiness
from server.http.middlewares import client_ip
from server.keys import CONFIG, ENGINE, HUBS, METRICS, SCHEMA_HEAD
from server.metrics.access import may_read_metrics


def _operator(request: web.Request) -> bool:
    return may_read_metrics(client_ip(request), request.app[CONFIG].metrics_allow)


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def readyz(request: web.Request) -> web.Response:
    app = request.app
    checks = await readiness.readiness(app.get(ENGINE), app.get(HUBS), app[SCHEMA_HEAD])
    detailed = _operator(request)
    body: dict[str, Any] = {
        "ok": all(check.ok for check in checks),
        "checks": {
            check.name: {"ok": check.ok}
            | ({"detail": check.detail} if detailed and check.detail else {})
            for check in checks
        },
        "failing": [check.name for check in checks if not check.ok],
    }
    return web.json_response(body, status=200 if body["ok"] else 503)


async def metrics(request: web.Request) -> web.Response:
    if not _operator(request):
        raise web.HTTPNotFound()
    response = web.Response(body=request.app[METRICS].render())
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response
