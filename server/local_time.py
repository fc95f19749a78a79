"""The office's calendar day. Dates people read (deadlines, "today", a month's figures)
are the station's local dates (Asia/Shanghai by default): between 16:00 and 24:00 UTC the
UTC date is already yesterday there, so no date is ever taken from UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo


def local_date(value: datetime, tz: ZoneInfo) -> date:
    """The local day of an instant (stored instants are UTC)."""
    return value.astimezone(tz).date()


def local_today(tz: ZoneInfo, now: datetime | None = None) -> date:
    """Today in the office's time zone."""
    return local_date(now or datetime.now(UTC), tz)


def to_the_minute(value: datetime) -> datetime:
    """``value`` cut to its minute, as a ``datetime-local`` form field states times: a visit
    or check typed for the minute something happened in is not before it."""
    return value.replace(second=0, microsecond=0)
