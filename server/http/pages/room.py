"""The room page: where an invitee's link and a staff member's session page lead on the day.

``GET /j/{token}/room`` is the invitee's way in (no account, a phone, often
WeChat); ``GET /sessions/{id}/room`` is staff's, behind the login. Both render
the same page, ``room/room.html``: it carries in data attributes what
``web/static/js/room.js`` needs (the signalling URL, who you are, the words to
show), and the script does the rest over ``/ws/room`` (docs/protocol.md).

The invitee's page checks the link like the door's ping does: read-only, no
open counted. A wrong link goes back to the door, which shows the one refusal
(and counts it there); it is counted here as well, so that this page cannot
serve as a free oracle for guessing links (the door's limiter, same address).
A good link before the room opens also goes back to the door, which says when.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from aiohttp import web

from server.auth import roles
from server.auth.roles import ROLE_LABELS
from server.errors import N_, Conflict
from server.experts.kinds import KIND_LABELS
from server.http import render as r
from server.http.middlewares import client_ip
from server.http.pages import door
from server.http.pages.camera_help import help_url
from server.http.pages.common import int_param, unit_of_work
from server.http.ratelimit import address_key
from server.i18n import gettext
from server.keys import CONFIG
from server.models import Expert, MediationSession, utcnow
from server.sessions import invitations
from server.sessions import service as sessions
from server.sessions.rules import INVITEE_ROLE_LABELS, SessionStatus

#: The signalling endpoint (docs/protocol.md); the page makes it ws: or wss: from its own location.
WS_PATH = "/ws/room"
#: Labels of staff in the room (the same msgids as server.rooms.roles.ROOM_ROLE_LABELS).
PRESIDING_LABEL = N_("Presiding officer")
COHOST_LABEL = N_("Co-host")

#: A Host header that is safe to repeat inside a CSP header.
_SAFE_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")


def room_path(token: str) -> str:
    """The invitee's room page for a personal link (for the door's "enter" button)."""
    return f"/j/{quote(token, safe='')}/room"


def staff_room_path(session_id: int) -> str:
    """Staff's room page for a session (for the session page's "enter" button)."""
    return f"/sessions/{session_id}/room"


def room_is_open(
    session: MediationSession, now: datetime, *, opens_before: timedelta, grace: timedelta
) -> bool:
    """From ``opens_before`` the start until the end plus ``grace``, for a scheduled session.

    The same window as the door's "enter" button and the socket's check
    (``room_open_minutes_before``); the links themselves expire at the end plus ``grace``.
    """
    if session.status != SessionStatus.SCHEDULED:
        return False
    return session.starts_at - opens_before <= now <= session.ends_at + grace


def _is_open(request: web.Request, session: MediationSession) -> bool:
    config = request.app[CONFIG]
    return room_is_open(
        session,
        utcnow(),
        opens_before=timedelta(minutes=config.room_open_minutes_before),
        grace=timedelta(hours=config.invitation_grace_hours),
    )


@dataclass(frozen=True)
class RoomPage:
    """What the page shows before the script connects: the rest comes over the socket."""

    ws_path: str
    title: str
    self_name: str
    #: A translated label: "Party", "Expert (Lawyer)", "Presiding officer" ...
    self_role: str
    #: "invitee" or "staff".
    entry: str
    session_id: int
    #: Staff whose role books sessions; the room's snapshot (you_are_host) has the last word.
    can_host: bool
    #: Where "back" leads from the final screens.
    back_url: str


def _content_security_policy(request: web.Request) -> str:
    """The site's policy, plus the signalling socket spelled out.

    CSP Level 3 lets 'self' match ws: and wss: on the same host, but older
    WebKit (iOS before 15.4, WeChat on those phones) does not: name them.
    """
    sockets = ""
    host = request.host
    if _SAFE_HOST.fullmatch(host):
        sockets = f" ws://{host} wss://{host}"
    return (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; "
        f"connect-src 'self'{sockets}; media-src 'self' blob:; frame-ancestors 'none'"
    )


def _render(request: web.Request, page: RoomPage) -> web.Response:
    response = r.render(request, "room/room.html", {"page": page, "help_url": help_url(request)})
    response.headers["Content-Security-Policy"] = _content_security_policy(request)
    return response


def _to_door(token: str) -> web.HTTPSeeOther:
    """Back to the door: it shows the refusal, or the "opens at" notice for a good link."""
    return web.HTTPSeeOther(f"/j/{quote(token, safe='')}", headers=door.PRIVATE_HEADERS)


async def _pad(started: float) -> None:
    """A refusal takes as long as the door's, whatever made it one."""
    remaining = started + door.REFUSAL_MIN_SECONDS - time.monotonic()
    if remaining > 0:
        await asyncio.sleep(remaining)


