"""The calendar: a day or a week of sessions, with their invitees counted.

Read-only and apart from the booking and session pages, which change sessions;
the calendar only lists them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from aiohttp import web

from server.auth import roles
from server.errors import ValidationFailed
from server.http import render as r
from server.http.forms import field_messages, parse
from server.http.pages.common import _staff_names, unit_of_work
from server.keys import TZ
from server.local_time import local_today
from server.models import Dispute, Invitation, MediationSession
from server.sessions import invitations
from server.sessions import service as sessions
from server.sessions.rules import SessionStatus
from server.sessions.schemas import CalendarQuery
from server.staff import service as staff_service

#: The reason the service writes on invitations it revokes when cancelling a session.
CANCELLED_REASON = invitations.CANCELLED_REASON


@dataclass(frozen=True)
class CalendarEntry:
    session: MediationSession
    dispute: Dispute
    invitees: int


@dataclass
class CalendarDay:
    day: date
    noon: datetime  # for formatting the day in the reader's language
    today: bool
    entries: list[CalendarEntry] = field(default_factory=list)


def _invitee_count(session: MediationSession, current: list[Invitation]) -> int:
    """Live invitations; for a cancelled session, those the cancellation revoked."""
    if session.status == SessionStatus.CANCELLED:
        return sum(1 for i in current if i.revoked_reason == CANCELLED_REASON)
    return sum(1 for i in current if i.revoked_at is None)


def _calendar_url(day: date, view: str, office_id: int | None) -> str:
    url = f"/sessions?view={view}&day={day.isoformat()}"
    return f"{url}&office_id={office_id}" if office_id else url


async def calendar_page(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    tz = request.app[TZ]
    query = {k: v for k, v in request.query.items() if v != "" and k in CalendarQuery.model_fields}
    errors: dict[str, str] = {}
    try:
        flt = parse(CalendarQuery, query)
    except ValidationFailed as exc:
        errors = field_messages(exc)
        flt = CalendarQuery()
    today = local_today(tz)
    day = flt.day or today
    station_wide = actor.role not in roles.OFFICE_ROLES
    office_id = flt.office_id if station_wide else None
    if flt.view == "week":
        start, days, step = day - timedelta(days=day.weekday()), 7, timedelta(days=7)
    else:
        start, days, step = day, 1, timedelta(days=1)
    async with unit_of_work(request) as db:
        found = await sessions.sessions_between(db, actor, start, days, tz=tz, office_id=office_id)
        entries = []
        for session, dispute in found:
            assert session.id is not None
            current = await invitations.session_invitations(db, session.id)
            entries.append(CalendarEntry(session, dispute, _invitee_count(session, current)))
        staff_names = await _staff_names(db, actor)
        offices = await staff_service.offices(db, actor.station_id)
    calendar = [
        CalendarDay(
            day=d,
            noon=datetime.combine(d, time(12), tzinfo=tz),
            today=d == today,
        )
        for d in (start + timedelta(days=n) for n in range(days))
    ]
    by_day = {c.day: c for c in calendar}
    for entry in entries:
        local_day = entry.session.starts_at.astimezone(tz).date()
        if local_day in by_day:
            by_day[local_day].entries.append(entry)
    return r.render(
        request,
        "sessions/calendar.html",
        {
            "calendar": calendar,
            "view": flt.view,
            "day": day,
            "start": start,
            "end": start + timedelta(days=days - 1),
            "office_id": office_id,
            "station_wide": station_wide,
            "office_options": [(o.id, o.name) for o in offices],
            "office_names": {o.id: o.name for o in offices},
            "staff_names": staff_names,
            "errors": errors,
            "prev_url": _calendar_url(start - step, flt.view, office_id),
            "next_url": _calendar_url(start + step, flt.view, office_id),
            "today_url": _calendar_url(today, flt.view, office_id),
            "day_url": _calendar_url(day, "day", office_id),
            "week_url": _calendar_url(day, "week", office_id),
            "total": len(entries),
        },
    )


ROUTES: list[web.RouteDef] = [
    web.get("/sessions", calendar_page),
]
