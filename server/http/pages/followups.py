"""The follow-up pages (回访): the list, one task's record form, and what a visit found.

The dispute page and the dashboard show follow-ups through their own
partials (web/templates/followups/_dispute.html, _today.html); this module
owns only the pages under /followups.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from server.auth import roles
from server.auth.roles import Actor
from server.errors import DomainError, NotAllowed, ValidationFailed
from server.followups import service as followups
from server.followups import views as followup_views
from server.followups.rules import NextStep, TermResult, next_steps, rule_for, urgency
from server.followups.schemas import RecordInput, TaskFilter
from server.http import render as r
from server.http.forms import field_messages, parse
from server.http.pages.common import (
    FORM_REFUSALS,
    _staff_names,
    clean,
    form_data,
    int_param,
    redirect,
    unit_of_work,
)
from server.keys import CONFIG, TZ
from server.local_time import local_today
from server.models import utcnow
from server.staff import service as staff_service

RECORD_FIELDS = (
    "expected_version",
    "contacted_at",
    "method",
    "reached",
    "outcome",
    "note",
    "next_step",
    "refer_to",
    "next_detail",
)


def _require_reader(actor: Actor) -> None:
    if not roles.can_read_disputes(actor):
        raise NotAllowed("Your role does not allow this.")


async def _offices(db: AsyncSession, actor: Actor) -> list[tuple[int, str]]:
    """The offices the reader may filter by: their own, or the station's for station roles."""
    offices = await staff_service.offices(db, actor.station_id)
    return [
        (o.id, o.name)
        for o in offices
        if o.id is not None and roles.can_read_followups(actor, o.id)
    ]


async def list_page(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    _require_reader(actor)
    tz = request.app[TZ]
    query = {k: v for k, v in request.query.items() if v != "" and k in TaskFilter.model_fields}
    errors: dict[str, str] = {}
    error = ""
    status = 200
    try:
        flt = parse(TaskFilter, query)
    except ValidationFailed as exc:
        errors = field_messages(exc)
        flt = TaskFilter()
    async with unit_of_work(request) as db:
        try:
            rows = await followup_views.list_tasks(db, actor, flt, tz=tz)
        except NotAllowed as exc:
            # An office outside the reader's scope: said, not silently emptied.
            errors = field_messages(exc)
            error = r.message_of(exc)
            status = 403
            rows = []
        offices = await _offices(db, actor)
        staff_names = await _staff_names(db, actor)
        office_names = {o.id: o.name for o in await staff_service.offices(db, actor.station_id)}
    return r.render(
        request,
        "followups/list.html",
        {
            "rows": rows,
            "filter": flt,
            "query": dict(request.query),
            "errors": errors,
            "error": error,
            "office_options": offices,
            "station_wide": actor.role not in roles.OFFICE_ROLES,
            "office_names": office_names,
            "staff_names": staff_names,
        },
        status=status,
    )


def _record_input(data: dict[str, str]) -> dict[str, Any]:
    payload: dict[str, Any] = clean(data, *RECORD_FIELDS)
    payload["results"] = {
        key.removeprefix("results."): value
        for key, value in data.items()
        if key.startswith("results.") and value
    }
    return payload


async def _task_context(
    request: web.Request, db: AsyncSession, actor: Actor, task_id: int
) -> dict[str, Any]:
    view = await followup_views.get_task(db, actor, task_id)
    tz = request.app[TZ]
    track = view.task.legal_track
    return {
        "view": view,
        "task": view.task,
        "dispute": view.dispute,
        "track_rule": rule_for(track) if track else None,
        # Every step the track may offer; which apply depends on the results chosen.
        "steps": _offered_steps(track),
        "staff_names": await _staff_names(db, actor),
        "office_names": {o.id: o.name for o in await staff_service.offices(db, actor.station_id)},
        "urgency": urgency(view.task.due_on, local_today(tz)),
        "now_local": utcnow().astimezone(tz).strftime("%Y-%m-%dT%H:%M"),
    }


def _offered_steps(track: str) -> list[NextStep]:
    """The union of next steps the track allows for any result short of "performed"."""
    found: list[NextStep] = []
    for outcome in (TermResult.PARTLY, TermResult.NOT_PERFORMED):
        for step in next_steps(track, outcome):
            if step not in found:
                found.append(step)
    return found


async def task_page(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    _require_reader(actor)
    task_id = int_param(request, "id")
    async with unit_of_work(request) as db:
        context = await _task_context(request, db, actor, task_id)
    return r.render(
        request,
        "followups/task.html",
        {**context, "form": {}, "errors": {}, "notice": request.query.get("notice", "")},
    )


async def record_submit(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    _require_reader(actor)
    task_id = int_param(request, "id")
    data = await form_data(request)
    try:
        parsed = parse(RecordInput, _record_input(data))
        async with unit_of_work(request) as db:
            done = await followups.record_followup(
                db,
                actor,
                task_id,
                parsed,
                settings=request.app[CONFIG].followup_settings,
                tz=request.app[TZ],
            )
    except FORM_REFUSALS as exc:
        return await _rerender(request, actor, task_id, exc, data)
    if done.next_url.endswith("/sessions/new"):
        raise redirect(done.next_url)
    raise redirect(f"/followups/{task_id}?notice=recorded")


async def _rerender(
    request: web.Request, actor: Actor, task_id: int, exc: DomainError, data: dict[str, str]
) -> web.Response:
    """The form again, with what was typed and the reason it was refused, in the reader's words."""
    async with unit_of_work(request) as db:
        context = await _task_context(request, db, actor, task_id)
    return r.render(
        request,
        "followups/task.html",
        {
            **context,
            "form": data,
            "errors": field_messages(exc),
            "error": r.message_of(exc),
            "notice": "",
        },
        status=r.STATUS_FOR[exc.code],
    )


ROUTES = [
    web.get("/followups", list_page, name="followups"),
    web.get("/followups/{id}", task_page),
    web.post("/followups/{id}/record", record_submit),
]
