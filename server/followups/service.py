"""Follow-up visits (回访): creating the tasks an outcome leaves, recording what a visit found.

No HTTP here. Every operation runs inside the caller's transaction and
writes its audit rows there, so a refusal leaves nothing behind. Statuses
change only through ``disputes.service.transition_internal`` and ``reopen``,
so the timeline keeps every step.

Where tasks come from:

- sealing an agreement (``agreements.archive.seal`` calls ``create_for_agreement``
  in the transaction that archives it): one task per distinct deadline;
- a dispute ending without agreement through a staff status change (the pages
  and the API call ``after_status_change`` after ``disputes.service.transition``):
  one task by rule. Calling from there, and not from inside the disputes
  service, keeps ``server.disputes`` free of any import of this package.

A correction of a sealed agreement does not duplicate tasks: an open task
whose deadline and terms the corrected text keeps is moved to the new
version (and its due day recomputed); an open task for a deadline the
correction dropped is voided; a deadline already checked is not checked again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.agreements.deadlines import due_dates
from server.agreements.schemas import DraftContent
from server.audit import record
from server.auth import roles
from server.auth.roles import Actor
from server.disputes import service as disputes
from server.disputes.lifecycle import Route, Status
from server.disputes.schemas import TransitionInput
from server.errors import N_, Conflict, NotAllowed, NotFound, ValidationFailed
from server.followups.rules import (
    OUTCOME_KINDS,
    SETTLED,
    NextStep,
    ReferTo,
    Settings,
    TaskKind,
    TaskStatus,
    TermResult,
    Urgency,
    format_terms,
    list_order,
    next_steps,
    outcome_due,
    overall,
    parse_terms,
    performance_due,
    urgency,
)
from server.followups.schemas import RecordInput, TaskFilter
from server.local_time import local_date, local_today
from server.models import (
    Agreement,
    AgreementDraft,
    Dispute,
    DraftRevision,
    FollowUpRecord,
    FollowUpTask,
    FollowUpTermResult,
    utcnow,
)
from server.versioned import claim_next_version
from server.workdays import WorkCalendar, load_calendar


def _minute(value: datetime) -> datetime:
    """``value`` cut to its minute, as a ``datetime-local`` form field states times."""
    return value.replace(second=0, microsecond=0)


#: A clock a few minutes fast on the officer's phone is not "in the future".
MAX_FUTURE = timedelta(minutes=10)
#: The most tasks a list shows; the office works the top of it.
LIST_LIMIT = 500
#: Said by the record form when two officers record the same follow-up at once.
RECORDED_MEANWHILE = N_(
    "Someone else recorded this follow-up meanwhile; reload the page to see what they found."
)


def _require(allowed: bool) -> None:
    if not allowed:
        raise NotAllowed(N_("Your role does not allow this."))


def _new_task(
    dispute: Dispute,
    *,
    kind: TaskKind,
    due_on: date,
    agreement: Agreement | None = None,
    deadline: date | None = None,
    terms: Sequence[int] = (),
) -> FollowUpTask:
    assert dispute.id is not None
    return FollowUpTask(
        dispute_id=dispute.id,
        station_id=dispute.station_id,
        office_id=dispute.office_id,
        agreement_id=agreement.id if agreement else None,
        kind=kind,
        legal_track=agreement.legal_track if agreement else "",
        deadline=deadline,
        due_on=due_on,
        terms=format_terms(terms),
        assignee_id=dispute.assignee_id,
    )


def _audit_task(db: AsyncSession, actor: Actor, action: str, task: FollowUpTask) -> None:
    record(
        db,
        actor,
        action,
        object_type="followup_task",
        object_id=task.id,
        detail={
            "dispute": task.dispute_id,
            "kind": task.kind,
            "due": task.due_on.isoformat(),
            "terms": task.terms,
        },
    )


async def create_for_agreement(
    db: AsyncSession,
    actor: Actor,
    agreement: Agreement,
    content: DraftContent,
    *,
    settings: Settings,
    tz: ZoneInfo,
) -> list[FollowUpTask]:
    """The tasks a sealed agreement (or a sealed correction of one) leaves, one per deadline.

    An agreement without any deadline (freezing asks for one, so only an
    agreement kept from before that rule) is still followed up once, for all its terms, by
    the outcome rule counted from the day it was sealed.
    """
    assert agreement.id is not None
    dispute = await db.get(Dispute, agreement.dispute_id)
    assert dispute is not None
    calendar = await load_calendar(db, agreement.station_id)
    wanted: list[tuple[date | None, tuple[int, ...]]] = list(due_dates(content))
    if not wanted:
        wanted = [(None, tuple(range(1, len(content.terms) + 1)))]
    earlier = select(Agreement.id).where(
        Agreement.draft_id == agreement.draft_id, col(Agreement.id) != agreement.id
    )
    old = list(
        await db.exec(
            select(FollowUpTask)
            .where(col(FollowUpTask.agreement_id).in_(earlier))
            .order_by(col(FollowUpTask.id))
        )
    )
    keys = {(deadline, format_terms(terms)) for deadline, terms in wanted}
    covered: set[tuple[date | None, str]] = set()
    for task in old:
        key = (task.deadline, task.terms)
        if task.status == TaskStatus.DONE and key in keys:
            covered.add(key)
        elif task.status == TaskStatus.OPEN and key in keys and key not in covered:
            task.agreement_id = agreement.id
            task.legal_track = agreement.legal_track
            task.due_on = _due(agreement, task.deadline, calendar, settings, tz)
            task.version += 1
            covered.add(key)
            _audit_task(db, actor, "followup.carry_over", task)
        elif task.status == TaskStatus.OPEN:
            task.status = TaskStatus.VOID
            task.version += 1
            _audit_task(db, actor, "followup.void", task)
    created = []
    for deadline, terms in wanted:
        if (deadline, format_terms(terms)) in covered:
            continue
        task = _new_task(
            dispute,
            kind=TaskKind.PERFORMANCE,
            due_on=_due(agreement, deadline, calendar, settings, tz),
            agreement=agreement,
            deadline=deadline,
            terms=terms,
        )
        db.add(task)
        created.append(task)
    await db.flush()
    for task in created:
        _audit_task(db, actor, "followup.create", task)
    return created


def _due(
    agreement: Agreement,
    deadline: date | None,
    calendar: WorkCalendar,
    settings: Settings,
    tz: ZoneInfo,
) -> date:
    if deadline is None:
        return outcome_due(local_date(agreement.sealed_at, tz), calendar, settings)
    return performance_due(agreement.legal_track, deadline, calendar, settings)


async def _open_tasks(db: AsyncSession, dispute_id: int) -> list[FollowUpTask]:
    return list(
        await db.exec(
            select(FollowUpTask)
            .where(FollowUpTask.dispute_id == dispute_id, FollowUpTask.status == TaskStatus.OPEN)
            .order_by(col(FollowUpTask.id))
        )
    )


async def create_for_outcome(
    db: AsyncSession,
    actor: Actor,
    dispute: Dispute,
    kind: TaskKind,
    *,
    settings: Settings,
    tz: ZoneInfo,
) -> FollowUpTask | None:
    """The follow-up by rule of a dispute that ended without agreement; one at a time."""
    assert dispute.id is not None
    if any(task.kind == kind for task in await _open_tasks(db, dispute.id)):
        return None
    calendar = await load_calendar(db, dispute.station_id)
    task = _new_task(dispute, kind=kind, due_on=outcome_due(local_today(tz), calendar, settings))
    db.add(task)
    await db.flush()
    _audit_task(db, actor, "followup.create", task)
    return task


async def _void_open(
    db: AsyncSession, actor: Actor, dispute_id: int, *, keep: int | None = None
) -> None:
    """The dispute left the follow-up stage: what was still to check no longer is."""
    for task in await _open_tasks(db, dispute_id):
        if task.id != keep:
            task.status = TaskStatus.VOID
            task.version += 1
            _audit_task(db, actor, "followup.void", task)


async def after_status_change(
    db: AsyncSession,
    actor: Actor,
    dispute: Dispute,
    previous: Status,
    *,
    settings: Settings,
    tz: ZoneInfo,
) -> None:
    """What a staff status change means for the follow-ups, in the same transaction.

    Referred or withdrawn: a follow-up by rule. No agreement is not an end (another
    session or a referral may follow, each with its own), unless staff move it on
    to the follow-up stage. Closed, or back in mediation: nothing is left to check.
    """
    assert dispute.id is not None
    current = Status(dispute.status)
    if current in (Status.REFERRED, Status.WITHDRAWN):
        await create_for_outcome(
            db, actor, dispute, OUTCOME_KINDS[current], settings=settings, tz=tz
        )
    elif current == Status.FOLLOW_UP and previous == Status.NO_AGREEMENT:
        await create_for_outcome(
            db, actor, dispute, TaskKind.NO_AGREEMENT, settings=settings, tz=tz
        )
    elif current in (Status.CLOSED, Status.IN_MEDIATION):
        await _void_open(db, actor, dispute.id)


async def transition(
    db: AsyncSession,
    actor: Actor,
    dispute_id: int,
    data: TransitionInput,
    *,
    settings: Settings,
    tz: ZoneInfo,
) -> Dispute:
    """A staff status change (``disputes.service.transition``) and what it means for follow-ups.

    The pages and the API call this instead of the disputes service, in one unit of work.
    """
    previous = Status((await disputes.get_dispute(db, actor, dispute_id)).status)
    dispute = await disputes.transition(db, actor, dispute_id, data)
    await after_status_change(db, actor, dispute, previous, settings=settings, tz=tz)
    return dispute


# --- reading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskRow:
    task: FollowUpTask
    dispute: Dispute
    #: Overdue, due today or later, on the office's day (for open tasks).
    level: Urgency


@dataclass(frozen=True)
class Term:
    number: int
    text: str


@dataclass(frozen=True)
class TaskView:
    """A task with what its form shows: the dispute, the agreement and its terms' words."""

    task: FollowUpTask
    dispute: Dispute
    agreement: Agreement | None
    terms: list[Term]
    record: FollowUpRecord | None
    results: dict[int, str]
    can_record: bool


