"""``GET /ws/room``: authenticate, check the subprotocol, upgrade, run the session.

Everything that can be refused is refused before the upgrade, with a plain
HTTP status: a wrong subprotocol (400), a foreign origin or a bad credential
(403). Wrong invitation tokens count towards the door's per-address limit,
so the socket is no way around it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from aiohttp import web

from server.auth import roles
from server.errors import DomainError
from server.experts.kinds import is_police
from server.http import render as r
from server.http.middlewares import client_ip, origin_allowed
from server.http.pages import door
from server.http.ratelimit import address_key
from server.ids import parse_id
from server.keys import AGREEMENT_DESK, CONFIG, HUBS, MINUTES_DESK, ROOM_SOCKETS, SESSIONS, TURN
from server.logs import context as log_context
from server.models import Expert, MediationSession, StaffUser, utcnow
from server.rooms.participant import Participant
from server.rooms.roles import role_for_invitation, staff_claim
from server.sessions import invitations
from server.sessions import service as sessions
from server.sessions.rules import InviteeRole, SessionStatus
from server.signaling.connection import HEARTBEAT_SECONDS, CloseReason, SignalConnection
from server.signaling.handler import Identity, SignalSession
from server.signaling.messages import MAX_FRAME_BYTES, PROTOCOL

logger = logging.getLogger(__name__)

#: Invitees who may see parties' names in full in the room (as on the door page).
NAME_READERS = frozenset(
    {InviteeRole.PARTY, InviteeRole.AGENT, InviteeRole.GUARDIAN, InviteeRole.STAFF}
)


def _refuse(request: web.Request, status: int, code: str, message: str) -> web.Response:
    """A refused handshake, counted with the room sockets' error responses by code."""
    request.app[HUBS].signal_errors[code] += 1
    return web.json_response(
        {"error": {"code": code, "message": message, "fields": {}}}, status=status
    )


async def _invitee(request: web.Request, token: str) -> tuple[MediationSession, Identity] | None:
    config = request.app[CONFIG]
    limiter = request.app[door.LIMITER]
    key = address_key(client_ip(request))
    if limiter.blocked(key):
        return None
    limiter.hit(key)
    async with request.app[SESSIONS]() as db:
        found = await invitations.find_live(db, token)
        if found is None:
            return None
        opens_at = found.session.starts_at - timedelta(minutes=config.room_open_minutes_before)
        if utcnow() < opens_at:
            limiter.forgive(key)
            return None
        invitation = found.invitation
        expert = await db.get(Expert, invitation.expert_id) if invitation.expert_id else None
    limiter.forgive(key)
    assert invitation.id is not None
    full_names = invitation.role in NAME_READERS or (
        invitation.role == InviteeRole.EXPERT and expert is not None and is_police(expert.kind)
    )
    candidate = Participant.for_invitation(
        invitation.id, invitation.display_name, role_for_invitation(invitation.role)
    )
    return found.session, Identity(candidate, full_names=full_names, language=request[r.LANG])


async def _staff(
    request: web.Request, session_param: str
) -> tuple[MediationSession, Identity] | None:
    session_id = parse_id(session_param)
    if r.ACTOR not in request or session_id is None:
        return None
    actor = request[r.ACTOR]
    if not roles.can_read_disputes(actor):
        return None
    async with request.app[SESSIONS]() as db:
        try:
            session, _dispute = await sessions.get_session(db, actor, session_id)
        except DomainError:  # not found or not theirs: the same refusal
            return None
        user = await db.get(StaffUser, actor.user_id)
    if user is None or session.status != SessionStatus.SCHEDULED:
        return None
    role = staff_claim(runs_rooms=roles.can_book(actor))
    candidate = Participant.for_staff(actor.user_id, user.display_name, role)
    return session, Identity(candidate, True, actor=actor, language=request[r.LANG])


async def room_socket(request: web.Request) -> web.StreamResponse:
    ws = web.WebSocketResponse(
        protocols=(PROTOCOL,), heartbeat=HEARTBEAT_SECONDS, max_msg_size=MAX_FRAME_BYTES
    )
    ready = ws.can_prepare(request)
    if not ready.ok or ready.protocol != PROTOCOL:
        return _refuse(
            request, 400, "invalid_request", f"a WebSocket with subprotocol {PROTOCOL} is required"
        )
    if not origin_allowed(request):
        return _refuse(request, 403, "not_allowed", "foreign origin")
    token = request.query.get("token", "")
    found = await (
        _invitee(request, token) if token else _staff(request, request.query.get("session", ""))
    )
    if found is None:
        return _refuse(request, 403, "not_allowed", "this link or session does not open a room now")
    session, identity = found
    assert session.id is not None
    # Every line from here on, the room's work this socket starts included, names the room.
    log_context.set_session(session.id)
    rooms = request.app[HUBS]
    live = await rooms.open(session)
    await ws.prepare(request)
    config = request.app[CONFIG]
    conn = SignalConnection(ws)
    desk = request.app[AGREEMENT_DESK]
    sockets = request.app[ROOM_SOCKETS]
    sockets.add(conn)
    try:
        minutes = request.app[MINUTES_DESK]
        await SignalSession(
            conn,
            rooms,
            live,
            desk,
            minutes,
            identity,
            list(config.ice_servers),
            turn=request.app[TURN],
        ).run()
    finally:
        sockets.discard(conn)
    return ws


async def close_room_sockets(app: web.Application) -> None:
    """On shutdown: every open room socket is closed with 1001 (going away), all at once.

    Without it the server waits its whole shutdown timeout for the socket
    handlers and the browsers then see 1006; 1001 tells their pages to
    reconnect, to this process's successor.
    """
    open_sockets: set[SignalConnection] = app[ROOM_SOCKETS]
    sockets = list(open_sockets)
    if sockets:
        logger.info("closing %d room sockets: the server is stopping", len(sockets))
    await asyncio.gather(
        *(conn.close(CloseReason.GOING_AWAY) for conn in sockets), return_exceptions=True
    )
