"""Sessions: the booking form and the session page, with the forms that change a session.

Booking, inviting and reissuing end on the invitations-issued page
(``pages.invitations``), rendered rather than redirected to because the tokens
exist only in that response; the read-only calendar is ``pages.calendar``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from server.auth import roles
from server.auth.roles import ROLE_LABELS, Actor, Role
from server.disputes import service as disputes
from server.disputes.lifecycle import CATEGORY_LABELS
from server.errors import (
    N_,
    Conflict,
    DomainError,
    ErrorCode,
    IllegalTransition,
    NotAllowed,
    ValidationFailed,
)
from server.experts import service as experts
from server.http import render as r
from server.http.forms import field_messages, parse
from server.http.pages import session_forms
from server.http.pages.common import (
    FORM_REFUSALS,
    _sees_phones,
    _staff_names,
    clean,
    int_param,
    redirect,
    unit_of_work,
)
from server.http.pages.invitations import _issued_context, _issued_response
from server.i18n import gettext
from server.keys import CONFIG, TZ, VAULT
from server.models import Dispute, Invitation, MediationSession, Party, Station, utcnow
from server.sessions import conflicts, invitations, texts
from server.sessions import service as sessions
from server.sessions.conflicts import NeedsConfirmation, Warning
from server.sessions.rules import (
    BOOKABLE_STATUSES,
    POLICE_CHECKS,
    POLICE_ELIGIBLE,
    LegalTrack,
    SessionStatus,
    track_allowed,
)
from server.sessions.schemas import (
    BookingInput,
    CancelInput,
    RescheduleInput,
    RevokeInput,
)
from server.staff import service as staff_service

DURATIONS = (30, 45, 60, 90, 120)
DEFAULT_DURATION = 60
#: The reason the service writes on invitations it revokes when cancelling a session.
CANCELLED_REASON = invitations.CANCELLED_REASON
#: Where the link goes in a text sent after a move: the links sent before still work.
SAME_LINK_ZH = "（沿用此前发送的专属链接，原链接继续有效）"
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"
MINUTES = N_("%(minutes)s minutes")


def _grace(request: web.Request) -> timedelta:
    return timedelta(hours=request.app[CONFIG].invitation_grace_hours)


def _require_book(actor: Actor) -> None:
    if not roles.can_book(actor):
        raise NotAllowed(N_("Your role does not allow booking sessions."))


def _duration_options(current: int | None = None) -> list[tuple[int, str]]:
    values = sorted({*DURATIONS, current} if current else set(DURATIONS))
    return [(m, gettext(MINUTES) % {"minutes": m}) for m in values]


# --- shared lookups ---------------------------------------------------------------


async def _officer_options(
    db: AsyncSession, actor: Actor, dispute: Dispute
) -> list[tuple[int | None, str]]:
    """Who may preside: active chiefs, and officers of the dispute's beat office."""
    return [
        (u.id, f"{u.display_name} · {gettext(ROLE_LABELS[Role(u.role)])}")
        for u in await staff_service.staff(db, actor.station_id, active_only=True)
        if u.role in (Role.CHIEF, Role.OFFICER) and u.office_id in (None, dispute.office_id)
    ]


def _represented(parties: list[Party]) -> dict[int | None, str]:
    names = {p.id: p.name for p in parties}
    return {p.id: names.get(p.represents_id, "") for p in parties if p.represents_id}


# --- the booking form -------------------------------------------------------------