def _invitee_role(role: str, expert: Expert | None) -> str:
    text = gettext(INVITEE_ROLE_LABELS.get(role, INVITEE_ROLE_LABELS["party"]))
    if expert is not None and expert.kind in KIND_LABELS:
        text = gettext("%(role)s (%(kind)s)") % {
            "role": text,
            "kind": gettext(KIND_LABELS[expert.kind]),
        }
    return text


async def invitee_room(request: web.Request) -> web.StreamResponse:
    started = time.monotonic()
    token = request.match_info["token"]
    limiter = request.app[door.LIMITER]
    key = address_key(client_ip(request))
    if limiter.blocked(key):
        raise _to_door(token)  # the door answers 429 with the wait
    limiter.hit(key)  # counted before the lookup, forgiven below if the link is good
    page: RoomPage | None = None
    opened = False
    async with unit_of_work(request) as db:
        found = await invitations.find_live(db, token)  # read-only: entering is not an open
        if found is not None:
            invitation, session, dispute = found.invitation, found.session, found.dispute
            opened = _is_open(request, session)
            expert = await db.get(Expert, invitation.expert_id) if invitation.expert_id else None
            page = RoomPage(
                ws_path=f"{WS_PATH}?token={quote(token, safe='')}",
                title=dispute.title,
                self_name=invitation.display_name,
                self_role=_invitee_role(invitation.role, expert),
                entry="invitee",
                session_id=session.id or 0,
                can_host=False,
                back_url=f"/j/{quote(token, safe='')}",
            )
    if page is None:
        await _pad(started)
        raise _to_door(token)
    limiter.forgive(key)
    if not opened:
        raise _to_door(token)  # too early (or too late): the door says when
    response = _render(request, page)
    response.headers.update(door.PRIVATE_HEADERS)
    return response


async def staff_room(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    session_id = int_param(request, "id")
    async with unit_of_work(request) as db:
        # Another station's session is not found; another office's is not allowed.
        session, dispute = await sessions.get_session(db, actor, session_id)
    if session.status != SessionStatus.SCHEDULED:
        raise Conflict(N_("This session was cancelled; its room does not open."))
    can_host = roles.can_book(actor)
    user = r.user(request)
    if session.presiding_officer_id == actor.user_id:
        role_label = gettext(PRESIDING_LABEL)
    elif can_host:
        role_label = gettext(COHOST_LABEL)
    else:
        role_label = gettext(ROLE_LABELS[actor.role])
    page = RoomPage(
        ws_path=f"{WS_PATH}?session={session.id}",
        title=dispute.title,
        self_name=user.display_name if user is not None else actor.label,
        self_role=role_label,
        entry="staff",
        session_id=session.id or 0,
        can_host=can_host,
        back_url=f"/sessions/{session.id}",
    )
    response = _render(request, page)
    # The middleware already forbids caching for logged-in pages; say it here too.
    response.headers["Cache-Control"] = "no-store"
    return response


ROUTES: list[web.RouteDef] = [
    web.get("/j/{token}/room", invitee_room, name="invitee_room"),
    web.get("/sessions/{id}/room", staff_room, name="staff_room"),
]
