"""The period and office a figure is asked for, checked against who is asking. Pure.

A period is a range of local dates (Asia/Shanghai), both ends included. Its
months are bucketed by their UTC boundaries, computed here once, so the SQL
compares plain timestamps and gives the same answer on SQLite and
PostgreSQL: a dispute registered at 23:30 on 31 January local time (15:30 UTC)
belongs to January, not to the UTC day's February or the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from server.auth import roles
from server.auth.roles import Actor
from server.errors import N_, NotAllowed, ValidationFailed

#: The longest period asked for at once: ten years of months.
MAX_MONTHS = 120


class StatsFilter(BaseModel):
    """What the statistics page, its exports and the API accept."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    date_from: date | None = None
    date_to: date | None = None
    office_id: int | None = Field(default=None, ge=1)


@dataclass(frozen=True)
class Month:
    key: str  # "2026-01"
    start: datetime  # aware, the first local instant of the month (or of the period)
    end: datetime  # aware, the first local instant after it (or after the period)


@dataclass(frozen=True)
class Period:
    """Local dates, both included."""

    start: date
    end: date

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """[first instant, first instant after) of the period, as aware datetimes."""
        return (
            datetime.combine(self.start, time.min, tzinfo=tz),
            datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=tz),
        )

    def months(self, tz: ZoneInfo) -> list[Month]:
        """Each local month the period touches, clipped to the period."""
        first, last = self.bounds(tz)
        result: list[Month] = []
        year, month = self.start.year, self.start.month
        while True:
            month_start = datetime.combine(date(year, month, 1), time.min, tzinfo=tz)
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
            month_end = datetime.combine(date(year, month, 1), time.min, tzinfo=tz)
            result.append(
                Month(
                    key=f"{month_start.year:04d}-{month_start.month:02d}",
                    start=max(month_start, first),
                    end=min(month_end, last),
                )
            )
            if month_end >= last:
                return result


def month_count(start: date, end: date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month + 1


def resolve_period(flt: StatsFilter, today: date) -> Period:
    """The asked period; by default this local year up to today.

    A period that ends before it starts is refused, not swapped: the reader
    may have typed either end wrong.
    """
    end = flt.date_to or today
    start = flt.date_from or date(end.year, 1, 1)
    if end < start:
        raise ValidationFailed(
            N_("The period ends before it starts."), fields={"date_to": "before_start"}
        )
    if month_count(start, end) > MAX_MONTHS:
        raise ValidationFailed(
            N_("Ask for at most %(months)s months at once."),
            params={"months": MAX_MONTHS},
            fields={"date_from": "too_long"},
        )
    return Period(start, end)


def office_scope(actor: Actor, office_id: int | None) -> int | None:
    """The office the figures are limited to (None: the whole station).

    Officers see their own office only, whether they ask for it or not; chiefs
    and clerks see the station or any one of its offices; admins see none.
    The office's belonging to the station is checked by the caller's query.
    """
    if not roles.can_read_stats(actor):
        raise NotAllowed(N_("Your role does not allow this."))
    if actor.role in roles.OFFICE_ROLES:
        if office_id is not None and office_id != actor.office_id:
            raise NotAllowed(
                N_("You can see the figures of your own beat office only."),
                fields={"office_id": "out_of_scope"},
            )
        return actor.office_id
    return office_id