async def _booking_context(
    db: AsyncSession,
    actor: Actor,
    dispute: Dispute,
    tz: ZoneInfo,
    form: dict[str, str],
    selected: dict[str, list[str]],
) -> dict[str, Any]:
    assert dispute.id is not None
    parties = await disputes.parties_of(db, dispute.id)
    span = session_forms.span(form, tz)
    choices = await conflicts.expert_choices(db, actor, dispute, span, tz, parties=parties)
    police_so_far = sum(
        1
        for s in await sessions.sessions_of_dispute(db, dispute.id)
        if s.legal_track == LegalTrack.POLICE and s.status != SessionStatus.CANCELLED
    )
    now_local = utcnow().astimezone(tz)
    return {
        "dispute": dispute,
        "form": form,
        "selected_parties": set(selected.get("party_ids", [])),
        "selected_experts": set(selected.get("expert_ids", [])),
        "selected_checks": set(selected.get("police_checks", [])),
        "parties": parties,
        "represented": _represented(parties),
        "officer_options": await _officer_options(db, actor, dispute),
        "duration_options": _duration_options(),
        "police_eligible": track_allowed(LegalTrack.POLICE, dispute.category),
        "police_kinds": [gettext(CATEGORY_LABELS[c]) for c in sorted(POLICE_ELIGIBLE)],
        "police_checks": POLICE_CHECKS,
        "police_so_far": police_so_far,
        "suggested": choices.suggested,
        "others": choices.others,
        "reason_labels": conflicts.REASON_LABELS,
        "span_known": span is not None,
        "min_start": now_local.strftime(DATETIME_LOCAL),
        "observer_slots": range(session_forms.OBSERVER_SLOTS),
    }


