"""The rules of the follow-up visit (回访), pure, one place per legal track.

Nothing here touches the database: the service asks these functions when a
task falls due, what a record's overall outcome is and which next steps a
result allows, so the rules can be read and tested on their own.

- 治安调解 (police mediation): the officer checks performance within three
  working days after the deadline expires (the Ministry's work rules), and a
  party who does not perform sends the case back for a decision on
  punishment (Public Security Administration Punishments Law art. 9: an
  agreement that is not performed is no bar to punishment).
- 人民调解 (people's mediation): the committee follows up on performance
  (People's Mediation Law art. 31); due on the deadline itself by default.
- A dispute that ends without an agreement (referred, withdrawn, no
  agreement) gets one follow-up by rule, some working days after the outcome,
  to check it stays quiet (矛盾不升级、隐患不反弹).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from server.agreements.document import PEOPLE, POLICE
from server.disputes.lifecycle import Status
from server.errors import N_
from server.workdays import WorkCalendar


class TaskKind(StrEnum):
    """Why a task exists: an agreement's deadline, or the outcome it checks on."""

    PERFORMANCE = "performance"
    REFERRED = "referred"
    WITHDRAWN = "withdrawn"
    NO_AGREEMENT = "no_agreement"


class TaskStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    #: Superseded (a correction changed the deadlines) or moot (the dispute left the stage).
    VOID = "void"


class TermResult(StrEnum):
    PERFORMED = "performed"
    PARTLY = "partly"
    NOT_PERFORMED = "not_performed"
    NOT_RELEVANT = "not_relevant"


class Method(StrEnum):
    PHONE = "phone"
    VISIT = "visit"
    VIDEO = "video"


class NextStep(StrEnum):
    """What follows a follow-up that found a term not (fully) performed."""

    BOOK = "book"
    REFER = "refer"
    CLOSE = "close"
    #: Police mediation only: back to the case team for a decision on punishment.
    PUNISH = "punish"


class ReferTo(StrEnum):
    COURT = "court"
    PEOPLES_COMMITTEE = "committee"
    CASE_TEAM = "case_team"


#: Worst last: the overall outcome of a record is its worst term result. "No longer
#: relevant" is the mildest, so a record of only such terms is itself "not relevant".
SEVERITY: dict[TermResult, int] = {
    TermResult.NOT_RELEVANT: 0,
    TermResult.PERFORMED: 1,
    TermResult.PARTLY: 2,
    TermResult.NOT_PERFORMED: 3,
}
#: Results that end the matter well: the dispute may close once every task is done so.
SETTLED = frozenset({TermResult.PERFORMED, TermResult.NOT_RELEVANT})

#: The dispute statuses that get a follow-up by rule, and the kind of task each makes.
OUTCOME_KINDS: dict[Status, TaskKind] = {
    Status.REFERRED: TaskKind.REFERRED,
    Status.WITHDRAWN: TaskKind.WITHDRAWN,
    Status.NO_AGREEMENT: TaskKind.NO_AGREEMENT,
}


@dataclass(frozen=True)
class Settings:
    """The offsets an operator may set (server/config.py ``followup_*``), in working days."""

    police_workdays: int = 3
    people_workdays: int = 0
    outcome_workdays: int = 5


@dataclass(frozen=True)
class TrackRule:
    """How one legal track follows up on its agreements."""

    track: str
    #: Who follows up, as the page says it.
    checker: str
    #: Whether a result that is not "performed" sends the case back for punishment.
    punish_on_default: bool

    def workdays(self, settings: Settings) -> int:
        return settings.police_workdays if self.track == POLICE else settings.people_workdays


TRACK_RULES: dict[str, TrackRule] = {
    POLICE: TrackRule(
        POLICE,
        N_(
            "The presiding officer checks performance after the deadline expires "
            "(by default within three working days)."
        ),
        punish_on_default=True,
    ),
    PEOPLE: TrackRule(
        PEOPLE,
        N_("The people's mediation committee follows up on performance."),
        punish_on_default=False,
    ),
}


def rule_for(track: str) -> TrackRule:
    """A track without an agreement rule of its own (none yet) follows people's mediation."""
    return TRACK_RULES.get(track, TRACK_RULES[PEOPLE])


def performance_due(track: str, deadline: date, calendar: WorkCalendar, settings: Settings) -> date:
    """When the check of a deadline falls due: the deadline plus the track's working days.

    ``add_workdays`` counts only working days after the deadline, so a deadline
    just before the National Day week falls due after the holiday, on the
    make-up Saturday if that is the third working day.
    """
    return calendar.add_workdays(deadline, rule_for(track).workdays(settings))


