"""The station's working-day calendar: the days the holiday library does not know yet.

Administrators add, delete and import days; chiefs read them. The page says
which years are covered (by the library, by the station's table) and warns
when next year is covered by neither, so the days are entered before the
follow-up deadlines of January are reckoned by weekday alone.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from server.auth import roles
from server.auth.roles import Actor
from server.errors import N_, DomainError, NotAllowed, NotFound
from server.http import render as r
from server.http.forms import field_messages, parse
from server.http.pages.common import (
    FORM_REFUSALS,
    clean,
    form_data,
    int_param,
    redirect,
    unit_of_work,
)
from server.i18n import gettext
from server.keys import TZ
from server.local_time import local_today
from server.workday_overrides import service
from server.workday_overrides.rules import MAX_IMPORT_LINES, coverage, uncovered_years, window
from server.workday_overrides.schemas import KIND_LABELS, MAX_NAME, OverrideInput
from server.workdays import LIBRARY_YEARS, load_calendar

NOTICES = {
    "added": N_("The day has been set."),
    "deleted": N_("The day has been deleted."),
    "imported": N_("The schedule has been imported."),
}


def _reader(request: web.Request) -> Actor:
    actor = r.actor(request)
    if not roles.can_read_workdays(actor):
        raise NotAllowed(N_("Your role does not allow this."))
    return actor


async def warning_context(db: AsyncSession, actor: Actor, today: date) -> dict[str, Any]:
    """What the admin pages show of the calendar: the years covered, the years not."""
    calendar = await load_calendar(db, actor.station_id)
    return {
        "workday_coverage": coverage(today, await service.days_by_year(db, actor)),
        "workday_uncovered": uncovered_years(today, calendar),
        "library_first": LIBRARY_YEARS.start,
        "library_last": LIBRARY_YEARS.stop - 1,
        "today_year": today.year,
    }


def _year(request: web.Request, today: date) -> int:
    """The year shown: ?year=, else next year (the one usually being entered)."""
    raw = request.query.get("year", "")
    first, last = window(today)
    if raw.isdigit() and first.year <= int(raw) <= last.year:
        return int(raw)
    return today.year + 1


async def _page(
    request: web.Request, actor: Actor, year: int | None = None, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    today = local_today(request.app[TZ])
    shown = year if year is not None else _year(request, today)
    async with unit_of_work(request) as db:
        days = await service.days_of_year(db, actor, shown)
        context = await warning_context(db, actor, today)
    first, last = window(today)
    notice = request.query.get("notice", "")
    context.update(
        {
            "year": shown,
            "years": list(range(first.year, last.year + 1)),
            "days": days,
            "kind_labels": KIND_LABELS,
            "can_manage": roles.can_manage_workdays(actor),
            "first_day": first.isoformat(),
            "last_day": last.isoformat(),
            "max_name": MAX_NAME,
            "max_lines": MAX_IMPORT_LINES,
            "notice": gettext(NOTICES[notice]) if notice in NOTICES else "",
            "form": {"kind": "holiday"},
            "errors": {},
            "error": "",
            "import_text": "",
            "import_problems": [],
        }
    )
    context.update(extra or {})
    return context


async def workdays_page(request: web.Request) -> web.StreamResponse:
    actor = _reader(request)
    return r.render(request, "admin_workdays.html", await _page(request, actor))


def _posted_year(data: dict[str, str], today: date) -> int | None:
    """Back to the year of the day typed, when it is a date of a year the page offers."""
    try:
        year = date.fromisoformat(data.get("day", "")).year
    except ValueError:
        return None
    first, last = window(today)
    return year if first.year <= year <= last.year else None


def _problem_lines(error: service.ImportRefused) -> list[str]:
    lines = []
    for problem in error.problems:
        text = gettext(problem.message)
        text = text % problem.params if problem.params else text
        lines.append(
            gettext("Line %(line)d: %(problem)s") % {"line": problem.line, "problem": text}
            if problem.line
            else text
        )
    return lines


async def _refused(
    request: web.Request, actor: Actor, error: DomainError, extra: dict[str, Any], year: int | None
) -> web.Response:
    context = await _page(request, actor, year, {"error": r.message_of(error), **extra})
    return r.render(request, "admin_workdays.html", context, status=r.STATUS_FOR[error.code])


async def add_submit(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    if not roles.can_manage_workdays(actor):
        raise NotAllowed(service.NOT_ALLOWED)
    data = await form_data(request)
    today = local_today(request.app[TZ])
    try:
        parsed = parse(OverrideInput, clean(data, "day", "kind", "name"))
        async with unit_of_work(request) as db:
            await service.add(db, actor, parsed, today=today)
    except FORM_REFUSALS as exc:
        extra = {"form": data, "errors": field_messages(exc)}
        return await _refused(request, actor, exc, extra, _posted_year(data, today))
    raise redirect(f"/admin/workdays?year={parsed.day.year}&notice=added")


async def delete_submit(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    if not roles.can_manage_workdays(actor):
        raise NotAllowed(service.NOT_ALLOWED)
    try:
        async with unit_of_work(request) as db:
            row = await service.delete(db, actor, int_param(request, "id"))
    except (*FORM_REFUSALS, NotFound) as exc:
        # Someone else deleted it first: say so on the page, where the list shows what is left.
        return await _refused(request, actor, exc, {}, None)
    raise redirect(f"/admin/workdays?year={row.day.year}&notice=deleted")


async def import_submit(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    data = await form_data(request)
    text = data.get("lines", "")
    if not roles.can_manage_workdays(actor):
        raise NotAllowed(service.NOT_ALLOWED)
    try:
        async with unit_of_work(request) as db:
            await service.import_days(db, actor, text, today=local_today(request.app[TZ]))
    except FORM_REFUSALS as exc:
        problems = _problem_lines(exc) if isinstance(exc, service.ImportRefused) else []
        extra = {"import_text": text, "import_problems": problems}
        return await _refused(request, actor, exc, extra, None)
    raise redirect("/admin/workdays?notice=imported")


ROUTES: list[web.RouteDef] = [
    web.get("/admin/workdays", workdays_page, name="workdays"),
    web.post("/admin/workdays", add_submit),
    web.post("/admin/workdays/import", import_submit),
    web.post("/admin/workdays/{id}/delete", delete_submit),
]
