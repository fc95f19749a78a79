"""预警 on the pages: acknowledging (签收) an alert from the dashboard or the dispute's page.

The band itself is drawn by ``_risk_alerts.html`` from ``alerts.open_alerts`` and kept
fresh by ``risk_alerts.js`` polling ``GET /api/v1/alerts`` (server/http/api_alerts.py).
"""

from __future__ import annotations

from aiohttp import web

from server.disputes import alerts
from server.http import render as r
from server.http.pages.common import form_data, int_param, redirect, safe_next, unit_of_work


def _with_notice(target: str, notice: str) -> str:
    return f"{target}{'&' if '?' in target else '?'}notice={notice}"


async def acknowledge_submit(request: web.Request) -> web.StreamResponse:
    """签收, then back where it was pressed; a late second press gets the error page saying
    who acknowledged it first (``Conflict``), and changes nothing."""
    actor = r.actor(request)
    alert_id = int_param(request, "id")
    data = await form_data(request)
    target = safe_next(data.get("next"), "/")
    async with unit_of_work(request) as db:
        await alerts.acknowledge(db, actor, alert_id)
    raise redirect(_with_notice(target, "alert_acknowledged"))


ROUTES = [web.post("/alerts/{id}/acknowledge", acknowledge_submit)]
