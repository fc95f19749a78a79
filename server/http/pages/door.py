"""The door: where an invitee's personal link leads (no account, a phone, often WeChat).

``GET /j/{token}`` shows the invitee who they are invited as, when, for
which case, who presides, what to prepare, and a device check (camera,
microphone, speaker, network). The network check calls ``/j/{token}/ping``
and ``/j/{token}/probe``, which check the link without counting an open.

Every wrong link (unknown, expired, revoked, replaced, cancelled) gets the
same 404 page, byte for byte, after the same minimum delay, so a guesser
learns nothing about which it was; each one counts against the address, and
an address with too many gets a 429 for a while, even for good links.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from aiohttp import web
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.disputes.lifecycle import PARTY_ROLE_LABELS
from server.experts.kinds import KIND_LABELS, ExpertKind, is_police
from server.http import render as r
from server.http.middlewares import client_ip
from server.http.pages.camera_help import help_url
from server.http.pages.common import unit_of_work
from server.http.ratelimit import SlidingWindowLimiter, address_key
from server.keys import CONFIG, TZ
from server.models import (
    BeatOffice,
    Expert,
    Invitation,
    Party,
    StaffUser,
    Station,
    utcnow,
)
from server.pii import mask_name
from server.sessions import invitations
from server.sessions.rules import INVITEE_ROLE_LABELS, InviteeRole
from server.sessions.texts import when_zh

#: Every refusal takes at least this long, whatever made it a refusal.
REFUSAL_MIN_SECONDS = 0.25
#: The download probe: random bytes, so no compression anywhere can shrink them.
PROBE_BYTES = 256 * 1024
#: How many addresses the limiter tracks at most (the oldest are forgotten first).
MAX_TRACKED_ADDRESSES = 10_000
#: Where the refusal page's language switch leads back to: a fixed path, never a token.
NO_TOKEN_PATH = "/j/"

LIMITER = web.AppKey("door_limiter", SlidingWindowLimiter)
T = TypeVar("T")

#: The token is in the URL: keep it out of caches, Referer headers and search engines.
PRIVATE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
}

#: Invitees who may read the parties' names; non-police experts and observers see them masked.
NAME_READERS = frozenset(
    {InviteeRole.PARTY, InviteeRole.AGENT, InviteeRole.GUARDIAN, InviteeRole.STAFF}
)
#: Invitees who are a party or act for one (listed under "Parties").
PARTY_SIDE = frozenset({InviteeRole.PARTY, InviteeRole.AGENT, InviteeRole.GUARDIAN})


def setup(app: web.Application) -> None:
    """Give the app its door limiter; call from ``create_app`` after ``app[CONFIG]`` is set."""
    config = app[CONFIG]
    app[LIMITER] = SlidingWindowLimiter(
        config.door_max_failures,
        config.door_window_minutes * 60,
        max_keys=MAX_TRACKED_ADDRESSES,
    )


def limiter_of(request: web.Request) -> SlidingWindowLimiter:
    if LIMITER not in request.app:
        raise RuntimeError("server.http.pages.door.setup(app) was not called in create_app")
    return request.app[LIMITER]


def may_see_names(role: str, expert: Expert | None) -> bool:
    """Parties, their agents and guardians, staff and police experts see full names."""
    if role in NAME_READERS:
        return True
    return role == InviteeRole.EXPERT and expert is not None and is_police(expert.kind)


@dataclass(frozen=True)
class Person:
    """One line of "who takes part": a label (an English msgid) and a name, masked if need be."""

    label: str
    name: str
    you: bool = False


async def _people(
    db: AsyncSession, viewer: Invitation, names_visible: bool
) -> tuple[list[Person], list[Person]]:
    """The parties' side and the experts invited to the viewer's session."""
    rows = await db.exec(
        select(Invitation)
        .where(
            Invitation.session_id == viewer.session_id,
            col(Invitation.revoked_at).is_(None),
        )
        .order_by(col(Invitation.id))
    )
    parties: list[Person] = []
    experts: list[Person] = []
    for invitation in rows:
        you = invitation.id == viewer.id
        if invitation.role in PARTY_SIDE:
            party = await db.get(Party, invitation.party_id) if invitation.party_id else None
            name = party.name if party is not None else invitation.display_name
            label = (
                PARTY_ROLE_LABELS.get(party.role)
                if party is not None
                else INVITEE_ROLE_LABELS.get(invitation.role)
            ) or INVITEE_ROLE_LABELS[InviteeRole.PARTY]
            parties.append(
                Person(label=label, name=name if names_visible or you else mask_name(name), you=you)
            )
        elif invitation.role == InviteeRole.EXPERT:
            expert = await db.get(Expert, invitation.expert_id) if invitation.expert_id else None
            kind = expert.kind if expert is not None else ExpertKind.OTHER
            label = KIND_LABELS.get(kind, KIND_LABELS[ExpertKind.OTHER])
            experts.append(Person(label=label, name=invitation.display_name, you=you))
    return parties, experts


async def _door_context(
    request: web.Request, db: AsyncSession, door: invitations.Door
) -> dict[str, Any]:
    invitation, session, dispute = door.invitation, door.session, door.dispute
    tz = request.app[TZ]
    expert = await db.get(Expert, invitation.expert_id) if invitation.expert_id else None
    names_visible = may_see_names(invitation.role, expert)
    parties, experts = await _people(db, invitation, names_visible)
    presiding = await db.get(StaffUser, session.presiding_officer_id)
    station = await db.get(Station, session.station_id)
    office = await db.get(BeatOffice, session.office_id)
    token = request.match_info["token"]
    return {
        "invitation": invitation,
        "session": session,
        "dispute": dispute,
        "expert": expert,
        "expert_kind_label": KIND_LABELS.get(expert.kind, "") if expert else "",
        "names_visible": names_visible,
        "parties": parties,
        "experts": experts,
        "presiding_name": presiding.display_name if presiding else "",
        "station": station,
        "office": office,
        "contact_phone": (office.phone if office and office.phone else "")
        or (station.phone if station else ""),
        "starts_local": session.starts_at.astimezone(tz),
        "when_zh": when_zh(session.starts_at, tz),
        "room_url": f"/j/{token}/room",
        "room_open": utcnow()
        >= session.starts_at - timedelta(minutes=request.app[CONFIG].room_open_minutes_before),
        "ping_url": f"/j/{token}/ping",
        "probe_url": f"/j/{token}/probe",
        "help_url": help_url(request),
        "lang_next": request.path,
    }


def private(response: web.StreamResponse) -> web.StreamResponse:
    response.headers.update(PRIVATE_HEADERS)
    return response


async def pad(started: float) -> None:
    remaining = started + REFUSAL_MIN_SECONDS - time.monotonic()
    if remaining > 0:
        await asyncio.sleep(remaining)


async def refuse_link(request: web.Request, started: float) -> web.StreamResponse:
    """The one refusal: nothing in it depends on the link or on why it was refused."""
    response = r.render(
        request, "door/refused.html", {"lang_next": NO_TOKEN_PATH, "minutes": 0}, status=404
    )
    await pad(started)
    return private(response)


async def too_many(request: web.Request, started: float, minutes: int) -> web.StreamResponse:
    response = r.render(
        request,
        "door/refused.html",
        {"lang_next": NO_TOKEN_PATH, "minutes": minutes},
        status=429,
    )
    response.headers["Retry-After"] = str(minutes * 60)
    await pad(started)
    return private(response)


async def _gate(request: web.Request) -> web.StreamResponse | None:
    """For ping, probe and link previews: a refusal, or None when the link is good."""
    token = request.match_info["token"]
    found = await look_up_secret(request, lambda db: invitations.find_live(db, token))
    return found if isinstance(found, web.StreamResponse) else None


async def look_up_secret(
    request: web.Request, lookup: Callable[[AsyncSession], Awaitable[T | None]]
) -> T | web.StreamResponse:
    """Find what a secret in the URL names, behind the door's limiter and its one refusal.

    For every page reached by an unguessable token (signing links, QR codes):
    the lookup counts against the address unless it finds something, and every
    miss gets the same padded 404 as a wrong invitation link.
    """
    started = time.monotonic()
    limiter = limiter_of(request)
    key = address_key(client_ip(request))
    if limiter.blocked(key):
        return await too_many(request, started, limiter.retry_after_minutes(key))
    limiter.hit(key)
    async with unit_of_work(request) as db:
        found = await lookup(db)
    if found is None:
        return await refuse_link(request, started)
    limiter.forgive(key)
    return found


async def door_page(request: web.Request) -> web.StreamResponse:
    started = time.monotonic()
    if request.method == "HEAD":
        # Link previews (chat apps fetch a URL to show a card) must not count as opens.
        return await _gate(request) or private(web.Response())
    limiter = limiter_of(request)
    ip = client_ip(request)
    key = address_key(ip)
    if limiter.blocked(key):
        return await too_many(request, started, limiter.retry_after_minutes(key))
    context: dict[str, Any] | None = None
    limiter.hit(key)  # counted before the lookup, so parallel guesses cannot all slip through
    async with unit_of_work(request) as db:
        door = await invitations.open_link(
            db,
            request.match_info["token"],
            ip=ip,
            user_agent=request.headers.get("User-Agent", "")[:300],
        )
        if door is not None:
            context = await _door_context(request, db, door)
    if context is None:
        return await refuse_link(request, started)
    limiter.forgive(key)  # successes do not count
    return private(r.render(request, "door/door.html", context))


async def ping(request: web.Request) -> web.StreamResponse:
    """A tiny answer for round-trip timing."""
    refusal = await _gate(request)
    if refusal is not None:
        return refusal
    return private(web.json_response({"ok": True, "t": int(time.time() * 1000)}))


async def probe(request: web.Request) -> web.StreamResponse:
    """Random, incompressible bytes for a download-speed estimate."""
    refusal = await _gate(request)
    if refusal is not None:
        return refusal
    return private(
        web.Response(body=os.urandom(PROBE_BYTES), content_type="application/octet-stream")
    )


async def no_token(request: web.Request) -> web.StreamResponse:
    """``/j/`` itself: the refusal page (where its language switch returns), not counted."""
    return private(
        r.render(
            request, "door/refused.html", {"lang_next": NO_TOKEN_PATH, "minutes": 0}, status=404
        )
    )


ROUTES: list[web.RouteDef] = [
    web.get(NO_TOKEN_PATH, no_token),
    web.get("/j/{token}", door_page, name="door"),
    web.get("/j/{token}/ping", ping),
    web.get("/j/{token}/probe", probe),
]