def _scoped(actor: Actor, office_id: int | None):  # type: ignore[no-untyped-def]
    """Tasks the actor may read; an office outside their scope is refused, not emptied."""
    _require(roles.can_read_disputes(actor))
    query = select(FollowUpTask, Dispute).where(
        FollowUpTask.station_id == actor.station_id, FollowUpTask.dispute_id == Dispute.id
    )
    if office_id is not None and not roles.can_read_followups(actor, office_id):
        raise NotAllowed(
            N_("That beat office is outside your scope."), fields={"office_id": "scope"}
        )
    if actor.role in roles.OFFICE_ROLES:
        query = query.where(FollowUpTask.office_id == actor.office_id)
    if office_id is not None:
        query = query.where(FollowUpTask.office_id == office_id)
    return query


async def list_tasks(
    db: AsyncSession, actor: Actor, flt: TaskFilter, *, tz: ZoneInfo
) -> list[TaskRow]:
    """The follow-up list: overdue first, then due today, then later."""
    query = _scoped(actor, flt.office_id).where(FollowUpTask.status == flt.status)
    if flt.mine:
        query = query.where(FollowUpTask.assignee_id == actor.user_id)
    rows = await db.exec(
        query.order_by(col(FollowUpTask.due_on), col(FollowUpTask.id)).limit(LIST_LIMIT)
    )
    today = local_today(tz)
    found = [TaskRow(task, dispute, urgency(task.due_on, today)) for task, dispute in rows]
    if flt.status != TaskStatus.OPEN:
        return sorted(found, key=lambda row: row.task.done_at or row.task.created_at, reverse=True)
    return sorted(found, key=lambda row: list_order(row.task.due_on, today, row.task.id or 0))