def _fresh_form(
    actor: Actor, dispute: Dispute, parties: list[Party], officer_ids: set[Any]
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """A new booking form: an hour, people's mediation, the booker presiding if they may,
    and the applicant and respondent ticked."""
    if actor.user_id in officer_ids:
        presiding = str(actor.user_id)
    elif dispute.assignee_id in officer_ids:
        presiding = str(dispute.assignee_id)
    else:
        presiding = ""
    form = {
        "duration_minutes": str(DEFAULT_DURATION),
        "legal_track": LegalTrack.PEOPLE.value,
        "presiding_officer_id": presiding,
    }
    ticked = [str(p.id) for p in parties if p.role in ("applicant", "respondent")]
    return form, {"party_ids": ticked}


async def _load_bookable(db: AsyncSession, actor: Actor, dispute_id: int) -> Dispute:
    dispute = await disputes.get_dispute(db, actor, dispute_id)
    _require_book(actor)
    if dispute.status not in BOOKABLE_STATUSES:
        raise IllegalTransition(
            N_("Sessions can be booked once the dispute is triaged and until it is settled."),
        )
    return dispute


async def book_page(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    dispute_id = int_param(request, "id")
    tz = request.app[TZ]
    async with unit_of_work(request) as db:
        dispute = await _load_bookable(db, actor, dispute_id)
        parties = await disputes.parties_of(db, dispute_id)
        officer_ids = {value for value, _label in await _officer_options(db, actor, dispute)}
        form, selected = _fresh_form(actor, dispute, parties, officer_ids)
        context = await _booking_context(db, actor, dispute, tz, form, selected)
    return r.render(request, "sessions/book.html", {**context, "errors": {}})


async def _render_booking(
    request: web.Request,
    actor: Actor,
    dispute_id: int,
    posted: session_forms.Posted,
    *,
    exc: DomainError | None = None,
    warnings: list[Warning] | None = None,
    status: int = 200,
) -> web.Response:
    async with unit_of_work(request) as db:
        dispute = await _load_bookable(db, actor, dispute_id)
        context = await _booking_context(
            db, actor, dispute, request.app[TZ], posted.data, posted.lists
        )
    context["errors"] = session_forms.form_errors(exc, posted) if exc is not None else {}
    context["error"] = r.message_of(exc) if exc is not None else ""
    context["warnings"] = session_forms.warning_texts(warnings or [])
    return r.render(request, "sessions/book.html", context, status=status)


async def book_submit(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    dispute_id = int_param(request, "id")
    posted = await session_forms.posted(request)
    payload = session_forms.booking_payload(posted)
    if posted.data.get("action") == "suggest":
        # Only recompute who is suggested for the time now in the form; book nothing.
        return await _render_booking(request, actor, dispute_id, posted)
    try:
        parsed = parse(BookingInput, payload)
        async with unit_of_work(request) as db:
            booking = await sessions.book(
                db,
                actor,
                dispute_id,
                parsed,
                vault=request.app[VAULT],
                tz=request.app[TZ],
                grace=_grace(request),
            )
            dispute = await disputes.get_dispute(db, actor, dispute_id)
            context = await _issued_context(
                request, db, actor, booking.session, dispute, booking.issued
            )
    except NeedsConfirmation as exc:
        return await _render_booking(
            request, actor, dispute_id, posted, exc=exc, warnings=exc.warnings, status=409
        )
    except FORM_REFUSALS as exc:
        return await _render_booking(
            request, actor, dispute_id, posted, exc=exc, status=r.STATUS_FOR[exc.code]
        )
    context["purpose"] = "booked"
    context["confirmed_warnings"] = session_forms.warning_texts(booking.warnings)
    return _issued_response(request, context)


def _is_id(value: str) -> bool:
    """A record id as a form sends it: ASCII digits, short enough for the database."""
    return value.isascii() and value.isdigit() and len(value) <= 12


async def conflicts_check(request: web.Request) -> web.Response:
    """The booking form's early warning: the soft conflicts of what is chosen so far.

    The page's script posts the whole form (with its CSRF token) whenever the time, the
    duration, the presiding officer or the experts change, and shows the answer beside
    the form; booking itself checks again. JSON either way: ``{"checked", "warnings"}``,
    or the API's one error shape.
    """
    try:
        actor = r.actor(request)
        dispute_id = int_param(request, "id")
        posted = await session_forms.posted(request)
        span = session_forms.span(posted.data, request.app[TZ])
        if span is None:
            return web.json_response({"checked": False, "warnings": []})
        presiding = posted.data.get("presiding_officer_id", "")
        expert_ids = posted.lists["expert_ids"]
        if not all(_is_id(v) for v in expert_ids) or not (presiding == "" or _is_id(presiding)):
            raise ValidationFailed(N_("Choose one of the offered options."))
        async with unit_of_work(request) as db:
            warnings = await conflicts.planned_conflicts(
                db,
                actor,
                dispute_id,
                starts_at=span[0],
                ends_at=span[1],
                presiding_officer_id=int(presiding) if presiding else None,
                expert_ids=[int(e) for e in expert_ids],
            )
    except DomainError as exc:
        return r.json_error(
            exc.code, r.message_of(exc), status=r.STATUS_FOR[exc.code], fields=field_messages(exc)
        )
    except web.HTTPNotFound:
        return r.json_error(
            ErrorCode.NOT_FOUND, gettext(N_("This page does not exist.")), status=404
        )
    return web.json_response({"checked": True, "warnings": session_forms.warning_texts(warnings)})


@dataclass(frozen=True)
class InvitationRow:
    invitation: Invitation
    state: str  # active, expired, revoked


def _state(invitation: Invitation, now: datetime) -> str:
    if invitation.revoked_at is not None:
        return "revoked"
    if invitation.expires_at <= now:
        return "expired"
    return "active"


async def _detail_context(
    request: web.Request,
    db: AsyncSession,
    actor: Actor,
    session: MediationSession,
    dispute: Dispute,
) -> dict[str, Any]:
    assert session.id is not None and dispute.id is not None
    tz = request.app[TZ]
    now = utcnow()
    current = await invitations.session_invitations(db, session.id)
    rows = [InvitationRow(i, _state(i, now)) for i in current]
    station = await staff_service.station_of(db, actor)
    scheduled = session.status == SessionStatus.SCHEDULED
    can_manage = roles.can_book(actor) and scheduled
    context: dict[str, Any] = {
        "session": session,
        "dispute": dispute,
        "station": station,
        "rows": rows,
        "staff_names": await _staff_names(db, actor),
        "sees_phones": _sees_phones(actor),
        "can_manage": can_manage,
        "can_draft": session.status != SessionStatus.CANCELLED
        and roles.can_draft_agreement(actor, session.office_id),
        "scheduled": scheduled,
        "duration_options": _duration_options(session.duration_minutes),
        "reschedule_form": {
            "starts_at": session.starts_at.astimezone(tz).strftime(DATETIME_LOCAL),
            "duration_minutes": str(session.duration_minutes),
        },
        "observer_slots": range(session_forms.OBSERVER_SLOTS),
        "cancellation_texts": [],
        "moved_texts": [],
    }
    if can_manage:
        live = [i for i in current if i.revoked_at is None]
        live_parties = {i.party_id for i in live}
        live_experts = {i.expert_id for i in live}
        parties = await disputes.parties_of(db, dispute.id)
        context["invite_parties"] = [p for p in parties if p.id not in live_parties]
        context["represented"] = _represented(parties)
        context["invite_experts"] = [
            v
            for v in await experts.list_experts(db, actor, active_only=True)
            if v.expert.id not in live_experts
        ]
    if session.status == SessionStatus.CANCELLED:
        context["cancellation_texts"] = [
            (
                i,
                texts.cancellation_text(
                    invitation=i, session=session, dispute=dispute, station=station, tz=tz
                ),
            )
            for i in current
            if i.revoked_reason == CANCELLED_REASON
        ]
    elif request.query.get("notice") == "rescheduled":
        context["moved_texts"] = [
            (row.invitation, _moved_text(row.invitation, session, dispute, station, tz))
            for row in rows
            if row.state == "active"
        ]
    return context


def _moved_text(
    invitation: Invitation,
    session: MediationSession,
    dispute: Dispute,
    station: Station,
    tz: ZoneInfo,
) -> str:
    """The invitation text for the new time; the link is unknown now, the old one still works."""
    return texts.invitation_text(
        invitation=invitation,
        session=session,
        dispute=dispute,
        station=station,
        link=SAME_LINK_ZH,
        tz=tz,
    )


async def detail_page(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    session_id = int_param(request, "id")
    async with unit_of_work(request) as db:
        session, dispute = await sessions.get_session(db, actor, session_id)
        context = await _detail_context(request, db, actor, session, dispute)
    context["notice"] = request.query.get("notice", "")
    return r.render(request, "sessions/detail.html", context)


async def _rerender_detail(
    request: web.Request,
    actor: Actor,
    session_id: int,
    exc: DomainError,
    form: str,
    posted: session_forms.Posted | None = None,
) -> web.Response:
    """The session page again, with the refused form open, its input kept and the reason."""
    async with unit_of_work(request) as db:
        session, dispute = await sessions.get_session(db, actor, session_id)
        context = await _detail_context(request, db, actor, session, dispute)
    context["form_errors"] = {form: session_forms.form_errors(exc, posted)}
    context["form_error"] = {form: r.message_of(exc)}
    if posted is not None:
        context["submitted"] = {form: posted.data}
        context["submitted_lists"] = {form: posted.lists}
    if isinstance(exc, NeedsConfirmation):
        context["warnings"] = {form: session_forms.warning_texts(exc.warnings)}
    return r.render(request, "sessions/detail.html", context, status=r.STATUS_FOR[exc.code])


async def reschedule_submit(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    session_id = int_param(request, "id")
    posted = await session_forms.posted(request)
    payload: dict[str, Any] = clean(posted.data, "starts_at", "duration_minutes")
    payload["confirm_conflicts"] = posted.data.get("confirm_conflicts", "") != ""
    try:
        parsed = parse(RescheduleInput, payload)
        async with unit_of_work(request) as db:
            await sessions.reschedule(
                db, actor, session_id, parsed, tz=request.app[TZ], grace=_grace(request)
            )
    except FORM_REFUSALS as exc:
        return await _rerender_detail(request, actor, session_id, exc, "reschedule", posted)
    raise redirect(f"/sessions/{session_id}?notice=rescheduled")


async def cancel_submit(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    session_id = int_param(request, "id")
    posted = await session_forms.posted(request)
    try:
        parsed = parse(CancelInput, clean(posted.data, "reason"))
        async with unit_of_work(request) as db:
            await sessions.cancel(db, actor, session_id, parsed)
    except FORM_REFUSALS as exc:
        return await _rerender_detail(request, actor, session_id, exc, "cancel", posted)
    raise redirect(f"/sessions/{session_id}?notice=cancelled")


async def invite_submit(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    session_id = int_param(request, "id")
    posted = await session_forms.posted(request)
    try:
        parsed = parse(session_forms.InviteForm, session_forms.invite_payload(posted))
        async with unit_of_work(request) as db:
            issued = await sessions.invite_more(
                db,
                actor,
                session_id,
                party_ids=parsed.party_ids,
                expert_ids=parsed.expert_ids,
                observers=parsed.observers,
                vault=request.app[VAULT],
                tz=request.app[TZ],
                grace=_grace(request),
            )
            session, dispute = await sessions.get_session(db, actor, session_id)
            context = await _issued_context(request, db, actor, session, dispute, issued)
    except FORM_REFUSALS as exc:
        return await _rerender_detail(request, actor, session_id, exc, "invite", posted)
    context["purpose"] = "invited"
    return _issued_response(request, context)


async def _own_invitation(
    db: AsyncSession, actor: Actor, session_id: int, invitation_id: int
) -> Invitation:
    """The invitation, if it belongs to this session and the actor may manage the session.

    ``invitations.revoke`` and ``reissue`` check only the station, so the
    beat office and the role are checked here, through the session's dispute.
    """
    invitation = await sessions.invitation_of_session(db, actor, session_id, invitation_id)
    _require_book(actor)
    return invitation


async def revoke_submit(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    session_id = int_param(request, "id")
    invitation_id = int_param(request, "inv_id")
    posted = await session_forms.posted(request)
    try:
        parsed = parse(RevokeInput, clean(posted.data, "reason"))
        async with unit_of_work(request) as db:
            await _own_invitation(db, actor, session_id, invitation_id)
            await invitations.revoke(db, actor, invitation_id, parsed.reason)
    except FORM_REFUSALS as exc:
        form = f"revoke-{invitation_id}"
        return await _rerender_detail(request, actor, session_id, exc, form, posted)
    raise redirect(f"/sessions/{session_id}?notice=revoked")


async def reissue_submit(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    session_id = int_param(request, "id")
    invitation_id = int_param(request, "inv_id")
    try:
        async with unit_of_work(request) as db:
            await _own_invitation(db, actor, session_id, invitation_id)
            issued = await invitations.reissue(db, actor, invitation_id, grace=_grace(request))
            session, dispute = await sessions.get_session(db, actor, session_id)
            context = await _issued_context(request, db, actor, session, dispute, [issued])
    except FORM_REFUSALS as exc:
        return await _rerender_detail(request, actor, session_id, exc, f"reissue-{invitation_id}")
    context["purpose"] = "reissued"
    return _issued_response(request, context)


async def reissue_all_submit(request: web.Request) -> web.StreamResponse:
    """New links for every invitee whose link still works; the old links stop working."""
    actor = r.actor(request)
    session_id = int_param(request, "id")
    try:
        async with unit_of_work(request) as db:
            session, dispute = await sessions.get_session(db, actor, session_id)
            _require_book(actor)
            if session.status != SessionStatus.SCHEDULED:
                raise Conflict(N_("The session was cancelled; its invitations cannot be reissued."))
            now = utcnow()
            live = [
                i
                for i in await invitations.session_invitations(db, session_id)
                if _state(i, now) == "active"
            ]
            if not live:
                raise Conflict(N_("No invitation is active; invite people first."))
            issued = [
                await invitations.reissue(db, actor, i.id, grace=_grace(request))
                for i in live
                if i.id is not None
            ]
            context = await _issued_context(request, db, actor, session, dispute, issued)
    except FORM_REFUSALS as exc:
        return await _rerender_detail(request, actor, session_id, exc, "reissue-all")
    context["purpose"] = "reissued"
    return _issued_response(request, context)


ROUTES: list[web.RouteDef] = [
    web.get("/sessions/{id}", detail_page),
    web.post("/sessions/{id}/reschedule", reschedule_submit),
    web.post("/sessions/{id}/cancel", cancel_submit),
    web.post("/sessions/{id}/invite", invite_submit),
    web.post("/sessions/{id}/reissue-all", reissue_all_submit),
    web.post("/sessions/{id}/invitations/{inv_id}/revoke", revoke_submit),
    web.post("/sessions/{id}/invitations/{inv_id}/reissue", reissue_submit),
    web.get("/disputes/{id}/sessions/new", book_page),
    web.post("/disputes/{id}/sessions/new", book_submit),
    web.post("/disputes/{id}/sessions/conflicts", conflicts_check),
]
