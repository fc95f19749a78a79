"""Rendering pages and JSON errors, and reading who is asking."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server import i18n
from server.auth.roles import Actor
from server.disputes.lifecycle import STATUS_LABELS
from server.errors import N_, DomainError, ErrorCode, NotAuthenticated
from server.keys import JINJA
from server.models import StaffUser

STATUS_FOR: dict[ErrorCode, int] = {
    ErrorCode.INVALID_REQUEST: 400,
    ErrorCode.VALIDATION_FAILED: 422,
    ErrorCode.NOT_AUTHENTICATED: 401,
    ErrorCode.NOT_ALLOWED: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.ILLEGAL_TRANSITION: 409,
    ErrorCode.LIMIT_EXCEEDED: 429,
    ErrorCode.CHAT_TOO_FAST: 429,
    ErrorCode.CHAT_TOO_LONG: 422,
    ErrorCode.CSRF_FAILED: 403,
    ErrorCode.MINUTES_SIGNED_OFF: 409,
    ErrorCode.MINUTES_UNKNOWN_SPEAKER: 422,
    ErrorCode.MINUTES_CONFLICT: 409,
    ErrorCode.CODEC_UNSUPPORTED: 409,
    ErrorCode.MEDIA_PORTS_EXHAUSTED: 503,
    ErrorCode.INTERNAL_ERROR: 500,
}

USER = web.RequestKey("user", StaffUser)
ACTOR = web.RequestKey("actor", Actor)
SESSION_TOKEN = web.RequestKey("session_token", str)
CSRF_TOKEN = web.RequestKey("csrf_token", str)
CSRF_BINDING = web.RequestKey("csrf_binding", str)
LANG = web.RequestKey("lang", str)


def actor(request: web.Request) -> Actor:
    """The logged-in actor; pages behind login can rely on it."""
    if ACTOR not in request:
        raise NotAuthenticated(N_("Please log in."))
    return request[ACTOR]


def user(request: web.Request) -> StaffUser | None:
    return request[USER] if USER in request else None


#: Parameters that carry a dispute status; shown by their label, not their code.
STATUS_PARAMS = frozenset({"status", "from", "to"})


def message_of(error: DomainError) -> str:
    """The error's message in the request's language, parameters filled in."""
    text = i18n.gettext(error.message)
    if not error.params:
        return text
    params = {
        key: i18n.gettext(STATUS_LABELS[value])
        if key in STATUS_PARAMS and value in STATUS_LABELS
        else value
        for key, value in error.params.items()
    }
    return text % params


def render(
    request: web.Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> web.Response:
    env = request.app[JINJA]
    page = env.get_template(template).render(
        request=request,
        current_user=user(request),
        current_actor=request.get(ACTOR),
        csrf_token=request.get(CSRF_TOKEN, ""),
        lang=request.get(LANG, "zh"),
        **(context or {}),
    )
    return web.Response(text=page, status=status, content_type="text/html", charset="utf-8")


def json_error(
    code: ErrorCode | str, message: str, *, status: int, fields: dict[str, str] | None = None
) -> web.Response:
    """The one error shape of the API: {"error": {"code", "message", "fields"}}."""
    return web.json_response(
        {"error": {"code": str(code), "message": message, "fields": fields or {}}}, status=status
    )