async def due_today(db: AsyncSession, actor: Actor, *, tz: ZoneInfo) -> list[TaskRow]:
    """今日待办: open tasks due today or overdue, the actor's own first."""
    if not roles.can_read_disputes(actor):
        return []
    today = local_today(tz)
    rows = await db.exec(
        _scoped(actor, None)
        .where(FollowUpTask.status == TaskStatus.OPEN, col(FollowUpTask.due_on) <= today)
        .order_by(col(FollowUpTask.due_on), col(FollowUpTask.id))
        .limit(LIST_LIMIT)
    )
    found = [TaskRow(task, dispute, urgency(task.due_on, today)) for task, dispute in rows]
    return sorted(
        found,
        key=lambda row: (
            row.task.assignee_id != actor.user_id,
            list_order(row.task.due_on, today, row.task.id or 0),
        ),
    )


async def _task(db: AsyncSession, actor: Actor, task_id: int) -> FollowUpTask:
    task = await db.get(FollowUpTask, task_id)
    if task is None or task.station_id != actor.station_id:
        raise NotFound(N_("No such follow-up."))
    if not roles.can_read_followups(actor, task.office_id):
        raise NotAllowed(N_("This follow-up belongs to another beat office."))
    return task


async def signed_content(db: AsyncSession, agreement: Agreement) -> DraftContent:
    """The content that was signed and sealed: the frozen revision with the sealed text's hash.

    The draft itself may be under correction by now, its terms already changing.
    """
    revision = (
        await db.exec(
            select(DraftRevision)
            .where(
                DraftRevision.draft_id == agreement.draft_id,
                DraftRevision.text_sha256 == agreement.text_sha256,
            )
            .order_by(col(DraftRevision.number).desc())
        )
    ).first()
    if revision is not None:
        return DraftContent.model_validate_json(revision.content)
    draft = await db.get(AgreementDraft, agreement.draft_id)
    assert draft is not None
    return DraftContent.model_validate_json(draft.content)


