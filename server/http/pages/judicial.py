"""司法确认 pages: the case's windows with their clocks, the packet, the filing and the ruling;
and the API's read of a dispute's windows. Thin: the domain is ``server.judicial``."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from server.auth import roles
from server.auth.roles import Actor
from server.disputes import service as disputes
from server.errors import DomainError
from server.http import render as r
from server.http.api import iso, working_actor
from server.http.forms import field_messages, parse
from server.http.pages.common import (
    FORM_REFUSALS,
    clean,
    form_data,
    int_param,
    redirect,
    unit_of_work,
)
from server.i18n import gettext
from server.judicial import service
from server.judicial.clock import DECISIONS, STATUS_LABELS
from server.judicial.schemas import DecisionInput, FilingInput
from server.keys import CONFIG, TZ, VAULT, WORKS
from server.local_time import local_today

FILING_FIELDS = ("expected_version", "filed_on", "court_name", "note")
DECISION_FIELDS = ("expected_version", "decision", "decided_on", "ruling_number", "note")


async def _context(
    request: web.Request, db: AsyncSession, actor: Actor, dispute_id: int
) -> dict[str, Any]:
    dispute = await disputes.get_dispute(db, actor, dispute_id)
    views = await service.windows_of_dispute(db, actor, dispute_id, tz=request.app[TZ])
    return {
        "dispute": dispute,
        "views": views,
        "can_record": {v.row.id: roles.can_record_judicial(actor, v.row.office_id) for v in views},
        "can_packet": {
            v.row.id: roles.can_make_judicial_packet(actor, v.row.office_id) for v in views
        },
        "decision_options": [(d.value, gettext(STATUS_LABELS[d])) for d in DECISIONS],
        "today": local_today(request.app[TZ]).isoformat(),
        "notice": request.query.get("notice", ""),
        "form_errors": {},
        "form_error": {},
        "submitted": {},
    }


async def page(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    async with unit_of_work(request) as db:
        context = await _context(request, db, actor, int_param(request, "id"))
    return r.render(request, "judicial/page.html", context)


async def _refused(
    request: web.Request, actor: Actor, window_id: int, form: str, exc: DomainError
) -> web.Response:
    """The page again with the refused form open, its input kept and the reason beside it."""
    data = await form_data(request)
    async with unit_of_work(request) as db:
        row = await service.get_window(db, actor, window_id)
        context = await _context(request, db, actor, row.dispute_id)
    key = f"{window_id}-{form}"
    context["form_errors"] = {key: field_messages(exc)}
    context["form_error"] = {key: r.message_of(exc)}
    context["submitted"] = {key: data}
    return r.render(request, "judicial/page.html", context, status=r.STATUS_FOR[exc.code])


async def filing_submit(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    window_id = int_param(request, "id")
    data = await form_data(request)
    try:
        parsed = parse(FilingInput, clean(data, *FILING_FIELDS))
        async with unit_of_work(request) as db:
            row = await service.record_filing(db, actor, window_id, parsed, tz=request.app[TZ])
    except FORM_REFUSALS as exc:
        return await _refused(request, actor, window_id, "filing", exc)
    raise redirect(f"/disputes/{row.dispute_id}/judicial?notice=filed")


async def decision_submit(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    window_id = int_param(request, "id")
    data = await form_data(request)
    try:
        parsed = parse(DecisionInput, clean(data, *DECISION_FIELDS))
        async with unit_of_work(request) as db:
            row = await service.record_decision(db, actor, window_id, parsed, tz=request.app[TZ])
    except FORM_REFUSALS as exc:
        return await _refused(request, actor, window_id, "decision", exc)
    raise redirect(f"/disputes/{row.dispute_id}/judicial?notice=decided")


async def packet_submit(request: web.Request) -> web.StreamResponse:
    """A POST with the CSRF token, not a link: the download reveals full ID numbers."""
    actor = r.actor(request)
    window_id = int_param(request, "id")
    await form_data(request)
    config = request.app[CONFIG]
    try:
        async with unit_of_work(request) as db:
            packet = await service.make_packet(
                db,
                actor,
                window_id,
                vault=request.app[VAULT],
                agreements_dir=config.effective_agreements_dir,
                tz=request.app[TZ],
                works=request.app[WORKS],
            )
    except FORM_REFUSALS as exc:
        return await _refused(request, actor, window_id, "packet", exc)
    response = web.Response(body=packet.data, content_type="application/zip")
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"{packet.file_name}\"; filename*=UTF-8''{quote(packet.file_name)}"
    )
    response.headers["Cache-Control"] = "no-store"
    return response


# --- the API -------------------------------------------------------------------------------


def window_json(view: service.WindowView) -> dict[str, Any]:
    row, clock = view.row, view.clock
    return {
        "id": row.id,
        "agreement_id": row.agreement_id,
        "draft_id": row.draft_id,
        "office_id": row.office_id,
        "status": row.status,
        "effective_on": row.effective_on.isoformat(),
        "window_ends_on": row.window_ends_on.isoformat(),
        "end_moved_off_holiday": clock.moved,
        "today": clock.today.isoformat(),
        "day": clock.day,
        "days_left": clock.days_left,
        "lapsed": clock.lapsed,
        "reminder": clock.reminder,
        "court_name": row.court_name,
        "filed_on": row.filed_on.isoformat() if row.filed_on else None,
        "decided_on": row.decided_on.isoformat() if row.decided_on else None,
        "ruling_number": row.ruling_number,
        "packet_made_at": iso(row.packet_made_at),
        "version": row.version,
    }


async def api_windows(request: web.Request) -> web.StreamResponse:
    actor = working_actor(request)
    dispute_id = int_param(request, "id")
    async with unit_of_work(request) as db:
        views = await service.windows_of_dispute(db, actor, dispute_id, tz=request.app[TZ])
    return web.json_response({"dispute_id": dispute_id, "items": [window_json(v) for v in views]})


ROUTES: list[web.RouteDef] = [
    web.get("/disputes/{id}/judicial", page),
    web.post("/judicial/{id}/filing", filing_submit),
    web.post("/judicial/{id}/decision", decision_submit),
    web.post("/judicial/{id}/packet", packet_submit),
    web.get("/api/v1/disputes/{id}/judicial", api_windows),
]
