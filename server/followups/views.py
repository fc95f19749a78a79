"""Follow-ups as the office reads them: the list (overdue first), today's, one task with
its terms and what was found, a dispute's follow-ups. Scoped to what the actor may see."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.agreements.schemas import DraftContent
from server.auth import roles
from server.auth.roles import Actor
from server.errors import N_, NotAllowed, NotFound
from server.followups.rules import (
    TaskStatus,
    Urgency,
    list_order,
    parse_terms,
    urgency,
)
from server.followups.schemas import TaskFilter
from server.local_time import local_today
from server.models import (
    Agreement,
    AgreementDraft,
    Dispute,
    DraftRevision,
    FollowUpRecord,
    FollowUpTask,
    FollowUpTermResult,
)

#: The most tasks a list shows; the office works the top of it.
LIST_LIMIT = 500


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
    roles.require(roles.can_read_disputes(actor))
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


async def task_in_scope(db: AsyncSession, actor: Actor, task_id: int) -> FollowUpTask:
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


async def results_of(db: AsyncSession, record_id: int) -> dict[int, str]:
    rows = await db.exec(
        select(FollowUpTermResult)
        .where(FollowUpTermResult.record_id == record_id)
        .order_by(col(FollowUpTermResult.term_number))
    )
    return {row.term_number: row.result for row in rows}


async def record_of(db: AsyncSession, task_id: int) -> FollowUpRecord | None:
    return (await db.exec(select(FollowUpRecord).where(FollowUpRecord.task_id == task_id))).first()


async def get_task(db: AsyncSession, actor: Actor, task_id: int) -> TaskView:
    task = await task_in_scope(db, actor, task_id)
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
        results=await results_of(db, found.id or 0) if found else {},
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
        results = await results_of(db, done.id or 0) if done else {}
        found.append(DisputeFollowUp(task, done, results))
    return found
