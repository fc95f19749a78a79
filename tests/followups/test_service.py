"""Follow-ups through the services: made on sealing, recorded once, moving the dispute on.

Every agreement here is sealed the production way (signed by every link, a
real PDF sealed by a real key), so the tasks come from the same transaction
that archives the agreement.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import func, select

from server.audit_labels import ACTION_LABELS
from server.db import transaction
from server.disputes.lifecycle import Route, Status
from server.disputes.schemas import TransitionInput
from server.errors import Conflict, DomainError, NotAllowed, ValidationFailed
from server.followups import service as followups
from server.followups import tasks as followup_tasks
from server.followups import views as followup_views
from server.followups.rules import TaskKind, TaskStatus
from server.followups.schemas import TaskFilter
from server.models import (
    AuditEvent,
    DisputeEvent,
    FollowUpRecord,
    FollowUpTask,
    FollowUpTermResult,
    utcnow,
)
from tests.agreements.helpers import complete_content
from tests.agreements.test_sealed_text import InProcess
from tests.agreements.test_sealed_text import producer as producer
from tests.disputes.conftest import Env
from tests.disputes.conftest import env as env
from tests.followups.helpers import (
    correct,
    dispute_of,
    record,
    record_input,
    seal_agreement,
    tasks_of,
    timeline,
)

#: Before the National Day week of 2025, so a deadline of 30 September is in the future.
BEFORE_NATIONAL_DAY = datetime(2025, 9, 20, 2, 0, tzinfo=UTC)


async def count(env: Env, model: type) -> int:
    async with env.factory() as db:
        return (await db.exec(select(func.count()).select_from(model))).one()


async def actions(env: Env, action: str) -> int:
    async with env.factory() as db:
        return (
            await db.exec(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
            )
        ).one()


# --- created on sealing -------------------------------------------------------------------


async def test_sealing_creates_one_task_for_the_deadline(env: Env, producer: InProcess) -> None:
    deadline = date.today() + timedelta(days=30)
    sealed = await seal_agreement(
        env, producer, content=complete_content(performance_deadline=deadline)
    )
    (task,) = await tasks_of(env, sealed.dispute_id)
    assert task.kind == TaskKind.PERFORMANCE
    assert task.status == TaskStatus.OPEN
    assert task.agreement_id == sealed.agreement.id
    assert task.legal_track == "people"
    assert task.deadline == deadline
    assert task.due_on == deadline  # people's mediation: on the deadline by default
    assert task.terms == "1,2"
    assert task.assignee_id == env.seed.uid("officer")
    assert (await dispute_of(env, sealed.dispute_id)).status == Status.AGREEMENT
    assert await actions(env, "followup.create") == 1
    assert "followup.create" in ACTION_LABELS


@pytest.mark.parametrize("pinned_clock", [BEFORE_NATIONAL_DAY], indirect=True)
async def test_police_mediation_is_checked_on_the_make_up_saturday(
    env: Env, producer: InProcess
) -> None:
    sealed = await seal_agreement(
        env,
        producer,
        track="police",
        content=complete_content(performance_deadline=date(2025, 9, 30)),
    )
    (task,) = await tasks_of(env, sealed.dispute_id)
    assert task.legal_track == "police"
    assert task.due_on == date(2025, 10, 11)  # 9, 10 and (make-up Saturday) 11 October


async def test_a_correction_keeping_the_deadline_keeps_the_one_task(
    env: Env, producer: InProcess
) -> None:
    sealed = await seal_agreement(env, producer)
    (before,) = await tasks_of(env, sealed.dispute_id)
    second = await correct(
        env, producer, sealed, complete_content(performance_manner="银行转账并出具收条。")
    )
    (after,) = await tasks_of(env, sealed.dispute_id)
    assert after.id == before.id
    assert after.status == TaskStatus.OPEN
    assert after.agreement_id == second.id
    assert await actions(env, "followup.carry_over") == 1
    # A visit between the first sealing and the correction is after the agreement took effect.
    between = sealed.agreement.sealed_at + (second.sealed_at - sealed.agreement.sealed_at) / 2
    done = await record(env, after.id or 0, record_input(after, contacted_at=between))
    assert done.record.contacted_at == between


async def test_a_correction_moving_the_deadline_voids_the_old_task(
    env: Env, producer: InProcess
) -> None:
    sealed = await seal_agreement(env, producer)
    later = date.today() + timedelta(days=45)
    second = await correct(env, producer, sealed, complete_content(performance_deadline=later))
    old, new = await tasks_of(env, sealed.dispute_id)
    assert old.status == TaskStatus.VOID
    assert (new.status, new.deadline, new.agreement_id) == (TaskStatus.OPEN, later, second.id)


async def test_a_correction_after_the_visit_does_not_visit_again(
    env: Env, producer: InProcess
) -> None:
    sealed = await seal_agreement(env, producer)
    (task,) = await tasks_of(env, sealed.dispute_id)
    # Two terms, one still to come: the dispute stays in follow-up after the record.
    await record(env, task.id or 0, record_input(task))
    await correct(env, producer, sealed, complete_content(performance_manner="银行转账。"))
    (only,) = await tasks_of(env, sealed.dispute_id)
    assert only.status == TaskStatus.DONE


# --- recording ------------------------------------------------------------------------------


async def test_all_performed_closes_the_dispute_with_its_timeline(
    env: Env, producer: InProcess
) -> None:
    sealed = await seal_agreement(env, producer)
    (task,) = await tasks_of(env, sealed.dispute_id)
    before = await timeline(env, sealed.dispute_id)
    done = await record(
        env, task.id or 0, record_input(task, results={1: "performed", 2: "not_relevant"})
    )
    assert done.record.outcome == "performed"
    assert done.next_url == f"/disputes/{sealed.dispute_id}"
    after = await timeline(env, sealed.dispute_id)
    assert after[: len(before)] == before
    assert after[len(before) :] == [
        ("status_changed", "agreement", "follow_up"),
        ("status_changed", "follow_up", "closed"),
    ]
    (task,) = await tasks_of(env, sealed.dispute_id)
    assert (task.status, task.version) == (TaskStatus.DONE, 2)
    async with env.factory() as db:
        results = list(await db.exec(select(FollowUpTermResult)))
    assert sorted((r.term_number, r.result) for r in results) == [
        (1, "performed"),
        (2, "not_relevant"),
    ]
    assert await actions(env, "followup.record") == 1


def _bad_inputs(task: FollowUpTask, sealed_at: datetime) -> list[tuple[dict[str, object], str]]:
    return [
        ({"contacted_at": sealed_at - timedelta(minutes=5)}, "contacted_at"),
        ({"contacted_at": utcnow() + timedelta(days=1)}, "contacted_at"),
        ({"results": {1: "performed", 2: "performed", 3: "performed"}}, "results.3"),
        ({"results": {1: "performed"}}, "results.2"),
        ({"results": {1: "not_performed", 2: "performed"}}, "next_step"),
        ({"next_step": "book"}, "next_step"),
        ({"results": {1: "partly", 2: "performed"}, "next_step": "refer"}, "refer_to"),
        ({"results": {1: "partly", 2: "performed"}, "next_step": "close"}, "next_detail"),
    ]


async def test_every_bad_input_is_refused_and_changes_nothing(
    env: Env, producer: InProcess
) -> None:
    sealed = await seal_agreement(env, producer)
    (task,) = await tasks_of(env, sealed.dispute_id)
    events = await timeline(env, sealed.dispute_id)
    for overrides, field in _bad_inputs(task, sealed.agreement.sealed_at):
        with pytest.raises(ValidationFailed) as caught:
            await record(env, task.id or 0, record_input(task, **overrides))
        assert field in caught.value.fields, (overrides, caught.value)
    with pytest.raises(Conflict):
        await record(env, task.id or 0, record_input(task, expected_version=task.version + 1))
    assert await count(env, FollowUpRecord) == 0
    assert await count(env, FollowUpTermResult) == 0
    (unchanged,) = await tasks_of(env, sealed.dispute_id)
    assert (unchanged.status, unchanged.version) == (TaskStatus.OPEN, 1)
    assert await timeline(env, sealed.dispute_id) == events
    assert (await dispute_of(env, sealed.dispute_id)).status == Status.AGREEMENT


async def test_an_unknown_term_is_named_in_the_message(env: Env, producer: InProcess) -> None:
    sealed = await seal_agreement(env, producer)
    (task,) = await tasks_of(env, sealed.dispute_id)
    with pytest.raises(ValidationFailed) as caught:
        await record(
            env,
            task.id or 0,
            record_input(task, results={1: "performed", 2: "performed", 7: "performed"}),
        )
    assert caught.value.message == "This follow-up does not cover term %(term)s."
    assert caught.value.params == {"term": "7"}


async def test_two_officers_recording_at_once_one_wins(env: Env, producer: InProcess) -> None:
    sealed = await seal_agreement(env, producer)
    (task,) = await tasks_of(env, sealed.dispute_id)
    slow = env.factory()
    try:
        seen = await followup_views.get_task(slow, env.actor("chief"), task.id or 0)
        assert seen.can_record and seen.task.version == 1
        await record(env, task.id or 0, record_input(task))  # the quick one commits first
        with pytest.raises(Conflict) as caught:
            await followups.record_followup(
                slow,
                env.actor("chief"),
                task.id or 0,
                record_input(
                    seen.task,
                    reached="张国强本人",
                    results={1: "partly", 2: "performed"},
                    next_step="close",
                    next_detail="双方已和解",
                ),
                settings=env.config.followup_settings,
                tz=env.tz,
            )
        assert "recorded this follow-up meanwhile" in caught.value.message
        await slow.rollback()
    finally:
        await slow.close()
    async with env.factory() as db:
        (kept,) = list(await db.exec(select(FollowUpRecord)))
    assert kept.reached == "王丽华本人"
    assert kept.recorded_by_id == env.seed.uid("officer")
    assert await count(env, FollowUpTermResult) == 2
    assert (await dispute_of(env, sealed.dispute_id)).status == Status.CLOSED


async def test_not_performed_books_another_session_and_keeps_the_timeline(
    env: Env, producer: InProcess
) -> None:
    sealed = await seal_agreement(env, producer)
    (task,) = await tasks_of(env, sealed.dispute_id)
    before = await timeline(env, sealed.dispute_id)
    done = await record(
        env,
        task.id or 0,
        record_input(
            task,
            results={1: "performed", 2: "not_performed"},
            next_step="book",
            next_detail="被申请人称无力一次付清，约定再次调解。",
        ),
    )
    assert done.record.outcome == "not_performed"
    assert done.next_url == f"/disputes/{sealed.dispute_id}/sessions/new"
    dispute = await dispute_of(env, sealed.dispute_id)
    assert dispute.status == Status.IN_MEDIATION
    after = await timeline(env, sealed.dispute_id)
    assert after[: len(before)] == before
    assert after[len(before) :] == [
        ("status_changed", "agreement", "follow_up"),
        ("reopened", "follow_up", "in_mediation"),
    ]
    async with env.factory() as db:
        reopened = (
            await db.exec(select(DisputeEvent).where(DisputeEvent.kind == "reopened"))
        ).one()
    assert (reopened.link_kind, reopened.link_id) == ("followup", done.record.id)
    assert reopened.note == "被申请人称无力一次付清，约定再次调解。"


async def test_police_not_performed_goes_back_for_punishment(env: Env, producer: InProcess) -> None:
    sealed = await seal_agreement(env, producer, track="police")
    (task,) = await tasks_of(env, sealed.dispute_id)
    not_paid = {1: "performed", 2: "not_performed"}
    with pytest.raises(ValidationFailed) as caught:
        await record(env, task.id or 0, record_input(task, results=not_paid, next_step="book"))
    assert caught.value.fields == {"next_step": "punish_only"}
    with pytest.raises(ValidationFailed) as caught:
        await record(env, task.id or 0, record_input(task, results=not_paid, next_step="punish"))
    assert caught.value.fields == {"next_detail": "missing"}
    done = await record(
        env,
        task.id or 0,
        record_input(task, results=not_paid, next_step="punish", next_detail="逾期未赔偿医药费"),
    )
    assert done.record.next_step == "punish"
    dispute = await dispute_of(env, sealed.dispute_id)
    assert (dispute.status, dispute.route) == (Status.REFERRED, Route.CASE_TEAM)
    assert (await timeline(env, sealed.dispute_id))[-1] == (
        "returned_for_punishment",
        "follow_up",
        "referred",
    )
    # The case team decides now: no follow-up by rule is left open for the office.
    assert [t.status for t in await tasks_of(env, sealed.dispute_id)] == [TaskStatus.DONE]


async def test_refer_names_the_body_and_follows_up_by_rule(env: Env, producer: InProcess) -> None:
    sealed = await seal_agreement(env, producer)
    (task,) = await tasks_of(env, sealed.dispute_id)
    done = await record(
        env,
        task.id or 0,
        record_input(
            task,
            results={1: "partly", 2: "performed"},
            next_step="refer",
            refer_to="court",
            next_detail="引导申请人向人民法院起诉",
        ),
    )
    assert done.record.next_step == "refer_court"
    assert (await dispute_of(env, sealed.dispute_id)).status == Status.REFERRED
    first, second = await tasks_of(env, sealed.dispute_id)
    assert first.status == TaskStatus.DONE
    assert (second.kind, second.status, second.terms) == (TaskKind.REFERRED, TaskStatus.OPEN, "")
    # Its follow-up has no terms: one result, and "settled" ends it.
    closing = await record(env, second.id or 0, record_input(second))
    assert closing.record.outcome == "performed"
    assert (await dispute_of(env, sealed.dispute_id)).status == Status.CLOSED


async def test_close_with_reason(env: Env, producer: InProcess) -> None:
    sealed = await seal_agreement(env, producer)
    (task,) = await tasks_of(env, sealed.dispute_id)
    await record(
        env,
        task.id or 0,
        record_input(
            task,
            results={1: "performed", 2: "partly"},
            next_step="close",
            next_detail="申请人表示余款不再追究",
        ),
    )
    assert (await dispute_of(env, sealed.dispute_id)).status == Status.CLOSED
    assert (await timeline(env, sealed.dispute_id))[-1] == ("status_changed", "follow_up", "closed")


# --- outcomes without agreement -------------------------------------------------------------


async def test_withdrawn_gets_a_follow_up_by_rule(env: Env) -> None:
    from tests.agreements.helpers import book_session

    officer = env.actor("officer")
    booked = await book_session(env)
    async with transaction(env.factory) as db:
        await followup_tasks.transition(
            db,
            officer,
            booked.dispute_id,
            TransitionInput(to_status="withdrawn", note="申请人撤回"),
            settings=env.config.followup_settings,
            tz=env.tz,
        )
    (task,) = await tasks_of(env, booked.dispute_id)
    assert (task.kind, task.agreement_id, task.terms) == (TaskKind.WITHDRAWN, None, "")
    assert task.due_on > date.today()
    assert task.assignee_id == officer.user_id
    # Before the outcome is too early.
    with pytest.raises(ValidationFailed) as caught:
        await record(
            env, task.id or 0, record_input(task, contacted_at=task.created_at - timedelta(hours=2))
        )
    assert caught.value.fields == {"contacted_at": "before_outcome"}


async def _move(env: Env, dispute_id: int, to_status: str) -> None:
    async with transaction(env.factory) as db:
        await followup_tasks.transition(
            db,
            env.actor("officer"),
            dispute_id,
            TransitionInput(to_status=to_status, note="办理"),
            settings=env.config.followup_settings,
            tz=env.tz,
        )


async def test_referred_gets_one_and_no_agreement_only_when_it_is_the_end(env: Env) -> None:
    from tests.agreements.helpers import book_session

    referred = await book_session(env)
    await _move(env, referred.dispute_id, "referred")
    (task,) = await tasks_of(env, referred.dispute_id)
    assert task.kind == TaskKind.REFERRED
    stalled = await book_session(env, days=4)
    await _move(env, stalled.dispute_id, "no_agreement")
    assert await tasks_of(env, stalled.dispute_id) == []  # another session may follow
    await _move(env, stalled.dispute_id, "follow_up")
    (task,) = await tasks_of(env, stalled.dispute_id)
    assert (task.kind, task.status) == (TaskKind.NO_AGREEMENT, TaskStatus.OPEN)
    # Closed by staff: nothing is left to check.
    await _move(env, stalled.dispute_id, "closed")
    (task,) = await tasks_of(env, stalled.dispute_id)
    assert task.status == TaskStatus.VOID


# --- who may, and the lists -------------------------------------------------------------------


async def test_roles_and_offices(env: Env, producer: InProcess) -> None:
    sealed = await seal_agreement(env, producer)
    (task,) = await tasks_of(env, sealed.dispute_id)
    for username in ("auxiliary", "clerk", "officer_b", "admin", "outsider"):
        with pytest.raises(DomainError) as caught:
            await record(env, task.id or 0, record_input(task), username=username)
        assert caught.value.code in ("not_allowed", "not_found"), username
    async with env.factory() as db:
        seen = await followup_views.get_task(db, env.actor("auxiliary"), task.id or 0)
        assert not seen.can_record
        assert [t.text for t in seen.terms] == list(complete_content().terms)
        clerk_rows = await followup_views.list_tasks(
            db, env.actor("clerk"), TaskFilter(), tz=env.tz
        )
        assert [r.task.id for r in clerk_rows] == [task.id]
        assert (
            await followup_views.list_tasks(db, env.actor("officer_b"), TaskFilter(), tz=env.tz)
            == []
        )
        with pytest.raises(NotAllowed) as caught:
            await followup_views.list_tasks(
                db, env.actor("officer_b"), TaskFilter(office_id=env.seed.office_a), tz=env.tz
            )
        assert caught.value.fields == {"office_id": "scope"}
    assert await count(env, FollowUpRecord) == 0


async def test_todays_list_puts_overdue_first_and_mine_first(env: Env, producer: InProcess) -> None:
    sealed = await seal_agreement(env, producer)
    other = await seal_agreement(env, producer, days=4)
    today = datetime.now(UTC).astimezone(env.tz).date()
    async with transaction(env.factory) as db:
        first = await db.get(FollowUpTask, (await tasks_of(env, sealed.dispute_id))[0].id)
        second = await db.get(FollowUpTask, (await tasks_of(env, other.dispute_id))[0].id)
        assert first is not None and second is not None
        first.due_on = today
        first.assignee_id = env.seed.uid("chief")
        second.due_on = today - timedelta(days=2)
    async with env.factory() as db:
        listed = await followup_views.list_tasks(db, env.actor("chief"), TaskFilter(), tz=env.tz)
        assert [r.task.id for r in listed] == [second.id, first.id]
        todo = await followup_views.due_today(db, env.actor("chief"), tz=env.tz)
        assert [r.task.id for r in todo] == [first.id, second.id]  # the chief's own first
        mine = await followup_views.list_tasks(
            db, env.actor("chief"), TaskFilter(mine=True), tz=env.tz
        )
        assert [r.task.id for r in mine] == [first.id]


@pytest.mark.around_local_midnight
async def test_due_today_is_the_office_day(env: Env, producer: InProcess) -> None:
    """Either side of midnight in Asia/Shanghai, "today" is the office's date, not UTC's."""
    sealed = await seal_agreement(env, producer)
    (task,) = await tasks_of(env, sealed.dispute_id)
    local_today = datetime.now(UTC).astimezone(env.tz).date()
    for due, listed in ((local_today, True), (local_today + timedelta(days=1), False)):
        async with transaction(env.factory) as db:
            row = await db.get(FollowUpTask, task.id)
            assert row is not None
            row.due_on = due
        async with env.factory() as db:
            todo = await followup_views.due_today(db, env.actor("officer"), tz=env.tz)
        assert [r.task.id for r in todo] == ([task.id] if listed else []), due
