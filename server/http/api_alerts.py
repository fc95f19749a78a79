"""预警 in the JSON API (docs/api.md): the open alerts the dashboard polls, 签收, and the
初判 rule's live proposal for the registration form.

Thin like server/http/api.py, whose readers it uses; every refusal is a domain error
that ``error_middleware`` renders in the single error shape. Labels are sent already
translated (the reader's language), so the page's script only places text.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiohttp import web

from server.auth import roles
from server.disputes import alerts
from server.disputes.lifecycle import RISK_LABELS
from server.disputes.risk import REASON_LABELS, Reason
from server.disputes.schemas import RiskProposalInput
from server.http.api import PREFIX, _brief, body_as, iso, working_actor
from server.http.pages.common import int_param, unit_of_work
from server.i18n import format_local, gettext
from server.keys import TZ
from server.local_time import local_today


def _reasons(reasons: Iterable[Reason]) -> list[dict[str, str]]:
    return [{"code": str(r), "label": gettext(REASON_LABELS[r])} for r in reasons]


def alert_json(request: web.Request, view: alerts.AlertView) -> dict[str, Any]:
    alert = view.alert
    actor = working_actor(request)
    return {
        "id": alert.id,
        "dispute": _brief(view.dispute),
        "url": f"/disputes/{alert.dispute_id}",
        "office_id": alert.office_id,
        "office_name": view.office_name,
        "risk_level": alert.risk_level,
        "risk_label": gettext(RISK_LABELS[alert.risk_level]),
        "route": alert.route,
        "route_label": gettext(alerts.ALERT_ROUTE_LABELS[alert.route]),
        "raised_on": alert.raised_on,
        "reasons": _reasons(view.reasons),
        "raised_at": iso(alert.raised_at),
        "raised_at_local": format_local(alert.raised_at, request.app[TZ], "MM-dd HH:mm"),
        "acknowledged_at": iso(alert.acknowledged_at),
        "acknowledged_by_id": alert.acknowledged_by_id,
        "can_acknowledge": alert.acknowledged_at is None
        and roles.can_acknowledge_alert(actor, alert.office_id),
    }


async def list_alerts(request: web.Request) -> web.StreamResponse:
    """The open alerts of the reader's scope, newest first (the dashboard polls this)."""
    actor = working_actor(request)
    async with unit_of_work(request) as db:
        views = await alerts.open_alerts(db, actor)
    return web.json_response({"items": [alert_json(request, v) for v in views]})


async def acknowledge(request: web.Request) -> web.StreamResponse:
    """签收; 409 ``conflict`` when someone else was first."""
    actor = working_actor(request)
    alert_id = int_param(request, "id")
    async with unit_of_work(request) as db:
        view = await alerts.view_of(db, await alerts.acknowledge(db, actor, alert_id))
    return web.json_response(alert_json(request, view))


async def risk_proposal(request: web.Request) -> web.StreamResponse:
    """What the 初判 rule would grade the form as typed so far; nothing is stored."""
    actor = working_actor(request)
    roles.require(roles.can_register(actor))
    data = await body_as(request, RiskProposalInput)
    found = alerts.proposal(
        trend=data.trend,
        scale=data.scale,
        category=data.category,
        parties=data.parties,
        today=local_today(request.app[TZ]),
    )
    return web.json_response(
        {
            "risk_level": str(found.level),
            "risk_label": gettext(RISK_LABELS[found.level]),
            "reasons": _reasons(found.reasons),
        }
    )


ROUTES = [
    web.get(f"{PREFIX}/alerts", list_alerts),
    web.post(f"{PREFIX}/alerts/{{id}}/acknowledge", acknowledge),
    web.post(f"{PREFIX}/risk-proposal", risk_proposal),
]
