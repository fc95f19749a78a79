"""Logging in and out over HTTP, shared by the login page and the JSON API."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from server.auth import sessions
from server.config import Config
from server.errors import DomainError, LimitExceeded, NotAuthenticated
from server.http import render as r
from server.http.middlewares import PRE_COOKIE, SESSION_COOKIE, client_ip
from server.http.pages.common import unit_of_work
from server.keys import CONFIG, HUBS
from server.models import StaffUser


def throttle_policy(config: Config) -> sessions.ThrottlePolicy:
    return sessions.ThrottlePolicy(
        max_failures=config.login_max_failures,
        ip_max_failures=config.login_ip_max_failures,
        lockout=timedelta(minutes=config.login_lockout_minutes),
    )


async def attempt_login(
    request: web.Request, username: str, password: str
) -> tuple[str, StaffUser] | DomainError:
    """The new session token and user, or the refusal to show.

    The refusal is returned rather than raised so the transaction commits the
    failure count and the audit row that ``sessions.login`` added.
    """
    config = request.app[CONFIG]
    async with unit_of_work(request) as db:
        try:
            return await sessions.login(
                db,
                username,
                password,
                ip=client_ip(request),
                user_agent=request.headers.get("User-Agent", ""),
                session_lifetime=timedelta(hours=config.session_hours),
                policy=throttle_policy(config),
            )
        except (NotAuthenticated, LimitExceeded) as exc:
            return exc


def set_session_cookie(response: web.StreamResponse, config: Config, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Lax",
        secure=config.effective_cookie_secure,
        max_age=config.session_hours * 3600,
        path="/",
    )
    # The pre-login CSRF binding has served its purpose; the session binds from now on.
    response.del_cookie(PRE_COOKIE, path="/")


async def end_session(request: web.Request, response: web.StreamResponse) -> None:
    """Delete the session row (so the cookie is dead even if kept) and the cookie."""
    actor = r.actor(request)
    async with unit_of_work(request) as db:
        await sessions.logout(db, actor, request[r.SESSION_TOKEN])
    response.del_cookie(SESSION_COOKIE, path="/")
    signed_out(request, actor.user_id)


def signed_out(request: web.Request, staff_id: int) -> None:
    """End ``staff_id``'s open room sockets (every worker's): a room page left open
    must not keep host controls once its account logged out, changed password, was
    deactivated or got another role or office. The page takes the close as final and
    asks the person to sign in again."""
    request.app[HUBS].signed_out(staff_id)