async def _results_of(db: AsyncSession, record_id: int) -> dict[int, str]:
    rows = await db.exec(
        select(FollowUpTermResult)
        .where(FollowUpTermResult.record_id == record_id)
        .order_by(col(FollowUpTermResult.term_number))
    )
    return {row.term_number: row.result for row in rows}


async def record_of(db: AsyncSession, task_id: int) -> FollowUpRecord | None:
    return (await db.exec(select(FollowUpRecord).where(FollowUpRecord.task_id == task_id))).first()


async def get_task(db: AsyncSession, actor: Actor, task_id: int) -> TaskView:
    task = await _task(db, actor, task_id)
    dispute = await db.get(Dispute, task.dispute_id)
    assert dispute is not None
    agreement = await db.get(Agreement, task.agreement_id) if task.agreement_id else None
    terms: list[Term] = []
    if agreement is not None:
        content = await signed_content(db, agreement)
        for number in parse_terms(task.terms):
            text = content.terms[number - 1] if number <= len(content.terms) else ""
            terms.append(Term(number, text))
    found = await record_of(db, task_id)
    return TaskView(
        task=task,
        dispute=dispute,
        agreement=agreement,
        terms=terms,
        record=found,
        results=await _results_of(db, found.id or 0) if found else {},
        can_record=roles.can_record_followup(actor, task.office_id)
        and task.status == TaskStatus.OPEN,
    )


@dataclass(frozen=True)
class DisputeFollowUp:
    task: FollowUpTask
    record: FollowUpRecord | None
    results: dict[int, str]


async def of_dispute(db: AsyncSession, actor: Actor, dispute_id: int) -> list[DisputeFollowUp]:
    """A dispute's tasks and what each found, for its detail page (oldest first)."""
    tasks = list(
        await db.exec(
            select(FollowUpTask)
            .where(FollowUpTask.dispute_id == dispute_id)
            .order_by(col(FollowUpTask.due_on), col(FollowUpTask.id))
        )
    )
    found = []
    for task in tasks:
        if not roles.can_read_followups(actor, task.office_id):
            continue
        done = await record_of(db, task.id or 0)
        results = await _results_of(db, done.id or 0) if done else {}
        found.append(DisputeFollowUp(task, done, results))
    return found


# --- recording ----------------------------------------------------------------------------


def _aware(value: datetime, tz: ZoneInfo) -> datetime:
    """Form input is local wall-clock time."""
    return value.replace(tzinfo=tz) if value.tzinfo is None else value


