"""Recording a follow-up visit (回访): what it found per term and what happens next.

No HTTP here. The record, its term results, the task's claim (compare-and-set on
its version: of two officers recording at once one wins, the other is told) and
the dispute's next status are written in the caller's transaction, so a refusal
leaves nothing behind. Statuses change only through ``disputes.service``
(``transition_internal`` and ``reopen``), so the timeline keeps every step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.audit import record
from server.auth import roles
from server.auth.roles import Actor
from server.disputes import service as disputes
from server.disputes.lifecycle import Route, Status
from server.errors import N_, Conflict, ValidationFailed
from server.followups import tasks, views
from server.followups.rules import (
    SETTLED,
    NextStep,
    ReferTo,
    Settings,
    TaskKind,
    TaskStatus,
    TermResult,
    next_steps,
    overall,
    parse_terms,
)
from server.followups.schemas import RecordInput
from server.local_time import to_the_minute
from server.models import (
    Agreement,
    Dispute,
    FollowUpRecord,
    FollowUpTask,
    FollowUpTermResult,
    utcnow,
)
from server.versioned import claim_next_version

#: A clock a few minutes fast on the officer's phone is not "in the future".
MAX_FUTURE = timedelta(minutes=10)
#: Said by the record form when two officers record the same follow-up at once.
RECORDED_MEANWHILE = N_(
    "Someone else recorded this follow-up meanwhile; reload the page to see what they found."
)


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
    task = await views.task_in_scope(db, actor, task_id)
    roles.require(roles.can_record_followup(actor, task.office_id))
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
    if agreement is not None and contacted < to_the_minute(await _first_sealed(db, agreement)):
        raise ValidationFailed(
            N_("The follow-up cannot be dated before the agreement was sealed."),
            fields={"contacted_at": "before_agreement"},
        )
    if agreement is None and contacted < to_the_minute(task.created_at):
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
        if not await tasks.open_tasks(db, dispute.id):
            await disputes.transition_internal(db, actor, dispute, Status.CLOSED, "")
        return here
    step = data.next_step
    note = data.next_detail or data.note[:1000]
    await tasks.void_open(db, actor, dispute.id, keep=task.id)
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
    await tasks.create_for_outcome(db, actor, dispute, TaskKind.REFERRED, settings=settings, tz=tz)
    return here
