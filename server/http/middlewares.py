"""Middlewares: errors, language, the logged-in user, CSRF, security headers."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from aiohttp import web
from aiohttp.typedefs import Handler

from server import i18n
from server.auth import sessions
from server.cluster import forwarded_client
from server.db import transaction
from server.errors import N_, CsrfFailed, DomainError, ErrorCode
from server.http import render as r
from server.http.csrf import FORM_FIELD, HEADER
from server.http.forms import field_messages
from server.http.trusted_proxies import client_address, trusted_peer
from server.keys import CATALOGUES, CONFIG, CSRF, SESSIONS
from server.models import utcnow

logger = logging.getLogger(__name__)

SESSION_COOKIE = "concord_session"
PRE_COOKIE = "concord_pre"
LANG_COOKIE = "concord_lang"
PASSWORD_CHANGE_PATHS = frozenset({"/password", "/logout"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Sessions are touched at most this often, so reads do not all turn into writes.
TOUCH_EVERY = timedelta(minutes=5)


def is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/")


def client_ip(request: web.Request) -> str:
    """The client's address, for per-address limits, the audit trail and the door.

    Behind ``concord serve --workers N`` every request reaches a worker from
    the front; the front names the client, and a worker believes it only on
    its private socket (``server/cluster.py``). Otherwise it is the socket's
    peer, or, when that peer is a trusted reverse proxy, the client the
    proxies' header names (``server/http/trusted_proxies.py``). Nothing else
    should read ``request.remote``.
    """
    named = forwarded_client(request)
    if named:
        return named
    config = request.config_dict[CONFIG]
    return client_address(
        request.remote or "", request.headers, config.trusted_proxies, config.trusted_proxy_header
    )


def route_of(request: web.Request) -> str:
    """The route that matched (``/j/{token}``), not the path: paths carry tokens and codes."""
    info = request.match_info.route.resource
    return info.canonical if info is not None else "(no route)"


def peer_is_trusted_proxy(request: web.Request) -> bool:
    """Whether the socket's peer is one of the ``trusted_proxies`` (who may name requests)."""
    config = request.config_dict[CONFIG]
    return trusted_peer(request.remote or "", config.trusted_proxies)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One place turns refusals into pages or JSON; unexpected errors are logged, not shown."""
    try:
        return await handler(request)
    except DomainError as error:
        status = r.STATUS_FOR[error.code]
        if is_api(request):
            return r.json_error(
                error.code, r.message_of(error), status=status, fields=field_messages(error)
            )
        if status == 401:
            raise web.HTTPSeeOther(f"/login?next={request.path_qs}") from None
        return r.render(
            request, "error.html", {"status": status, "message": r.message_of(error)}, status=status
        )
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        fallback = N_("The request could not be handled.")
        messages = {
            404: N_("This page does not exist."),
            405: N_("This method is not allowed here."),
            413: N_("What you sent is too large."),
        }
        code = {404: ErrorCode.NOT_FOUND, 413: ErrorCode.LIMIT_EXCEEDED}.get(
            exc.status, ErrorCode.INVALID_REQUEST
        )
        text = i18n.gettext(messages.get(exc.status, fallback))
        if is_api(request):
            return r.json_error(code, text, status=exc.status)
        return r.render(
            request, "error.html", {"status": exc.status, "message": text}, status=exc.status
        )
    except Exception:
        logger.exception("unhandled error on %s %s", request.method, route_of(request))
        text = i18n.gettext(N_("Something went wrong on our side. It has been logged."))
        if is_api(request):
            return r.json_error(ErrorCode.INTERNAL_ERROR, text, status=500)
        return r.render(request, "error.html", {"status": 500, "message": text}, status=500)


@web.middleware
async def language_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    config = request.app[CONFIG]
    lang = request.cookies.get(LANG_COOKIE, config.default_language)
    if lang not in i18n.LANGUAGES:
        lang = config.default_language
    request[r.LANG] = lang
    i18n.activate(request.app[CATALOGUES], lang)
    return await handler(request)


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Load the logged-in user, and give anonymous browsers a pre-login CSRF binding."""
    token = request.cookies.get(SESSION_COOKIE)
    binding: str | None = None
    if token:
        async with transaction(request.app[SESSIONS]) as db:
            idle = timedelta(minutes=request.app[CONFIG].session_idle_minutes)
            found = await sessions.resolve(db, token, idle=idle)
            if found is not None:
                staff_session, user = found
                now = utcnow()
                if now - staff_session.last_seen_at > TOUCH_EVERY:
                    staff_session.last_seen_at = now
                request[r.USER] = user
                request[r.ACTOR] = sessions.actor_for(
                    user, client_ip(request), request.headers.get("User-Agent", "")[:300]
                )
                request[r.SESSION_TOKEN] = token
                binding = token
    new_pre: str | None = None
    if binding is None:
        binding = request.cookies.get(PRE_COOKIE)
        if not binding and not is_api(request):
            binding = new_pre = secrets.token_urlsafe(24)
    if binding:
        request[r.CSRF_TOKEN] = request.app[CSRF].token_for(binding)
        request[r.CSRF_BINDING] = binding
    current = r.user(request)
    if (
        current is not None
        and current.must_change_password
        and not is_api(request)
        and request.path not in PASSWORD_CHANGE_PATHS
        and not request.path.startswith(("/static/", "/lang/"))
    ):
        # A first or reset password was chosen by someone else: replace it before any work.
        raise web.HTTPSeeOther("/password")
    response = await handler(request)
    if new_pre is not None:
        response.set_cookie(
            PRE_COOKIE,
            new_pre,
            httponly=True,
            samesite="Lax",
            secure=request.app[CONFIG].effective_cookie_secure,
            path="/",
        )
    return response


@web.middleware
async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every unsafe request must prove it came from our own page."""
    if request.method in SAFE_METHODS or getattr(handler, "csrf_exempt", False):
        return await handler(request)
    if is_api(request) and r.ACTOR not in request:
        # No session, nothing to forge: the handler answers 401 not_authenticated.
        return await handler(request)
    if not origin_allowed(request):
        raise csrf_failed()
    presented = request.headers.get(HEADER)
    if presented is None and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        form = await request.post()
        value = form.get(FORM_FIELD)
        presented = value if isinstance(value, str) else None
    if not request.app[CSRF].check(request.get(r.CSRF_BINDING), presented):
        raise csrf_failed()
    return await handler(request)


def origin_allowed(request: web.Request) -> bool:
    """A browser's Origin header, when sent, must be this site's."""
    origin = request.headers.get("Origin")
    if not origin:
        return True
    config = request.app[CONFIG]
    return origin in {config.effective_public_url, f"{request.scheme}://{request.host}"}


def csrf_failed() -> CsrfFailed:
    return CsrfFailed(
        N_("This form has expired or did not come from Concord. Reload the page and try again.")
    )


@web.middleware
async def headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'",
    )
    if request.get(r.USER) is not None:
        # Case files must not linger in shared caches or the back button after logout.
        response.headers.setdefault("Cache-Control", "no-store")
    return response