def _check_results(
    task: FollowUpTask, data: RecordInput
) -> tuple[dict[int, TermResult], TermResult]:
    """Exactly one result per term the task covers; a task with no terms takes one outcome."""
    covered = parse_terms(task.terms)
    unknown = sorted(set(data.results) - set(covered))
    if unknown:
        raise ValidationFailed(
            N_("This follow-up does not cover term %(term)s."),
            params={"term": "、".join(str(n) for n in unknown)},
            fields={f"results.{n}": "unknown" for n in unknown},
        )
    if not covered:
        if data.outcome is None:
            raise ValidationFailed(
                N_("Give the result of the follow-up."), fields={"outcome": "missing"}
            )
        return {}, data.outcome
    missing = [n for n in covered if n not in data.results]
    if missing:
        raise ValidationFailed(
            N_("Give a result for every term (missing: %(terms)s)."),
            params={"terms": "、".join(str(n) for n in missing)},
            fields={f"results.{n}": "missing" for n in missing},
        )
    results = {n: data.results[n] for n in covered}
    return results, overall(results.values())


def _check_next_step(track: str, outcome: TermResult, data: RecordInput) -> str:
    """The stored next step: ``''``, ``book``, ``close``, ``punish`` or ``refer_<body>``."""
    allowed = next_steps(track, outcome)
    if not allowed:
        if data.next_step is not None:
            raise ValidationFailed(
                N_("Everything was performed: no next step is needed."),
                fields={"next_step": "not_needed"},
            )
        return ""
    if data.next_step is None:
        raise ValidationFailed(
            N_("Not everything was performed: choose what happens next."),
            fields={"next_step": "missing"},
        )
    if data.next_step not in allowed:
        raise ValidationFailed(
            N_(
                "A police mediation agreement that was not performed goes back for a "
                "decision on punishment."
            ),
            fields={"next_step": "punish_only"},
        )
    if data.next_step == NextStep.REFER:
        if data.refer_to is None:
            raise ValidationFailed(
                N_("Say where the dispute is referred to."), fields={"refer_to": "missing"}
            )
        return f"refer_{data.refer_to.value}"
    if data.next_step in (NextStep.CLOSE, NextStep.PUNISH) and len(data.next_detail) < 2:
        raise ValidationFailed(N_("Give the reason."), fields={"next_detail": "missing"})
    return data.next_step.value


async def _claim(db: AsyncSession, task: FollowUpTask, expected: int) -> None:
    """Mark the task done only if it is still the version the form was built from."""
    done = {"status": TaskStatus.DONE.value, "done_at": utcnow()}
    still_open = (col(FollowUpTask.status) == TaskStatus.OPEN,)
    if not await claim_next_version(db, task, expected, done, also=still_open):
        raise Conflict(RECORDED_MEANWHILE)


async def _first_sealed(db: AsyncSession, agreement: Agreement) -> datetime:
    """When the agreement first took effect: a correction does not move that moment."""
    first = (
        await db.exec(
            select(Agreement.sealed_at)
            .where(Agreement.draft_id == agreement.draft_id)
            .order_by(col(Agreement.version))
        )
    ).first()
    return first if first is not None else agreement.sealed_at


@dataclass(frozen=True)
class Recorded:
    record: FollowUpRecord
    dispute: Dispute
    #: Where the officer goes next: the booking page after "book another session".
    next_url: str


