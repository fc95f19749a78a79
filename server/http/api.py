"""The JSON API under /api/v1/ (see docs/api.md).

Handlers stay thin on purpose: they read who is asking, validate the body with
the same models the pages use (so a field gets the same message everywhere),
call one service inside one unit of work, and turn the result into JSON.
Refusals are raised as domain errors; ``error_middleware`` renders every one
of them in the single error shape, so no handler builds error bodies itself.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, StringConstraints
from sqlmodel.ext.asyncio.session import AsyncSession

from server.auth import roles
from server.auth.roles import Actor
from server.disputes import service
from server.disputes.lifecycle import TRANSITIONS, Status
from server.disputes.schemas import (
    DisputeFilter,
    DisputeInput,
    PartyInput,
    RevealInput,
    TransitionInput,
    TriageInput,
)
from server.errors import (
    N_,
    DomainError,
    ErrorCode,
    NotAllowed,
)
from server.followups import tasks as followup_tasks
from server.http import render as r
from server.http.auth_flow import attempt_login, end_session, set_session_cookie, signed_out
from server.http.forms import parse
from server.http.middlewares import csrf_failed, origin_allowed
from server.http.pages.common import int_param, unit_of_work
from server.keys import CONFIG, CSRF, TZ, VAULT
from server.models import BeatOffice, Dispute, DisputeEvent, Party, StaffUser
from server.pii import mask_phone
from server.staff import service as staff_service
from server.staff.schemas import OfficeInput, UserInput, UserUpdate

PREFIX = "/api/v1"
JSON_TYPE = "application/json"

M = TypeVar("M", bound=BaseModel)
H = TypeVar("H", bound=Callable[[web.Request], Awaitable[web.StreamResponse]])


class InvalidRequest(DomainError):
    """A request the API cannot read at all: wrong content type, not JSON, not an object."""

    code = ErrorCode.INVALID_REQUEST


class LoginInput(BaseModel):
    """Credentials; bounded so nobody can make us hash megabytes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    username: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=128)]


# --- reading requests -------------------------------------------------------


