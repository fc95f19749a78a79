"""Helpers the page handlers share: reading forms, redirecting, the unit of work, staff lookups."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from server.auth import roles
from server.auth.roles import Actor
from server.db import transaction
from server.errors import N_, Conflict, IllegalTransition, ValidationFailed
from server.ids import parse_id
from server.keys import SESSIONS
from server.staff import service as staff_service

#: The longest value a form field may carry: the agreement's terms box (30 terms of
#: 1,000 characters, with their line breaks). Longer is refused, never cut: a cut value
#: could pass the field's own check and be kept shorter than what was typed.
MAX_FIELD = 40_000

#: Refusals shown inside the form that caused them; permission errors get their own page.
FORM_REFUSALS = (ValidationFailed, IllegalTransition, Conflict)


@asynccontextmanager
async def unit_of_work(request: web.Request) -> AsyncIterator[AsyncSession]:
    async with transaction(request.app[SESSIONS]) as db:
        yield db


async def form_data(request: web.Request) -> dict[str, str]:
    """Posted fields as plain strings; files and the CSRF field are dropped.

    Line breaks become ``\n``: browsers send a textarea's breaks as ``\r\n``
    but count each as one character against ``maxlength``, so a box typed
    full would otherwise be refused here, and stored texts would mix both kinds.
    """
    form = await request.post()
    data = {
        key: value.replace("\r\n", "\n").replace("\r", "\n")
        for key, value in form.items()
        if isinstance(value, str) and key != "csrf_token"
    }
    too_long = sorted(key for key, value in data.items() if len(value) > MAX_FIELD)
    if too_long:
        raise ValidationFailed(
            N_("At most %(max_length)s characters."),
            params={"max_length": MAX_FIELD},
            fields=dict.fromkeys(too_long, "too_long"),
        )
    return data


def clean(data: dict[str, str], *keys: str) -> dict[str, Any]:
    """Only the named fields, with empty optional numbers left out (so defaults apply)."""
    return {k: data[k] for k in keys if k in data and data[k] != ""}


def safe_next(target: str | None, default: str = "/") -> str:
    """Follow ``next`` only within this site, never to another host."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


def redirect(location: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(location)


def int_param(request: web.Request, name: str) -> int:
    """A numeric path parameter; anything else is a 404, not a crash."""
    value = parse_id(request.match_info.get(name, ""))
    if value is None:
        raise web.HTTPNotFound()
    return value


async def _staff_names(db: AsyncSession, actor: Actor) -> dict[int | None, str]:
    return {u.id: u.display_name for u in await staff_service.staff(db, actor.station_id)}


def _sees_phones(actor: Actor) -> bool:
    """Auxiliaries and clerks see invitees' phones masked, as on the dispute page."""
    return roles.can_reveal_id_number(actor)
