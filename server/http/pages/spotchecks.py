"""抽查 pages: the draws, a new draw, one draw with its sample and figures, a check's finding;
and the API's read of them. Thin: the domain is ``server.spotchecks``."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.auth import roles
from server.auth.roles import Actor
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
from server.keys import TZ
from server.models import BeatOffice
from server.spotchecks import service
from server.spotchecks.schemas import CheckInput, DrawInput

DRAW_FIELDS = ("period_start", "period_end", "office_id", "mode", "amount")
CHECK_FIELDS = ("expected_version", "checked_at", "method", "reached", "stays_resolved", "note")


async def _offices(db: AsyncSession, actor: Actor) -> dict[int, str]:
    rows = await db.exec(
        select(BeatOffice)
        .where(BeatOffice.station_id == actor.station_id)
        .order_by(col(BeatOffice.id))
    )
    return {office.id or 0: office.name for office in rows}


async def _list_context(db: AsyncSession, actor: Actor) -> dict[str, Any]:
    return {
        "draws": await service.list_draws(db, actor),
        "offices": await _offices(db, actor),
        "can_draw": roles.can_draw_spot_checks(actor),
        "definition": service.RESOLVED_DEFINITION,
        "form": {"mode": "percent", "amount": "10"},
        "form_errors": {},
        "form_error": "",
    }


async def list_page(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    async with unit_of_work(request) as db:
        context = await _list_context(db, actor)
    return r.render(request, "spotchecks/list.html", context)


async def draw_submit(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    data = await form_data(request)
    values = clean(data, *DRAW_FIELDS)
    if not values.get("office_id"):
        values.pop("office_id", None)
    try:
        parsed = parse(DrawInput, values)
        async with unit_of_work(request) as db:
            row = await service.draw(db, actor, parsed, tz=request.app[TZ])
    except FORM_REFUSALS as exc:
        async with unit_of_work(request) as db:
            context = await _list_context(db, actor)
        context.update(form=data, form_errors=field_messages(exc), form_error=r.message_of(exc))
        return r.render(request, "spotchecks/list.html", context, status=r.STATUS_FOR[exc.code])
    raise redirect(f"/spot-checks/{row.id}")


async def _draw_context(db: AsyncSession, actor: Actor, draw_id: int) -> dict[str, Any]:
    return {
        "view": await service.get_draw(db, actor, draw_id),
        "offices": await _offices(db, actor),
        "definition": service.RESOLVED_DEFINITION,
        "form_errors": {},
        "form_error": {},
        "submitted": {},
    }


async def draw_page(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    async with unit_of_work(request) as db:
        context = await _draw_context(db, actor, int_param(request, "id"))
    context["notice"] = request.query.get("notice", "")
    return r.render(request, "spotchecks/draw.html", context)


async def check_submit(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    check_id = int_param(request, "id")
    data = await form_data(request)
    try:
        parsed = parse(CheckInput, clean(data, *CHECK_FIELDS))
        async with unit_of_work(request) as db:
            check = await service.record_check(db, actor, check_id, parsed, tz=request.app[TZ])
    except FORM_REFUSALS as exc:
        return await _check_refused(request, actor, check_id, data, exc)
    raise redirect(f"/spot-checks/{check.draw_id}?notice=recorded#check-{check.id}")


async def _check_refused(
    request: web.Request, actor: Actor, check_id: int, data: dict[str, str], exc: DomainError
) -> web.Response:
    async with unit_of_work(request) as db:
        check = await service.get_check(db, actor, check_id)
        context = await _draw_context(db, actor, check.draw_id)
    context["form_errors"] = {check_id: field_messages(exc)}
    context["form_error"] = {check_id: r.message_of(exc)}
    context["submitted"] = {check_id: data}
    return r.render(request, "spotchecks/draw.html", context, status=r.STATUS_FOR[exc.code])


# --- the API -------------------------------------------------------------------------------


def _figures_json(figures: service.Figures) -> dict[str, Any]:
    return {
        "sampled": figures.sampled,
        "checked": figures.checked,
        "stayed_resolved": figures.stayed,
        "share_checked": figures.share_checked,
        "share_stayed_resolved": figures.share_stayed,
    }


def _draw_json(row: Any, figures: service.Figures) -> dict[str, Any]:
    return {
        "id": row.id,
        "office_id": row.office_id,
        "period_start": row.period_start.isoformat(),
        "period_end": row.period_end.isoformat(),
        "mode": row.mode,
        "amount": row.amount,
        "seed": row.seed,
        "drawn_at": iso(row.drawn_at),
        "figures": _figures_json(figures),
    }


async def api_list(request: web.Request) -> web.StreamResponse:
    actor = working_actor(request)
    async with unit_of_work(request) as db:
        draws = await service.list_draws(db, actor)
    return web.json_response({"items": [_draw_json(row, fig) for row, fig in draws]})


async def api_draw(request: web.Request) -> web.StreamResponse:
    actor = working_actor(request)
    async with unit_of_work(request) as db:
        view = await service.get_draw(db, actor, int_param(request, "id"))
    body = _draw_json(view.draw, view.figures)
    body["population"] = service.stored_population(view.draw)
    body["checks"] = [
        {
            "id": c.check.id,
            "dispute_id": c.check.dispute_id,
            "office_id": c.check.office_id,
            "status": c.check.status,
            "checked_at": iso(c.check.checked_at),
            "method": c.check.method,
            "stays_resolved": c.check.stays_resolved,
            "version": c.check.version,
        }
        for c in view.checks
    ]
    return web.json_response(body)


ROUTES: list[web.RouteDef] = [
    web.get("/spot-checks", list_page),
    web.post("/spot-checks", draw_submit),
    web.get("/spot-checks/{id}", draw_page),
    web.post("/spot-checks/checks/{id}", check_submit),
    web.get("/api/v1/spot-checks", api_list),
    web.get("/api/v1/spot-checks/{id}", api_draw),
]