def csrf_exempt(handler: H) -> H:
    """Mark a handler that proves its origin another way (see ``login``)."""
    handler.csrf_exempt = True  # type: ignore[attr-defined]
    return handler


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object, or an ``invalid_request`` refusal saying what is wrong."""
    if request.content_type != JSON_TYPE:
        raise InvalidRequest(N_("Send the request body as JSON (Content-Type: application/json)."))
    try:
        text = await request.text()
        data = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, LookupError, RecursionError):
        raise InvalidRequest(N_("The request body is not valid JSON.")) from None
    if not isinstance(data, dict):
        raise InvalidRequest(N_("The request body must be a JSON object."))
    return data


async def body_as(request: web.Request, model: type[M]) -> M:
    """Read and validate the body; bad fields become one 422 listing each of them."""
    return parse(model, await json_object(request))


def query_as(request: web.Request, model: type[M]) -> M:
    """Validate query parameters; empty values mean "not given", unknown names are refused."""
    return parse(model, {k: v for k, v in request.query.items() if v != ""})


def working_actor(request: web.Request) -> Actor:
    """The logged-in actor, once they replaced a password someone else chose.

    The pages send such a person to /password before any work; the API must not
    be the way around that, so it refuses instead (login, logout and /me stay open).
    """
    actor = r.actor(request)
    user = r.user(request)
    if user is not None and user.must_change_password:
        raise NotAllowed(N_("Please choose your own password before you continue."))
    return actor


def _require_admin(actor: Actor) -> None:
    if not roles.can_manage_org(actor):
        raise NotAllowed(N_("Only administrators manage offices and accounts."))


# --- writing responses ------------------------------------------------------


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``; a naive value is already UTC (as stored)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _str(value: str | None) -> str | None:
    """Enum members as their plain string values."""
    return None if value is None else str(value)


def dispute_json(dispute: Dispute) -> dict[str, Any]:
    return {
        "id": dispute.id,
        "reference": dispute.reference,
        "office_id": dispute.office_id,
        "title": dispute.title,
        "category": _str(dispute.category),
        "cause": dispute.cause,
        "occurred_at": iso(dispute.occurred_at),
        "place": dispute.place,
        "scale": dispute.scale,
        "people_involved": dispute.people_involved,
        "trend": _str(dispute.trend),
        "development": dispute.development,
        "description": dispute.description,
        "source": _str(dispute.source),
        "status": _str(dispute.status),
        "risk_level": _str(dispute.risk_level),
        "route": _str(dispute.route),
        "assignee_id": dispute.assignee_id,
        "triage_reason": dispute.triage_reason,
        "created_at": iso(dispute.created_at),
        "updated_at": iso(dispute.updated_at),
        "version": dispute.version,
    }


def party_json(party: Party, actor: Actor) -> dict[str, Any]:
    """Only the masked ID number ever leaves; the phone is masked as the page masks it."""
    return {
        "id": party.id,
        "dispute_id": party.dispute_id,
        "name": party.name,
        "role": _str(party.role),
        "id_type": _str(party.id_type),
        "id_number_masked": party.id_number_masked,
        "phone": party.phone if roles.can_reveal_id_number(actor) else mask_phone(party.phone),
        "address": party.address,
        "minor": party.minor,
        "represents_party_id": party.represents_id,
        "created_at": iso(party.created_at),
    }


def event_json(event: DisputeEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": iso(event.at),
        "actor_id": event.actor_id,
        "kind": event.kind,
        "from_status": _str(event.from_status),
        "to_status": _str(event.to_status),
        "note": event.note,
    }


def office_json(office: BeatOffice) -> dict[str, Any]:
    return {
        "id": office.id,
        "name": office.name,
        "address": office.address,
        "phone": office.phone,
        "active": office.active,
        "court_name": office.court_name,
        "court_address": office.court_address,
        "created_at": iso(office.created_at),
    }


def user_json(user: StaffUser, *, full: bool) -> dict[str, Any]:
    """An account; colleagues see who someone is, only admins (and oneself) see the rest.

    The password hash is never part of either view.
    """
    public = {
        "id": user.id,
        "display_name": user.display_name,
        "role": _str(user.role),
        "office_id": user.office_id,
        "active": user.active,
    }
    if not full:
        return public
    return {
        **public,
        "username": user.username,
        "police_number": user.police_number,
        "phone": user.phone,
        "must_change_password": user.must_change_password,
        "created_at": iso(user.created_at),
        "password_changed_at": iso(user.password_changed_at),
    }


def _brief(dispute: Dispute) -> dict[str, Any]:
    return {"id": dispute.id, "reference": dispute.reference, "title": dispute.title}


async def _detail(db: AsyncSession, actor: Actor, dispute: Dispute) -> dict[str, Any]:
    """The dispute with its parties, timeline and the statuses it may move to next.

    Read in the caller's unit of work, so a write and its echo are one transaction.
    """
    assert dispute.id is not None
    parties = await service.parties_of(db, dispute.id)
    timeline = await service.timeline_of(db, dispute.id)
    upcoming = TRANSITIONS[Status(dispute.status)] - {Status.TRIAGED}
    return {
        **dispute_json(dispute),
        "parties": [party_json(p, actor) for p in parties],
        "timeline": [event_json(e) for e in timeline],
        "next_statuses": sorted(str(s) for s in upcoming),
    }


# --- authentication ----------------------------------------------------------


def _same_origin(request: web.Request) -> None:
    """A browser's Origin, when sent, must be ours: login is exempt from the token only."""
    if not origin_allowed(request):
        raise csrf_failed()


@csrf_exempt
async def login(request: web.Request) -> web.StreamResponse:
    """Open a session. No CSRF token exists yet; requiring a JSON body is the guard,
    since a cross-site form cannot send one without a CORS preflight we never grant."""
    _same_origin(request)
    credentials = await body_as(request, LoginInput)
    outcome = await attempt_login(request, credentials.username, credentials.password)
    if isinstance(outcome, DomainError):
        raise outcome
    token, user = outcome
    response = web.json_response(
        {"user": user_json(user, full=True), "csrf_token": request.app[CSRF].token_for(token)}
    )
    set_session_cookie(response, request.app[CONFIG], token)
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    response = web.Response(status=204)
    await end_session(request, response)
    return response


