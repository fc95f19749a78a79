"""The duty rota page (轮流坐班): one beat office, one week, and a form to add turns.

``/rota?office=<id>&week=<any day of the week>``. Office staff see their own office;
chiefs and clerks pick one. Adding (optionally repeated weekly) and deleting is for
those who keep the pool, officers for their own office only.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from aiohttp import web

from server.auth import roles
from server.auth.roles import OFFICE_ROLES, Actor
from server.errors import N_, DomainError, NotAllowed
from server.experts import rota
from server.experts import service as experts
from server.experts.availability import WEEKDAY_LABELS
from server.experts.kinds import KIND_LABELS
from server.experts.schemas import SlotForm
from server.http import render as r
from server.http.forms import InputInvalid, field_messages, parse
from server.http.pages.common import (
    FORM_REFUSALS,
    clean,
    form_data,
    int_param,
    redirect,
    unit_of_work,
)
from server.i18n import gettext
from server.ids import parse_id
from server.keys import TZ
from server.local_time import local_today
from server.models import BeatOffice
from server.staff import service as staff_service

SLOT_FIELDS = (
    "office_id",
    "on_date",
    "starts",
    "ends",
    "expert_kind",
    "expert_id",
    "repeat_weeks",
    "note",
)
BAD_WEEK = N_("Not a date: showing the current week.")


def _reader(request: web.Request) -> Actor:
    actor = r.actor(request)
    if not roles.can_read_experts(actor):
        raise NotAllowed(N_("Your role does not allow this."))
    return actor


def _week(request: web.Request) -> tuple[date, str]:
    today = local_today(request.app[TZ])
    raw = request.query.get("week", "")
    if not raw:
        return rota.week_of(today), ""
    try:
        return rota.week_of(date.fromisoformat(raw[:10])), ""
    except ValueError:
        return rota.week_of(today), gettext(BAD_WEEK)


def _office_id(actor: Actor, offices: list[BeatOffice], raw: str) -> int | None:
    """The office asked for, else the actor's own, else the station's first active one."""
    wanted = parse_id(raw)
    if wanted is not None:
        return wanted
    if actor.role in OFFICE_ROLES and actor.office_id is not None:
        return actor.office_id
    active = [o.id for o in offices if o.active and o.id is not None]
    return active[0] if active else None


async def _page(
    request: web.Request,
    actor: Actor,
    *,
    office_raw: str,
    week_raw: date | None = None,
    form: dict[str, Any] | None = None,
    error: DomainError | None = None,
) -> web.Response:
    week, week_error = _week(request)
    if week_raw is not None:
        week = rota.week_of(week_raw)
    async with unit_of_work(request) as db:
        offices = await staff_service.offices(db, actor.station_id)
        office_id = _office_id(actor, offices, office_raw)
        office = next((o for o in offices if o.id == office_id), None)
        if office is None and error is not None:
            # The form named an office that is not the station's: show the default one.
            office_id = _office_id(actor, offices, "")
            office = next((o for o in offices if o.id == office_id), None)
        if office is None or office_id is None:
            raise web.HTTPNotFound()
        slots = await rota.list_week(db, actor, office_id, week)
        pool = await experts.list_experts(db, actor)
    names = {v.expert.id: v.expert.name for v in pool}
    days = [week + timedelta(days=n) for n in range(7)]
    by_day: dict[date, list[Any]] = {d: [] for d in days}
    for slot in slots:
        by_day[slot.on_date].append(slot)
    context: dict[str, Any] = {
        "office": office,
        "offices": [
            o for o in offices if o.id is not None and roles.can_read_rota(actor, o.id) and o.active
        ],
        "week": week,
        "prev_week": week - timedelta(days=7),
        "next_week": week + timedelta(days=7),
        "days": days,
        "by_day": by_day,
        "names": names,
        "today": local_today(request.app[TZ]),
        "weekday_labels": WEEKDAY_LABELS,
        "can_manage": roles.can_manage_rota(actor, office_id),
        "kind_options": [(k.value, gettext(KIND_LABELS[k])) for k in rota.ROTA_KINDS],
        "expert_options": [
            (v.expert.id, f"{v.expert.name} · {gettext(KIND_LABELS[v.expert.kind])}")
            for v in pool
            if v.expert.active and v.expert.kind in rota.ROTA_KINDS
        ],
        "form": form or {"on_date": week.isoformat(), "repeat_weeks": "1"},
        "errors": {},
        "week_error": week_error,
        "notice": request.query.get("notice", "") if error is None else "",
        "count": request.query.get("count", "")[:3],
    }
    status = 200
    if error is not None:
        context["errors"] = field_messages(error)
        if not isinstance(error, InputInvalid):
            context["error"] = r.message_of(error)
        status = r.STATUS_FOR[error.code]
    return r.render(request, "rota/week.html", context, status=status)


async def rota_page(request: web.Request) -> web.StreamResponse:
    actor = _reader(request)
    return await _page(request, actor, office_raw=request.query.get("office", ""))


async def rota_submit(request: web.Request) -> web.StreamResponse:
    actor = _reader(request)
    form = await form_data(request)
    office_raw = form.get("office_id", "")
    try:
        data = parse(SlotForm, clean(form, *SLOT_FIELDS))
        async with unit_of_work(request) as db:
            added = await rota.add_slots(
                db,
                actor,
                rota.SlotInput(
                    office_id=data.office_id,
                    on_date=data.on_date,
                    starts=data.starts,
                    ends=data.ends,
                    expert_kind=data.expert_kind,
                    expert_id=data.expert_id,
                    note=data.note,
                    repeat_weeks=data.repeat_weeks,
                ),
            )
    except FORM_REFUSALS as exc:
        shown_week = _form_week(form)
        return await _page(
            request, actor, office_raw=office_raw, week_raw=shown_week, form=form, error=exc
        )
    week = rota.week_of(data.on_date).isoformat()
    raise redirect(f"/rota?office={data.office_id}&week={week}&notice=added&count={len(added)}")


def _form_week(form: dict[str, str]) -> date | None:
    try:
        return date.fromisoformat(form.get("on_date", "")[:10])
    except ValueError:
        return None


async def slot_delete(request: web.Request) -> web.StreamResponse:
    actor = _reader(request)
    async with unit_of_work(request) as db:
        slot = await rota.delete_slot(db, actor, int_param(request, "id"))
    week = rota.week_of(slot.on_date).isoformat()
    raise redirect(f"/rota?office={slot.office_id}&week={week}&notice=deleted")


ROUTES: list[web.RouteDef] = [
    web.get("/rota", rota_page, name="rota"),
    web.post("/rota", rota_submit),
    web.post("/rota/{id}/delete", slot_delete),
]
