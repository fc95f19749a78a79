"""Follow-up tasks (回访): the ones an outcome leaves, and those it no longer needs.

No HTTP here; everything runs inside the caller's transaction with its audit rows.

Where tasks come from:

- sealing an agreement (``agreements.archive.seal`` calls ``create_for_agreement``
  in the transaction that archives it): one task per distinct deadline;
- a dispute ending without agreement through a staff status change (the pages
  and the API call ``transition``, which wraps ``disputes.service.transition``):
  one task by rule. Calling from there, and not from inside the disputes
  service, keeps ``server.disputes`` free of any import of this package.

A correction of a sealed agreement does not duplicate tasks: an open task
whose deadline and terms the corrected text keeps is moved to the new
version (and its due day recomputed); an open task for a deadline the
correction dropped is voided; a deadline already checked is not checked again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.agreements.deadlines import due_dates
from server.agreements.schemas import DraftContent
from server.audit import record
from server.auth.roles import Actor
from server.disputes import service as disputes
from server.disputes.lifecycle import Status
from server.disputes.schemas import TransitionInput
from server.followups.rules import (
    OUTCOME_KINDS,
    Settings,
    TaskKind,
    TaskStatus,
    format_terms,
    outcome_due,
    performance_due,
)
from server.local_time import local_date, local_today
from server.models import (
    Agreement,
    Dispute,
    FollowUpTask,
)
from server.workdays import WorkCalendar, load_calendar


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


async def open_tasks(db: AsyncSession, dispute_id: int) -> list[FollowUpTask]:
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
    if any(task.kind == kind for task in await open_tasks(db, dispute.id)):
        return None
    calendar = await load_calendar(db, dispute.station_id)
    task = _new_task(dispute, kind=kind, due_on=outcome_due(local_today(tz), calendar, settings))
    db.add(task)
    await db.flush()
    _audit_task(db, actor, "followup.create", task)
    return task


async def void_open(
    db: AsyncSession, actor: Actor, dispute_id: int, *, keep: int | None = None
) -> None:
    """The dispute left the follow-up stage: what was still to check no longer is."""
    for task in await open_tasks(db, dispute_id):
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
        await void_open(db, actor, dispute.id)


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