async def me(request: web.Request) -> web.StreamResponse:
    """Who is logged in, and the token a reloaded client needs for its next write."""
    r.actor(request)
    user = r.user(request)
    assert user is not None
    return web.json_response(
        {"user": user_json(user, full=True), "csrf_token": request[r.CSRF_TOKEN]}
    )


# --- disputes -------------------------------------------------------------------


async def dashboard(request: web.Request) -> web.StreamResponse:
    actor = working_actor(request)
    async with unit_of_work(request) as db:
        board = await service.dashboard(db, actor, tz=request.app[TZ])
    return web.json_response(
        {
            "by_risk": board.by_risk,
            "by_office": [
                {"office_id": office.id, "name": office.name, "open": count}
                for office, count in board.by_office
            ],
            "registered_today": board.registered_today,
            "untriaged": [_brief(d) for d in board.untriaged],
            "high_risk": [_brief(d) for d in board.high_risk],
            "escalating": [_brief(d) for d in board.escalating],
            "mine": [_brief(d) for d in board.mine],
            "stale": [_brief(d) for d in board.stale],
        }
    )


async def list_disputes(request: web.Request) -> web.StreamResponse:
    actor = working_actor(request)
    flt = query_as(request, DisputeFilter)
    async with unit_of_work(request) as db:
        rows, total = await service.list_disputes(db, actor, flt, tz=request.app[TZ])
    return web.json_response(
        {
            "items": [dispute_json(d) for d in rows],
            "total": total,
            "page": flt.page,
            "per_page": flt.per_page,
        }
    )


async def create_dispute(request: web.Request) -> web.StreamResponse:
    actor = working_actor(request)
    roles.require(roles.can_register(actor))
    data = await body_as(request, DisputeInput)
    async with unit_of_work(request) as db:
        dispute = await service.register(
            db, actor, data, vault=request.app[VAULT], tz=request.app[TZ]
        )
        body = await _detail(db, actor, dispute)
    return web.json_response(
        body,
        status=201,
        headers={"Location": f"{PREFIX}/disputes/{dispute.id}"},
    )


async def get_dispute(request: web.Request) -> web.StreamResponse:
    actor = working_actor(request)
    dispute_id = int_param(request, "id")
    async with unit_of_work(request) as db:
        dispute = await service.get_dispute(db, actor, dispute_id)
        body = await _detail(db, actor, dispute)
    return web.json_response(body)


async def triage(request: web.Request) -> web.StreamResponse:
    actor = working_actor(request)
    dispute_id = int_param(request, "id")
    roles.require(roles.can_triage(actor))
    data = await body_as(request, TriageInput)
    async with unit_of_work(request) as db:
        dispute = await service.triage(db, actor, dispute_id, data)
        body = await _detail(db, actor, dispute)
    return web.json_response(body)


async def transition(request: web.Request) -> web.StreamResponse:
    actor = working_actor(request)
    dispute_id = int_param(request, "id")
    roles.require(roles.can_change_status(actor))
    data = await body_as(request, TransitionInput)
    async with unit_of_work(request) as db:
        dispute = await followup_tasks.transition(
            db,
            actor,
            dispute_id,
            data,
            settings=request.app[CONFIG].followup_settings,
            tz=request.app[TZ],
        )
        body = await _detail(db, actor, dispute)
    return web.json_response(body)


async def add_party(request: web.Request) -> web.StreamResponse:
    actor = working_actor(request)
    dispute_id = int_param(request, "id")
    roles.require(roles.can_edit_parties(actor))
    data = await body_as(request, PartyInput)
    async with unit_of_work(request) as db:
        party = await service.add_party(
            db, actor, dispute_id, data, vault=request.app[VAULT], tz=request.app[TZ]
        )
    return web.json_response(party_json(party, actor), status=201)


