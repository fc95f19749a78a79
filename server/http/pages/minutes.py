"""调解笔录 pages: the entries as read-only record, the presiding officer's sign-off with its
confirm step, the signed-off PDF; and 从笔录起草事实 on the agreement workspace.

Thin: the domain is ``server.minutes``. Writing entries happens in the room.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.agreements.settings import SealingNotConfigured
from server.auth import roles
from server.auth.roles import Actor
from server.errors import N_, Conflict, DomainError, ValidationFailed
from server.http import render as r
from server.http.pages.agreements import _notify
from server.http.pages.agreements import _refused as _workspace_refused
from server.http.pages.common import FORM_REFUSALS, form_data, int_param, redirect, unit_of_work
from server.ids import parse_id
from server.keys import CONFIG, TZ, WORKS
from server.minutes import drafting, signoff, sitting
from server.minutes.record import first_day, stamp
from server.models import StaffUser

#: The box a presiding officer ticks: they have read the entries they confirm.
CONFIRM = "yes"


def _settings(request: web.Request) -> signoff.Settings:
    config = request.app[CONFIG]
    return signoff.Settings(
        agreements_dir=config.effective_agreements_dir,
        tz=request.app[TZ],
        works=request.app[WORKS],
    )


async def _context(
    request: web.Request, actor: Actor, session_id: int, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    tz = request.app[TZ]
    async with unit_of_work(request) as db:
        s = await sitting.load(db, actor, session_id, tz=tz)
        by = await db.get(StaffUser, s.signoff.signed_off_by_id) if s.signoff else None
    day = first_day(s.lines, tz)
    rows = [
        {
            "id": entry.id,
            "time": stamp(entry.at, tz, day),
            "speaker": line.speaker,
            "text": line.text,
            "author": entry.author_name,
        }
        for entry, line in zip(s.entries, s.lines, strict=True)
    ]
    session = s.session
    context: dict[str, Any] = {
        "sitting": s,
        "session": session,
        "dispute": s.dispute,
        "rows": rows,
        "sha256": s.sha256,
        "signoff": s.signoff,
        "signed_off_by": by.display_name if by else "",
        "can_sign_off": s.signoff is None
        and roles.can_sign_off_minutes(actor, session.office_id, session.presiding_officer_id),
        "notice": request.query.get("notice", ""),
        "form_error": "",
    }
    context.update(extra or {})
    return context


async def page(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    session_id = int_param(request, "id")
    return r.render(request, "minutes/page.html", await _context(request, actor, session_id))


async def signoff_submit(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    session_id = int_param(request, "id")
    data = await form_data(request)
    try:
        if data.get("confirm") != CONFIRM:
            raise ValidationFailed(
                N_("Tick the box to confirm that you have checked the minutes."),
                fields={"confirm": "required"},
            )
        async with unit_of_work(request) as db:
            await signoff.sign_off(
                db,
                actor,
                session_id,
                settings=_settings(request),
                expected_sha256=data.get("entries_sha256", ""),
            )
    except SealingNotConfigured:
        error = Conflict(
            N_("The station's sealing certificate is not configured (see seal_key_path).")
        )
        return await _refused(request, actor, session_id, error)
    except FORM_REFUSALS as exc:
        return await _refused(request, actor, session_id, exc)
    raise redirect(f"/sessions/{session_id}/minutes?notice=signed_off")


async def _refused(
    request: web.Request, actor: Actor, session_id: int, error: DomainError
) -> web.Response:
    context = await _context(request, actor, session_id, {"form_error": r.message_of(error)})
    return r.render(request, "minutes/page.html", context, status=r.STATUS_FOR[error.code])


async def pdf_download(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    session_id = int_param(request, "id")
    async with unit_of_work(request) as db:
        row, data = await signoff.signed_off_pdf(
            db,
            actor,
            session_id,
            agreements_dir=request.app[CONFIG].effective_agreements_dir,
            tz=request.app[TZ],
        )
    response = web.Response(body=data, content_type="application/pdf")
    disposition = "inline" if request.query.get("inline") == "1" else "attachment"
    name = f"minutes-session-{session_id}.pdf"
    response.headers["Content-Disposition"] = f'{disposition}; filename="{name}"'
    response.headers["X-Content-SHA256"] = row.pdf_sha256
    return response


async def facts_submit(request: web.Request) -> web.StreamResponse:
    """从笔录起草事实 on the workspace: refused there, in the workspace, like any save."""
    actor = r.actor(request)
    session_id = int_param(request, "id")
    data = await form_data(request)
    base_version = parse_id(data.get("base_version", ""), max_digits=9) or 0
    try:
        async with unit_of_work(request) as db:
            drafted = await drafting.facts_from_minutes(
                db, actor, session_id, base_version, tz=request.app[TZ]
            )
    except FORM_REFUSALS as exc:
        return await _workspace_refused(request, actor, session_id, exc)
    _notify(request, session_id)
    notice = "facts_cut" if drafted.cut else "facts"
    raise redirect(f"/sessions/{session_id}/agreement?notice={notice}")


ROUTES: list[web.RouteDef] = [
    web.get("/sessions/{id}/minutes", page),
    web.post("/sessions/{id}/minutes/signoff", signoff_submit),
    web.get("/sessions/{id}/minutes.pdf", pdf_download),
    web.post("/sessions/{id}/agreement/facts-from-minutes", facts_submit),
]
