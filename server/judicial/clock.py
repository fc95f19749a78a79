"""The judicial-confirmation clock, pure: when the window opens, when it closes, what it says today.

People's Mediation Law art. 33: the parties may jointly apply for judicial
confirmation "自调解协议生效之日起三十日内". Three choices, made once here:

- **Effective day.** A people's-mediation agreement takes effect when every
  party and the mediator have signed and the committee's seal is applied
  (art. 29). In Concord the seal is the last of those acts, so the agreement
  takes effect on the local date (the office's time zone, Asia/Shanghai) of
  its sealing; a correction sealed later keeps the first window.
- **Counting.** The day the period starts is not counted (Civil Procedure Law
  art. 85, 期间开始的日不计算在期间内), so day 1 is the day after the effective
  day and day 30, the last day, is ``effective_on + 30`` calendar days.
- **Holidays.** Civil Procedure Law art. 85 again: when the last day falls on
  a statutory holiday (法定休假日, weekends included) the period ends on the
  first day after it, which is the next working day of the station's
  calendar (``server.workdays``: public holidays, 调休 make-up working days and
  the station's own overrides). Only the last day moves; the days in between
  are calendar days.

Reminders go out on day 20 and day 27 of the window (counted from the
effective day like the window, whatever a holiday does to its end). Nothing
here is stored: every figure is computed from the row and today's date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from server.errors import N_
from server.local_time import local_date
from server.workdays import WorkCalendar

#: 三十日内 (People's Mediation Law art. 33).
WINDOW_DAYS = 30
#: The days of the window on which the case reminds its officer.
REMINDER_DAYS = (20, 27)


class Status(StrEnum):
    """Where a window stands; ``open`` until a filing is recorded."""

    OPEN = "open"
    FILED = "filed"
    CONFIRMED = "confirmed"
    NOT_CONFIRMED = "not_confirmed"
    NOT_FILED = "not_filed"


STATUS_LABELS: dict[str, str] = {
    Status.OPEN: N_("Not yet filed"),
    Status.FILED: N_("Filed with the court"),
    Status.CONFIRMED: N_("Confirmed by the court"),
    Status.NOT_CONFIRMED: N_("Not confirmed by the court"),
    Status.NOT_FILED: N_("Not filed"),
}
#: The decisions a court's ruling records.
DECISIONS = (Status.CONFIRMED, Status.NOT_CONFIRMED)


def effective_date(sealed_at: datetime, tz: ZoneInfo) -> date:
    """The local day the agreement took effect: the day its seal was applied, where the office is.

    A naive value is UTC, as the database stores it.
    """
    if sealed_at.tzinfo is None:
        sealed_at = sealed_at.replace(tzinfo=UTC)
    return local_date(sealed_at, tz)


def window_end(effective_on: date, calendar: WorkCalendar) -> date:
    """The last day to apply: day 30, or the first working day after it when it is a holiday."""
    last = effective_on + timedelta(days=WINDOW_DAYS)
    if calendar.is_workday(last):
        return last
    return calendar.add_workdays(last, 1)


def links_valid_until(window_ends_on: date, tz: ZoneInfo) -> datetime:
    """The end of the window's last local day, as an instant: the next local midnight, in UTC.

    A personal link works while ``now < expires_at``, so it works all through the last day.
    """
    midnight = datetime.combine(window_ends_on + timedelta(days=1), datetime.min.time(), tz)
    return midnight.astimezone(UTC)


@dataclass(frozen=True)
class Clock:
    """What the window says on ``today``."""

    effective_on: date
    window_ends_on: date
    today: date
    status: str

    @property
    def day(self) -> int:
        """Which day of the window today is (0 on the effective day itself)."""
        return (self.today - self.effective_on).days

    @property
    def days_left(self) -> int:
        """Whole days after today still in the window; 0 on the last day, negative once lapsed."""
        return (self.window_ends_on - self.today).days

    @property
    def moved(self) -> bool:
        """Whether the last day moved off a holiday."""
        return self.window_ends_on != self.effective_on + timedelta(days=WINDOW_DAYS)

    @property
    def running(self) -> bool:
        """Nothing filed yet: the clock matters."""
        return self.status == Status.OPEN

    @property
    def lapsed(self) -> bool:
        """The window closed with nothing filed."""
        return self.running and self.today > self.window_ends_on

    @property
    def reminder(self) -> int | None:
        """The latest reminder day reached (20 or 27) while the window runs, else None."""
        if not self.running or self.lapsed:
            return None
        reached = [d for d in REMINDER_DAYS if self.day >= d]
        return reached[-1] if reached else None

    @property
    def urgent(self) -> bool:
        return self.reminder == REMINDER_DAYS[-1]


def reminder_threshold(today: date) -> date:
    """Windows whose effective day is on or before this have reached the first reminder."""
    return today - timedelta(days=REMINDER_DAYS[0])