async def record_followup(
    db: AsyncSession,
    actor: Actor,
    task_id: int,
    data: RecordInput,
    *,
    settings: Settings,
    tz: ZoneInfo,
) -> Recorded:
    """Record what a follow-up found and move the dispute on, all or nothing."""
    task = await _task(db, actor, task_id)
    _require(roles.can_record_followup(actor, task.office_id))
    if task.status != TaskStatus.OPEN or data.expected_version != task.version:
        raise Conflict(RECORDED_MEANWHILE)
    dispute = await db.get(Dispute, task.dispute_id)
    assert dispute is not None and dispute.id is not None
    agreement = await db.get(Agreement, task.agreement_id) if task.agreement_id else None
    contacted = _aware(data.contacted_at, tz)
    now = utcnow()
    if contacted > now + MAX_FUTURE:
        raise ValidationFailed(
            N_("The time of the follow-up cannot be in the future."),
            fields={"contacted_at": "future"},
        )
    # The form gives the time to the minute: a visit in the minute of sealing is after it.
    if agreement is not None and contacted < _minute(await _first_sealed(db, agreement)):
        raise ValidationFailed(
            N_("The follow-up cannot be dated before the agreement was sealed."),
            fields={"contacted_at": "before_agreement"},
        )
    if agreement is None and contacted < _minute(task.created_at):
        raise ValidationFailed(
            N_("The follow-up cannot be dated before the outcome it follows up."),
            fields={"contacted_at": "before_outcome"},
        )
    results, outcome = _check_results(task, data)
    next_step = _check_next_step(task.legal_track, outcome, data)
    await _claim(db, task, data.expected_version)
    done = FollowUpRecord(
        task_id=task_id,
        dispute_id=dispute.id,
        contacted_at=contacted,
        method=data.method,
        reached=data.reached,
        outcome=outcome,
        next_step=next_step,
        next_detail=data.next_detail,
        note=data.note,
        recorded_by_id=actor.user_id,
    )
    db.add(done)
    await db.flush()
    assert done.id is not None
    for number, result in results.items():
        db.add(FollowUpTermResult(record_id=done.id, term_number=number, result=result))
    record(
        db,
        actor,
        "followup.record",
        object_type="followup_task",
        object_id=task.id,
        detail={
            "dispute": dispute.id,
            "outcome": outcome.value,
            "next": next_step,
            "record": done.id,
        },
    )
    next_url = await _move_dispute(db, actor, dispute, task, done, outcome, data, settings, tz)
    await db.flush()
    return Recorded(done, dispute, next_url)


async def _move_dispute(
    db: AsyncSession,
    actor: Actor,
    dispute: Dispute,
    task: FollowUpTask,
    done: FollowUpRecord,
    outcome: TermResult,
    data: RecordInput,
    settings: Settings,
    tz: ZoneInfo,
) -> str:
    """The dispute's next status after a follow-up, through the disputes service."""
    assert dispute.id is not None
    here = f"/disputes/{dispute.id}"
    if Status(dispute.status) in (
        Status.AGREEMENT,
        Status.REFERRED,
        Status.WITHDRAWN,
        Status.NO_AGREEMENT,
    ):
        await disputes.transition_internal(db, actor, dispute, Status.FOLLOW_UP, "")
    if dispute.status != Status.FOLLOW_UP:
        # Reopened or closed meanwhile by other means: the record stands on its own.
        return here
    if outcome in SETTLED:
        if not await _open_tasks(db, dispute.id):
            await disputes.transition_internal(db, actor, dispute, Status.CLOSED, "")
        return here
    step = data.next_step
    note = data.next_detail or data.note[:1000]
    await _void_open(db, actor, dispute.id, keep=task.id)
    if step == NextStep.BOOK:
        await disputes.reopen(
            db, actor, dispute, Status.IN_MEDIATION, note, link_kind="followup", link_id=done.id
        )
        return f"/disputes/{dispute.id}/sessions/new"
    if step == NextStep.CLOSE:
        await disputes.transition_internal(db, actor, dispute, Status.CLOSED, data.next_detail)
        return here
    if step == NextStep.PUNISH:
        dispute.route = Route.CASE_TEAM
        await disputes.reopen(
            db,
            actor,
            dispute,
            Status.REFERRED,
            data.next_detail,
            link_kind="followup",
            link_id=done.id,
            kind="returned_for_punishment",
        )
        return here
    if data.refer_to == ReferTo.CASE_TEAM:
        dispute.route = Route.CASE_TEAM
    await disputes.reopen(
        db, actor, dispute, Status.REFERRED, note, link_kind="followup", link_id=done.id
    )
    await create_for_outcome(db, actor, dispute, TaskKind.REFERRED, settings=settings, tz=tz)
    return here