async def reveal_id_number(request: web.Request) -> web.StreamResponse:
    """The one place a full ID number is sent; the service audits it with the reason."""
    actor = working_actor(request)
    party_id = int_param(request, "id")
    roles.require(roles.can_reveal_id_number(actor))
    data = await body_as(request, RevealInput)
    async with unit_of_work(request) as db:
        number = await service.reveal_id_number(db, actor, party_id, data, vault=request.app[VAULT])
    return web.json_response({"id_number": number})


# --- offices and accounts ---------------------------------------------------------


async def list_offices(request: web.Request) -> web.StreamResponse:
    """Every office of the station, so clients can offer them when registering."""
    actor = working_actor(request)
    async with unit_of_work(request) as db:
        offices = await staff_service.offices(db, actor.station_id)
    return web.json_response({"items": [office_json(o) for o in offices]})


async def create_office(request: web.Request) -> web.StreamResponse:
    actor = working_actor(request)
    _require_admin(actor)
    data = await body_as(request, OfficeInput)
    async with unit_of_work(request) as db:
        office = await staff_service.create_office(db, actor, data)
    return web.json_response(office_json(office), status=201)


async def update_office(request: web.Request) -> web.StreamResponse:
    actor = working_actor(request)
    office_id = int_param(request, "id")
    _require_admin(actor)
    data = await body_as(request, OfficeInput)
    async with unit_of_work(request) as db:
        office = await staff_service.update_office(db, actor, office_id, data)
    return web.json_response(office_json(office))


async def list_users(request: web.Request) -> web.StreamResponse:
    """The station's staff; colleagues need names to pick an assignee, not account details."""
    actor = working_actor(request)
    full = roles.can_manage_org(actor)
    async with unit_of_work(request) as db:
        staff = await staff_service.staff(db, actor.station_id)
    return web.json_response({"items": [user_json(u, full=full) for u in staff]})


async def create_user(request: web.Request) -> web.StreamResponse:
    actor = working_actor(request)
    _require_admin(actor)
    data = await body_as(request, UserInput)
    async with unit_of_work(request) as db:
        user = await staff_service.create_user(db, actor, data)
    return web.json_response(user_json(user, full=True), status=201)


async def update_user(request: web.Request) -> web.StreamResponse:
    actor = working_actor(request)
    user_id = int_param(request, "id")
    _require_admin(actor)
    data = await body_as(request, UserUpdate)
    async with unit_of_work(request) as db:
        updated = await staff_service.update_user(db, actor, user_id, data)
    if updated.signed_out:
        signed_out(request, user_id)
    return web.json_response(user_json(updated.user, full=True))


def setup_api_routes(app: web.Application) -> None:
    app.router.add_routes(
        [
            web.post(f"{PREFIX}/auth/login", login),
            web.post(f"{PREFIX}/auth/logout", logout),
            web.get(f"{PREFIX}/me", me),
            web.get(f"{PREFIX}/dashboard", dashboard),
            web.get(f"{PREFIX}/disputes", list_disputes),
            web.post(f"{PREFIX}/disputes", create_dispute),
            web.get(f"{PREFIX}/disputes/{{id}}", get_dispute),
            web.post(f"{PREFIX}/disputes/{{id}}/triage", triage),
            web.post(f"{PREFIX}/disputes/{{id}}/transitions", transition),
            web.post(f"{PREFIX}/disputes/{{id}}/parties", add_party),
            web.post(f"{PREFIX}/parties/{{id}}/reveal-id-number", reveal_id_number),
            web.get(f"{PREFIX}/offices", list_offices),
            web.post(f"{PREFIX}/offices", create_office),
            web.put(f"{PREFIX}/offices/{{id}}", update_office),
            web.get(f"{PREFIX}/users", list_users),
            web.post(f"{PREFIX}/users", create_user),
            web.put(f"{PREFIX}/users/{{id}}", update_user),
        ]
    )