def outcome_due(outcome_day: date, calendar: WorkCalendar, settings: Settings) -> date:
    """When the follow-up of a dispute closed without agreement falls due."""
    return calendar.add_workdays(outcome_day, settings.outcome_workdays)


def overall(results: Iterable[TermResult]) -> TermResult:
    """The worst result: one term not performed makes the whole follow-up "not performed"."""
    found = list(results)
    if not found:
        raise ValueError("a follow-up has at least one result")
    return max(found, key=SEVERITY.__getitem__)


def next_steps(track: str, outcome: TermResult) -> tuple[NextStep, ...]:
    """The next steps a result allows, first the one the page offers first.

    Nothing is needed when everything was performed. On the police track a
    party who did not perform leaves no choice: the case goes back for a
    decision on punishment; partly performed, the officer may still weigh it.
    """
    if outcome in SETTLED:
        return ()
    if rule_for(track).punish_on_default and track == POLICE:
        if outcome == TermResult.NOT_PERFORMED:
            return (NextStep.PUNISH,)
        return (NextStep.PUNISH, NextStep.BOOK, NextStep.REFER, NextStep.CLOSE)
    return (NextStep.BOOK, NextStep.REFER, NextStep.CLOSE)


def format_terms(numbers: Iterable[int]) -> str:
    """Term numbers as the task stores them: ``"1,2,5"``."""
    return ",".join(str(n) for n in sorted(set(numbers)))


def parse_terms(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


class Urgency(StrEnum):
    OVERDUE = "overdue"
    TODAY = "today"
    LATER = "later"


def urgency(due_on: date, today: date) -> Urgency:
    """Where an open task stands on the office's day ("today" is the Asia/Shanghai day)."""
    if due_on < today:
        return Urgency.OVERDUE
    if due_on == today:
        return Urgency.TODAY
    return Urgency.LATER


def list_order(due_on: date, today: date, task_id: int) -> tuple[int, date, int]:
    """Overdue first (oldest first), then due today, then later (soonest first)."""
    rank = {Urgency.OVERDUE: 0, Urgency.TODAY: 1, Urgency.LATER: 2}[urgency(due_on, today)]
    return (rank, due_on, task_id)


KIND_LABELS: dict[str, str] = {
    TaskKind.PERFORMANCE: N_("Performance of the agreement"),
    TaskKind.REFERRED: N_("After a referral"),
    TaskKind.WITHDRAWN: N_("After withdrawal"),
    TaskKind.NO_AGREEMENT: N_("After mediation without agreement"),
}
TASK_STATUS_LABELS: dict[str, str] = {
    TaskStatus.OPEN: N_("To do"),
    TaskStatus.DONE: N_("Done"),
    TaskStatus.VOID: N_("No longer needed"),
}
RESULT_LABELS: dict[str, str] = {
    TermResult.PERFORMED: N_("Performed"),
    TermResult.PARTLY: N_("Partly performed"),
    TermResult.NOT_PERFORMED: N_("Not performed"),
    TermResult.NOT_RELEVANT: N_("No longer relevant"),
}
#: For a follow-up with no terms (after a referral or withdrawal) the same codes mean this.
OUTCOME_RESULT_LABELS: dict[str, str] = {
    TermResult.PERFORMED: N_("Settled, stays resolved"),
    TermResult.PARTLY: N_("Partly settled"),
    TermResult.NOT_PERFORMED: N_("Flared up again"),
    TermResult.NOT_RELEVANT: N_("No longer relevant"),
}
METHOD_LABELS: dict[str, str] = {
    Method.PHONE: N_("Phone call"),
    Method.VISIT: N_("Home visit"),
    Method.VIDEO: N_("Video session"),
}
NEXT_STEP_LABELS: dict[str, str] = {
    NextStep.BOOK: N_("Book another mediation session"),
    NextStep.REFER: N_("Refer the dispute"),
    NextStep.CLOSE: N_("Close with a reason"),
    NextStep.PUNISH: N_("Return to the case team for a decision on punishment"),
}
REFER_TO_LABELS: dict[str, str] = {
    ReferTo.COURT: N_("The people's court"),
    ReferTo.PEOPLES_COMMITTEE: N_("The people's mediation committee"),
    ReferTo.CASE_TEAM: N_("The case team"),
}
URGENCY_LABELS: dict[str, str] = {
    Urgency.OVERDUE: N_("Overdue"),
    Urgency.TODAY: N_("Due today"),
    Urgency.LATER: N_("Later"),
}


def step_label(stored: str) -> str:
    """The message id naming a stored next step (``refer_court`` names the body)."""
    if stored.startswith("refer_"):
        return REFER_TO_LABELS.get(stored.removeprefix("refer_"), NEXT_STEP_LABELS[NextStep.REFER])
    return NEXT_STEP_LABELS.get(stored, "")
