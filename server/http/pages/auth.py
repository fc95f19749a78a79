"""Login, logout, password change, language switch."""

from __future__ import annotations

from aiohttp import web

from server import i18n
from server.auth import sessions
from server.errors import DomainError, LimitExceeded, ValidationFailed
from server.http import render as r
from server.http.auth_flow import (
    attempt_login,
    end_session,
    set_session_cookie,
    signed_out,
    throttle_policy,
)
from server.http.forms import field_messages
from server.http.middlewares import LANG_COOKIE
from server.http.pages.common import form_data, redirect, safe_next, unit_of_work
from server.keys import CONFIG


async def login_page(request: web.Request) -> web.StreamResponse:
    if r.user(request) is not None:
        # Still signed in (a room page sent here after a logout elsewhere): go on.
        raise redirect(safe_next(request.query.get("next")))
    return r.render(request, "login.html", {"next": safe_next(request.query.get("next"))})


async def login_submit(request: web.Request) -> web.StreamResponse:
    data = await form_data(request)
    username = data.get("username", "")
    outcome = await attempt_login(request, username, data.get("password", ""))
    if isinstance(outcome, DomainError):
        return r.render(
            request,
            "login.html",
            {
                "error": r.message_of(outcome),
                "username": username[:40],
                "next": data.get("next", ""),
            },
            status=r.STATUS_FOR[outcome.code],
        )
    token, user = outcome
    target = "/password" if user.must_change_password else safe_next(data.get("next"))
    response = web.HTTPSeeOther(target)
    set_session_cookie(response, request.app[CONFIG], token)
    raise response


async def logout_submit(request: web.Request) -> web.StreamResponse:
    response = web.HTTPSeeOther("/login")
    await end_session(request, response)
    raise response


async def password_page(request: web.Request) -> web.StreamResponse:
    r.actor(request)
    return r.render(request, "password.html", {"errors": {}})


async def password_submit(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    data = await form_data(request)
    if data.get("new_password", "") != data.get("confirm_password", ""):
        errors = {"confirm_password": i18n.gettext("The two new passwords differ.")}
        return r.render(request, "password.html", {"errors": errors}, status=422)
    error: DomainError | None = None
    async with unit_of_work(request) as db:
        try:
            await sessions.change_password(
                db,
                actor,
                data.get("current_password", ""),
                data.get("new_password", ""),
                keep_token=request[r.SESSION_TOKEN],
                policy=throttle_policy(request.app[CONFIG]),
            )
        except (ValidationFailed, LimitExceeded) as exc:
            error = exc  # kept inside the transaction so a wrong guess is counted
    if error is not None:
        context = {"errors": field_messages(error), "error": r.message_of(error)}
        return r.render(request, "password.html", context, status=r.STATUS_FOR[error.code])
    signed_out(request, actor.user_id)
    raise redirect("/?notice=password_changed")


async def switch_language(request: web.Request) -> web.StreamResponse:
    """A plain link: changing the display language changes no data."""
    lang = request.match_info["lang"]
    if lang not in i18n.LANGUAGES:
        raise web.HTTPNotFound()
    response = web.HTTPSeeOther(safe_next(request.query.get("next")))
    response.set_cookie(
        LANG_COOKIE,
        lang,
        max_age=365 * 24 * 3600,
        samesite="Lax",
        httponly=True,
        secure=request.app[CONFIG].effective_cookie_secure,
        path="/",
    )
    raise response
