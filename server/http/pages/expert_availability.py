"""An expert's declarations: when they can serve (weekly windows, dated exceptions) and
their declared relations (利害关系), on one page reached from the expert's form.

Only those who keep the pool see it: relations name people and carry their phones.
A refused entry shows the form again with the message next to the field, nothing stored.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.auth import roles
from server.auth.roles import Actor
from server.errors import N_, DomainError, NotAllowed
from server.experts import availability, relations
from server.experts import service as experts
from server.experts.availability import WEEKDAY_LABELS, EntryKind, Window
from server.experts.relations import RELATION_LABELS, RelationInput, RelationKind
from server.experts.schemas import AvailabilityForm, RelationForm
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

AVAILABILITY_FIELDS = ("kind", "weekday", "on_date", "starts", "ends", "note")
RELATION_FIELDS = ("relation", "person_name", "person_phone", "organisation")
NOTICES = ("availability_added", "availability_deleted", "relation_added", "relation_deleted")


def _manager(request: web.Request) -> Actor:
    actor = r.actor(request)
    if not roles.can_manage_experts(actor):
        raise NotAllowed(N_("Only officers and chiefs manage the expert pool."))
    return actor


async def _page(
    request: web.Request,
    actor: Actor,
    expert_id: int,
    *,
    availability_form: dict[str, Any] | None = None,
    relation_form: dict[str, Any] | None = None,
    error: DomainError | None = None,
    failed: str = "",
) -> web.Response:
    async with unit_of_work(request) as db:
        view = await experts.get_expert(db, actor, expert_id)
        entries = await availability.list_entries(db, actor, expert_id)
        declared = await relations.list_relations(db, actor, expert_id)
    errors: dict[str, dict[str, str]] = {"availability": {}, "relation": {}}
    status = 200
    context: dict[str, Any] = {}
    if error is not None:
        errors[failed] = field_messages(error)
        if failed == "relation" and "note" in errors[failed]:
            errors[failed]["relation_note"] = errors[failed].pop("note")
        if not isinstance(error, InputInvalid) or not errors[failed]:
            context["error"] = {"form": failed, "text": r.message_of(error)}
        status = r.STATUS_FOR[error.code]
    context.update(
        {
            "expert": view.expert,
            "weekly": [e for e in entries if e.kind == EntryKind.WEEKLY],
            "exceptions": [e for e in entries if e.kind == EntryKind.EXCEPTION],
            "relations": declared,
            "availability_form": availability_form or {"kind": "weekly", "available": "on"},
            "relation_form": relation_form or {},
            "errors": errors,
            "weekday_labels": WEEKDAY_LABELS,
            "relation_labels": RELATION_LABELS,
            "notice": request.query.get("notice", "") if not error else "",
            "notices": NOTICES,
        }
    )
    return r.render(request, "experts/availability.html", context, status=status)


async def availability_page(request: web.Request) -> web.StreamResponse:
    actor = _manager(request)
    return await _page(request, actor, int_param(request, "id"))


async def availability_submit(request: web.Request) -> web.StreamResponse:
    actor = _manager(request)
    expert_id = int_param(request, "id")
    form = await form_data(request)
    # An unticked checkbox is not posted at all; "not free" is said by leaving it unticked.
    available = form.get("available") == "on"
    try:
        data = parse(
            AvailabilityForm, {**clean(form, *AVAILABILITY_FIELDS), "available": available}
        )
        kind = EntryKind(data.kind)
        window = Window(
            kind=kind,
            starts=data.starts,
            ends=data.ends,
            weekday=data.weekday if kind == EntryKind.WEEKLY else None,
            on_date=data.on_date if kind == EntryKind.EXCEPTION else None,
            available=data.available if kind == EntryKind.EXCEPTION else True,
            note=data.note,
        )
        async with unit_of_work(request) as db:
            await availability.add_entry(db, actor, expert_id, window)
    except FORM_REFUSALS as exc:
        shown = {**form, "available": "on" if available else ""}
        return await _page(
            request, actor, expert_id, availability_form=shown, error=exc, failed="availability"
        )
    raise redirect(f"/experts/{expert_id}/availability?notice=availability_added#availability")


async def availability_delete(request: web.Request) -> web.StreamResponse:
    actor = _manager(request)
    expert_id = int_param(request, "id")
    async with unit_of_work(request) as db:
        await availability.delete_entry(db, actor, expert_id, int_param(request, "entry"))
    raise redirect(f"/experts/{expert_id}/availability?notice=availability_deleted#availability")


async def relation_submit(request: web.Request) -> web.StreamResponse:
    actor = _manager(request)
    expert_id = int_param(request, "id")
    form = await form_data(request)
    try:
        # The note is posted as relation_note: the availability form on the page has a note.
        posted = {**clean(form, *RELATION_FIELDS), **clean(form, "relation_note")}
        if "relation_note" in posted:
            posted["note"] = posted.pop("relation_note")
        data = parse(RelationForm, posted)
        async with unit_of_work(request) as db:
            await relations.add_relation(
                db,
                actor,
                expert_id,
                RelationInput(
                    relation=RelationKind(data.relation),
                    person_name=data.person_name,
                    person_phone=data.person_phone,
                    organisation=data.organisation,
                    note=data.note,
                ),
            )
    except FORM_REFUSALS as exc:
        return await _page(
            request, actor, expert_id, relation_form=form, error=exc, failed="relation"
        )
    raise redirect(f"/experts/{expert_id}/availability?notice=relation_added#relations")


async def relation_delete(request: web.Request) -> web.StreamResponse:
    actor = _manager(request)
    expert_id = int_param(request, "id")
    async with unit_of_work(request) as db:
        await relations.delete_relation(db, actor, expert_id, int_param(request, "relation"))
    raise redirect(f"/experts/{expert_id}/availability?notice=relation_deleted#relations")


ROUTES: list[web.RouteDef] = [
    web.get("/experts/{id}/availability", availability_page),
    web.post("/experts/{id}/availability", availability_submit),
    web.post("/experts/{id}/availability/{entry}/delete", availability_delete),
    web.post("/experts/{id}/relations", relation_submit),
    web.post("/experts/{id}/relations/{relation}/delete", relation_delete),
]
