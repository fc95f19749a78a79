"""The case desk: dashboard, register form, list, detail, triage, status, parties."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from server.agreements import archive as agreement_archive
from server.auth import roles
from server.auth.roles import ROLE_LABELS, Actor, Role
from server.disputes import alerts, service
from server.disputes.lifecycle import STATUS_LABELS, TRANSITIONS, TRIAGE_FROM, Status
from server.disputes.schemas import (
    DisputeFilter,
    DisputeInput,
    PartyInput,
    RevealInput,
    TransitionInput,
    TriageInput,
)
from server.errors import DomainError, NotAllowed, ValidationFailed
from server.followups import tasks as followup_tasks
from server.followups import views as followup_views
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
from server.judicial import service as judicial
from server.keys import CONFIG, TZ, VAULT
from server.models import Dispute
from server.sessions import service as session_service
from server.sessions.rules import BOOKABLE_STATUSES
from server.spotchecks import service as spot_checks
from server.staff import service as staff_service

PARTY_FIELDS = ("name", "role", "id_type", "id_number", "phone", "address", "minor")
DISPUTE_FIELDS = (
    "office_id",
    "title",
    "category",
    "cause",
    "occurred_at",
    "place",
    "scale",
    "people_involved",
    "trend",
    "development",
    "description",
    "source",
    "initial_risk",
)
REGISTER_PARTY_SLOTS = 2


async def _names(db: AsyncSession, actor: Actor) -> dict[str, Any]:
    """Offices and staff by id, for showing names instead of numbers."""
    offices = await staff_service.offices(db, actor.station_id)
    staff = await staff_service.staff(db, actor.station_id)
    return {
        "offices": offices,
        "office_names": {o.id: o.name for o in offices},
        "office_options": [(o.id, o.name) for o in offices if o.active],
        "staff_names": {u.id: u.display_name for u in staff},
        "staff": staff,
    }


async def dashboard(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    if not roles.can_read_disputes(actor):
        raise redirect("/admin")
    async with unit_of_work(request) as db:
        board = await service.dashboard(db, actor, tz=request.app[TZ])
        names = await _names(db, actor)
        reminders = await judicial.reminders(db, actor, tz=request.app[TZ])
        todo = await followup_views.due_today(db, actor, tz=request.app[TZ])
        risk_alerts = await alerts.open_alerts(db, actor)
    return r.render(
        request,
        "dashboard.html",
        {
            "board": board,
            "notice": request.query.get("notice", ""),
            "judicial_reminders": reminders,
            "followups_today": todo,
            "risk_alerts": risk_alerts,
            **names,
        },
    )


def _register_input(data: dict[str, str]) -> dict[str, Any]:
    payload: dict[str, Any] = clean(data, *DISPUTE_FIELDS)
    parties = []
    for slot in range(REGISTER_PARTY_SLOTS):
        prefix = f"parties.{slot}."
        party = {f: data[prefix + f] for f in PARTY_FIELDS if data.get(prefix + f, "") != ""}
        # The applicant's slot is required, so it is always validated (a blank name is
        # reported with the other fields); a later slot left blank is simply not a party.
        if slot == 0 or any(k not in ("role", "id_type") for k in party):
            parties.append(party)
    payload["parties"] = parties
    return payload


async def register_page(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    if not roles.can_register(actor):
        raise NotAllowed("Your role does not allow this.")
    async with unit_of_work(request) as db:
        names = await _names(db, actor)
    return r.render(request, "dispute_form.html", {"form": {}, "errors": {}, **names})


async def register_submit(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    if not roles.can_register(actor):
        raise NotAllowed("Your role does not allow this.")
    data = await form_data(request)
    try:
        parsed = parse(DisputeInput, _register_input(data))
        async with unit_of_work(request) as db:
            dispute = await service.register(
                db, actor, parsed, vault=request.app[VAULT], tz=request.app[TZ]
            )
    except ValidationFailed as exc:
        async with unit_of_work(request) as db:
            names = await _names(db, actor)
        errors = field_messages(exc)
        if isinstance(exc, InputInvalid) and actor.office_id is None and not data.get("office_id"):
            # The service would ask for the office only once the rest is valid: say it now.
            errors.setdefault("office_id", gettext(service.NO_OFFICE))
        context = {"form": data, "errors": errors, **names}
        if not isinstance(exc, InputInvalid):
            context["error"] = r.message_of(exc)
        return r.render(request, "dispute_form.html", context, status=422)
    raise redirect(f"/disputes/{dispute.id}?notice=registered")


async def list_page(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    query = {k: v for k, v in request.query.items() if v != "" and k in DisputeFilter.model_fields}
    errors: dict[str, str] = {}
    try:
        flt = parse(DisputeFilter, query)
    except ValidationFailed as exc:
        errors = field_messages(exc)
        flt = DisputeFilter()
    async with unit_of_work(request) as db:
        rows, total = await service.list_disputes(db, actor, flt, tz=request.app[TZ])
        names = await _names(db, actor)
    pages = max(1, (total + flt.per_page - 1) // flt.per_page)
    return r.render(
        request,
        "dispute_list.html",
        {
            "rows": rows,
            "total": total,
            "filter": flt,
            "query": dict(request.query),
            "errors": errors,
            "pages": pages,
            **names,
        },
    )


async def _detail_context(
    db: AsyncSession, actor: Actor, dispute: Dispute, *, tz: ZoneInfo
) -> dict[str, Any]:
    assert dispute.id is not None
    current = Status(dispute.status)
    triage_open = current in TRIAGE_FROM
    names = await _names(db, actor)
    parties = await service.parties_of(db, dispute.id)
    next_statuses = sorted(TRANSITIONS[current] - {Status.TRIAGED})
    return {
        "dispute": dispute,
        "parties": parties,
        "party_options": [(p.id, p.name) for p in parties if p.role in ("applicant", "respondent")],
        "status_options": [(s.value, gettext(STATUS_LABELS[s])) for s in next_statuses],
        "assignee_options": [
            (u.id, f"{u.display_name} · {gettext(ROLE_LABELS[Role(u.role)])}")
            for u in names["staff"]
            if u.active
            and u.role in (Role.CHIEF, Role.OFFICER, Role.AUXILIARY)
            and (u.office_id in (None, dispute.office_id))
        ],
        "timeline": await service.timeline_of(db, dispute.id),
        "next_statuses": next_statuses,
        "can_triage": roles.can_triage(actor) and bool(triage_open),
        "can_change_status": roles.can_change_status(actor),
        "can_edit_parties": roles.can_edit_parties(actor) and current != Status.CLOSED,
        "can_reveal": roles.can_reveal_id_number(actor),
        "sessions": await session_service.sessions_of_dispute(db, dispute.id),
        "agreements": [
            a
            for a in await agreement_archive.of_dispute(db, dispute.id or 0)
            if roles.can_read_archive(actor, a.office_id)
        ],
        "can_book": roles.can_book(actor) and current in BOOKABLE_STATUSES,
        "judicial_views": await judicial.windows_of_dispute(db, actor, dispute.id, tz=tz),
        "spot_checks": await spot_checks.checks_of_dispute(db, actor, dispute.id or 0),
        "followups": await followup_views.of_dispute(db, actor, dispute.id),
        "dispute_alerts": await alerts.alerts_of_dispute(db, actor, dispute),
        **names,
    }


async def detail_page(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    dispute_id = int_param(request, "id")
    async with unit_of_work(request) as db:
        dispute = await service.get_dispute(db, actor, dispute_id)
        context = await _detail_context(db, actor, dispute, tz=request.app[TZ])
    return r.render(
        request, "dispute_detail.html", {**context, "notice": request.query.get("notice", "")}
    )


async def _rerender(
    request: web.Request, actor: Actor, dispute_id: int, exc: DomainError, form: str
) -> web.Response:
    """The detail page again, with the refused form open, its input kept and the reason shown."""
    async with unit_of_work(request) as db:
        dispute = await service.get_dispute(db, actor, dispute_id)
        context = await _detail_context(db, actor, dispute, tz=request.app[TZ])
    context["form_errors"] = {form: field_messages(exc)}
    context["form_error"] = {form: r.message_of(exc)}
    context["submitted"] = {form: await form_data(request)}
    return r.render(request, "dispute_detail.html", context, status=r.STATUS_FOR[exc.code])


async def triage_submit(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    dispute_id = int_param(request, "id")
    data = await form_data(request)
    try:
        parsed = parse(TriageInput, clean(data, "risk_level", "criminal", "assignee_id", "reason"))
        async with unit_of_work(request) as db:
            await service.triage(db, actor, dispute_id, parsed)
    except FORM_REFUSALS as exc:
        return await _rerender(request, actor, dispute_id, exc, "triage")
    raise redirect(f"/disputes/{dispute_id}?notice=triaged")


async def transition_submit(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    dispute_id = int_param(request, "id")
    data = await form_data(request)
    try:
        parsed = parse(TransitionInput, clean(data, "to_status", "note", "expected_version"))
        async with unit_of_work(request) as db:
            await followup_tasks.transition(
                db,
                actor,
                dispute_id,
                parsed,
                settings=request.app[CONFIG].followup_settings,
                tz=request.app[TZ],
            )
    except FORM_REFUSALS as exc:
        return await _rerender(request, actor, dispute_id, exc, "status")
    raise redirect(f"/disputes/{dispute_id}?notice=status_changed")


async def party_submit(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    dispute_id = int_param(request, "id")
    data = await form_data(request)
    try:
        parsed = parse(PartyInput, clean(data, *PARTY_FIELDS, "represents_party_id"))
        async with unit_of_work(request) as db:
            await service.add_party(
                db, actor, dispute_id, parsed, vault=request.app[VAULT], tz=request.app[TZ]
            )
    except FORM_REFUSALS as exc:
        return await _rerender(request, actor, dispute_id, exc, "party")
    raise redirect(f"/disputes/{dispute_id}?notice=party_added")


async def reveal_submit(request: web.Request) -> web.StreamResponse:
    """Show one full ID number once, on this response only; never cached, always audited."""
    actor = r.actor(request)
    dispute_id = int_param(request, "id")
    party_id = int_param(request, "party_id")
    data = await form_data(request)
    try:
        parsed = parse(RevealInput, clean(data, "reason"))
        async with unit_of_work(request) as db:
            await service.get_dispute(db, actor, dispute_id)
            number = await service.reveal_id_number(
                db, actor, party_id, parsed, vault=request.app[VAULT]
            )
    except FORM_REFUSALS as exc:
        return await _rerender(request, actor, dispute_id, exc, f"reveal-{party_id}")
    async with unit_of_work(request) as db:
        dispute = await service.get_dispute(db, actor, dispute_id)
        context = await _detail_context(db, actor, dispute, tz=request.app[TZ])
    context["revealed"] = {party_id: number}
    return r.render(request, "dispute_detail.html", context)
