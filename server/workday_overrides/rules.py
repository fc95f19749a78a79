"""The pure rules of the station's calendar: how far ahead a day may be set, which years
are covered, and how a year's schedule pasted as text is read.

Nothing here touches the database; refusals are English msgids with their
parameters, translated at the edge.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from pydantic import ValidationError

from server.errors import N_
from server.workday_overrides.schemas import MAX_NAME, OverrideInput
from server.workdays import LIBRARY_YEARS, WorkCalendar

#: A day is set at most this far from today, either way: the State Council publishes
#: next year's schedule in the autumn, so a day two years off is most likely a typo.
MAX_DAYS_AWAY = 2 * 366
#: Lines one import may hold: a year's schedule is some thirty days.
MAX_IMPORT_LINES = 120
#: How an import line may say what the day is (the words of the published notices too).
KIND_WORDS: dict[str, str] = {
    "holiday": "holiday",
    "workday": "workday",
    "休": "holiday",
    "放假": "holiday",
    "班": "workday",
    "上班": "workday",
    "调休上班": "workday",
}


def too_far(day: date, today: date) -> bool:
    return abs((day - today).days) > MAX_DAYS_AWAY


@dataclass(frozen=True)
class YearCoverage:
    """Where a year's schedule comes from: the holiday library, the station's table, neither."""

    year: int
    library: bool
    station_days: int

    @property
    def known(self) -> bool:
        return self.library or self.station_days > 0


def coverage(today: date, station_days: Mapping[int, int]) -> list[YearCoverage]:
    """This year, next year and every year the station's table holds, in order."""
    years = sorted({today.year, today.year + 1, *station_days})
    return [YearCoverage(y, y in LIBRARY_YEARS, station_days.get(y, 0)) for y in years]


def uncovered_years(today: date, calendar: WorkCalendar) -> list[int]:
    """This year and next year, each when neither the library nor the station knows it.

    Next year is what the admin page warns about ahead of time; this year
    uncovered means deadlines are already being reckoned by weekday alone.
    """
    return [y for y in (today.year, today.year + 1) if not calendar.known(y)]


@dataclass(frozen=True)
class LineProblem:
    """One line of an import that cannot be taken: its number (from 1), a msgid, parameters."""

    line: int
    message: str
    params: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class ParsedImport:
    days: tuple[OverrideInput, ...]
    problems: tuple[LineProblem, ...]


def parse_import(text: str, today: date, existing: Iterable[date]) -> ParsedImport:
    """Read ``YYYY-MM-DD,holiday|workday,name`` lines; blank lines and ``#`` comments are skipped.

    Every line is checked and every problem named, so that a pasted schedule
    is corrected in one go; the caller takes all of it or nothing.
    """
    taken = set(existing)
    seen: dict[date, int] = {}
    days: list[OverrideInput] = []
    problems: list[LineProblem] = []
    lines = text.replace("\r\n", "\n").split("\n")
    if sum(1 for line in lines if line.strip()) > MAX_IMPORT_LINES:
        problem = LineProblem(
            0, N_("At most %(count)d lines at once."), {"count": MAX_IMPORT_LINES}
        )
        return ParsedImport((), (problem,))
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.replace("，", ",").split(",", 2)]
        if len(parts) != 3:
            problems.append(
                LineProblem(number, N_("Write the day, holiday or workday, and a name, by commas."))
            )
            continue
        kind = KIND_WORDS.get(parts[1].lower())
        if kind is None:
            problems.append(LineProblem(number, N_("Say holiday or workday.")))
            continue
        try:
            entry = OverrideInput.model_validate({"day": parts[0], "kind": kind, "name": parts[2]})
        except ValidationError as exc:
            fields = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
            if "day" in fields:
                problems.append(LineProblem(number, N_("Enter a date, e.g. 2026-11-25.")))
            elif not parts[2]:
                problems.append(LineProblem(number, N_("Give the day a name, e.g. 春节.")))
            else:
                problems.append(
                    LineProblem(
                        number, N_("The name is at most %(count)d characters."), {"count": MAX_NAME}
                    )
                )
            continue
        if too_far(entry.day, today):
            problems.append(
                LineProblem(number, N_("Only days within two years of today can be set."))
            )
        elif entry.day in taken:
            problems.append(
                LineProblem(number, N_("%(day)s is already set."), {"day": entry.day.isoformat()})
            )
        elif entry.day in seen:
            problems.append(
                LineProblem(
                    number,
                    N_("%(day)s is already on line %(line)d."),
                    {"day": entry.day.isoformat(), "line": seen[entry.day]},
                )
            )
        else:
            seen[entry.day] = number
            days.append(entry)
    return ParsedImport(tuple(days), tuple(problems))


def window(today: date) -> tuple[date, date]:
    """The first and last day that may be set today."""
    return today - timedelta(days=MAX_DAYS_AWAY), today + timedelta(days=MAX_DAYS_AWAY)
