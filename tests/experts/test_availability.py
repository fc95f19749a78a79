"""Availability: the overlap rule, the free / not free / undeclared rule, the service."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time

import pytest
from sqlmodel import col, select

from server.auth.roles import Actor
from server.auth.sessions import actor_for
from server.db import SessionFactory, transaction
from server.errors import NotAllowed, ValidationFailed
from server.experts import availability, service
from server.experts.availability import EntryKind, FreeState, Window
from server.experts.schemas import ExpertInput
from server.models import AuditEvent, ExpertAvailability
from tests.conftest import Seed

TZ_NAME = "Asia/Shanghai"
TUESDAY = date(2026, 12, 8)


def weekly(weekday: int, starts: str, ends: str) -> ExpertAvailability:
    return ExpertAvailability(
        expert_id=1,
        kind="weekly",
        weekday=weekday,
        starts=time.fromisoformat(starts),
        ends=time.fromisoformat(ends),
        created_by_id=1,
    )


def exception(on: date, starts: str, ends: str, *, available: bool) -> ExpertAvailability:
    return ExpertAvailability(
        expert_id=1,
        kind="exception",
        on_date=on,
        starts=time.fromisoformat(starts),
        ends=time.fromisoformat(ends),
        available=available,
        created_by_id=1,
    )


def at(day: date, hhmm: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm))


# --- the rules --------------------------------------------------------------------------


def test_weekly_windows_on_the_same_weekday_may_not_overlap() -> None:
    entries = [weekly(1, "14:00", "17:00")]
    clash = Window(EntryKind.WEEKLY, time(16, 0), time(18, 0), weekday=1)
    assert availability.overlapping(entries, clash) is entries[0]
    # Touching is not overlapping; another weekday never clashes.
    assert (
        availability.overlapping(entries, Window(EntryKind.WEEKLY, time(17), time(18), weekday=1))
        is None
    )
    assert (
        availability.overlapping(entries, Window(EntryKind.WEEKLY, time(15), time(16), weekday=2))
        is None
    )


def test_exceptions_on_the_same_date_may_not_overlap_free_or_not() -> None:
    entries = [exception(TUESDAY, "09:00", "12:00", available=False)]
    same_day = Window(EntryKind.EXCEPTION, time(11), time(13), on_date=TUESDAY, available=True)
    assert availability.overlapping(entries, same_day) is entries[0]
    other_day = Window(EntryKind.EXCEPTION, time(11), time(13), on_date=date(2026, 12, 9))
    assert availability.overlapping(entries, other_day) is None
    # A weekly window does not clash with an exception: the exception wins on its date.
    assert (
        availability.overlapping(entries, Window(EntryKind.WEEKLY, time(9), time(12), weekday=1))
        is None
    )


@pytest.mark.parametrize(("starts", "ends"), [(time(10), time(10)), (time(11), time(10))])
def test_a_window_ends_after_it_starts(starts: time, ends: time) -> None:
    with pytest.raises(ValidationFailed) as caught:
        availability.check_window(Window(EntryKind.WEEKLY, starts, ends, weekday=0))
    assert caught.value.fields == {"ends": "before_start"}


def test_a_weekly_window_names_a_weekday_and_an_exception_a_date() -> None:
    with pytest.raises(ValidationFailed):
        availability.check_window(Window(EntryKind.WEEKLY, time(9), time(10)))
    with pytest.raises(ValidationFailed):
        availability.check_window(Window(EntryKind.EXCEPTION, time(9), time(10)))


def test_free_needs_one_window_covering_the_whole_span() -> None:
    entries = [weekly(1, "14:00", "15:00"), weekly(1, "15:00", "17:00")]
    assert (
        availability.availability_at(entries, at(TUESDAY, "15:00"), at(TUESDAY, "16:00"))[0]
        == FreeState.FREE
    )
    # Across two touching windows: not covered by one, so not free.
    state, reason = availability.availability_at(
        entries, at(TUESDAY, "14:30"), at(TUESDAY, "15:30")
    )
    assert state == FreeState.NOT_FREE
    assert reason == availability.NOT_FREE_OUTSIDE_WEEKLY
    # Another weekday: declared weekly hours exist, none that day.
    assert (
        availability.availability_at(
            entries, at(date(2026, 12, 9), "15:00"), at(date(2026, 12, 9), "16:00")
        )[0]
        == FreeState.NOT_FREE
    )


def test_an_exception_wins_over_the_weekly_windows_of_its_date() -> None:
    entries = [weekly(1, "09:00", "18:00"), exception(TUESDAY, "13:00", "14:00", available=False)]
    # Any part of the span inside a "not free" exception: not free.
    state, reason = availability.availability_at(
        entries, at(TUESDAY, "12:30"), at(TUESDAY, "13:15")
    )
    assert (state, reason) == (FreeState.NOT_FREE, availability.NOT_FREE_EXCEPTION)
    # The weekly window no longer counts that day, even outside the exception's hours.
    state, reason = availability.availability_at(
        entries, at(TUESDAY, "10:00"), at(TUESDAY, "11:00")
    )
    assert (state, reason) == (FreeState.NOT_FREE, availability.NOT_FREE_OUTSIDE_DATE)
    # The next Tuesday, the weekly window applies again.
    next_tuesday = date(2026, 12, 15)
    assert (
        availability.availability_at(entries, at(next_tuesday, "10:00"), at(next_tuesday, "11:00"))[
            0
        ]
        == FreeState.FREE
    )


def test_an_extra_window_on_a_date_makes_the_expert_free() -> None:
    saturday = date(2026, 12, 12)
    entries = [weekly(1, "09:00", "12:00"), exception(saturday, "09:00", "11:00", available=True)]
    state, reason = availability.availability_at(
        entries, at(saturday, "09:30"), at(saturday, "10:30")
    )
    assert (state, reason) == (FreeState.FREE, availability.FREE_BY_EXCEPTION)


def test_nothing_declared_is_undeclared() -> None:
    assert (
        availability.availability_at([], at(TUESDAY, "10:00"), at(TUESDAY, "11:00"))[0]
        == FreeState.UNDECLARED
    )
    other_date = [exception(date(2026, 12, 1), "09:00", "10:00", available=False)]
    assert (
        availability.availability_at(other_date, at(TUESDAY, "10:00"), at(TUESDAY, "11:00"))[0]
        == FreeState.UNDECLARED
    )


def test_a_span_past_midnight_is_never_covered_by_one_window() -> None:
    entries = [weekly(1, "20:00", "23:59")]
    state, _ = availability.availability_at(
        entries, at(TUESDAY, "23:00"), at(date(2026, 12, 9), "00:30")
    )
    assert state == FreeState.NOT_FREE


def test_session_instants_are_read_in_the_offices_zone() -> None:
    from zoneinfo import ZoneInfo

    # Tuesday 14:00-15:00 in Shanghai is 06:00-07:00 UTC.
    entries = [weekly(1, "14:00", "17:00")]
    starts = datetime(2026, 12, 8, 6, 0, tzinfo=UTC)
    ends = datetime(2026, 12, 8, 7, 0, tzinfo=UTC)
    assert (
        availability.state_for_session(entries, starts, ends, ZoneInfo(TZ_NAME))[0]
        == FreeState.FREE
    )
    # Read in UTC it would be 06:00, outside the window.
    assert (
        availability.state_for_session(entries, starts, ends, ZoneInfo("UTC"))[0]
        == FreeState.NOT_FREE
    )


# --- the service ------------------------------------------------------------------------


async def new_expert(factory: SessionFactory, seed: Seed) -> int:
    async with transaction(factory) as db:
        expert = await service.create_expert(
            db,
            actor_for(seed.users["chief"]),
            ExpertInput(name="陈律师", kind="lawyer", phone="13600136000"),
        )
    assert expert.id is not None
    return expert.id


async def test_adding_an_overlapping_window_is_refused_and_changes_nothing(
    factory: SessionFactory, seed: Seed
) -> None:
    expert_id = await new_expert(factory, seed)
    officer = actor_for(seed.users["officer"])
    async with transaction(factory) as db:
        await availability.add_entry(
            db, officer, expert_id, Window(EntryKind.WEEKLY, time(14), time(17), weekday=1)
        )
    with pytest.raises(ValidationFailed) as caught:
        async with transaction(factory) as db:
            await availability.add_entry(
                db, officer, expert_id, Window(EntryKind.WEEKLY, time(16), time(18), weekday=1)
            )
    assert caught.value.message == availability.OVERLAPS_WEEKLY
    assert caught.value.params == {"starts": "14:00", "ends": "17:00"}
    async with transaction(factory) as db:
        rows = list(await db.exec(select(ExpertAvailability)))
        audit = list(
            await db.exec(
                select(AuditEvent.action).where(col(AuditEvent.action).startswith("availability"))
            )
        )
    assert [(r.starts, r.ends) for r in rows] == [(time(14), time(17))]
    assert audit == ["availability.add"]


async def test_overlapping_exceptions_are_refused(factory: SessionFactory, seed: Seed) -> None:
    expert_id = await new_expert(factory, seed)
    officer = actor_for(seed.users["officer"])
    leave = Window(EntryKind.EXCEPTION, time(9), time(18), on_date=TUESDAY, available=False)
    async with transaction(factory) as db:
        await availability.add_entry(db, officer, expert_id, leave)
    extra = Window(EntryKind.EXCEPTION, time(17), time(19), on_date=TUESDAY, available=True)
    with pytest.raises(ValidationFailed) as caught:
        async with transaction(factory) as db:
            await availability.add_entry(db, officer, expert_id, extra)
    assert caught.value.message == availability.OVERLAPS_EXCEPTION


async def test_only_those_who_keep_the_pool_declare_and_delete(
    factory: SessionFactory, seed: Seed
) -> None:
    expert_id = await new_expert(factory, seed)
    window = Window(EntryKind.WEEKLY, time(9), time(12), weekday=0)
    for username in ("clerk", "auxiliary", "admin"):
        with pytest.raises(NotAllowed):
            async with transaction(factory) as db:
                await availability.add_entry(db, actor_for(seed.users[username]), expert_id, window)
    async with transaction(factory) as db:
        entry = await availability.add_entry(db, actor_for(seed.users["chief"]), expert_id, window)
    assert entry.id is not None
    with pytest.raises(NotAllowed):
        async with transaction(factory) as db:
            await availability.delete_entry(db, actor_for(seed.users["clerk"]), expert_id, entry.id)
    async with transaction(factory) as db:
        # The clerk reads what was declared.
        assert (
            len(await availability.list_entries(db, actor_for(seed.users["clerk"]), expert_id)) == 1
        )
        await availability.delete_entry(db, actor_for(seed.users["officer"]), expert_id, entry.id)
    async with transaction(factory) as db:
        assert await availability.list_entries(db, actor_for(seed.users["chief"]), expert_id) == []


async def test_two_clashing_windows_added_at_once_give_one_winner(
    factory: SessionFactory, seed: Seed
) -> None:
    expert_id = await new_expert(factory, seed)
    officer = actor_for(seed.users["officer"])
    chief = actor_for(seed.users["chief"])

    async def add(actor: Actor, starts: int, ends: int) -> str:
        window = Window(EntryKind.WEEKLY, time(starts), time(ends), weekday=1)
        try:
            async with transaction(factory) as db:
                await availability.add_entry(db, actor, expert_id, window)
                # Hold the transaction open a moment, as a slow request would.
                await asyncio.sleep(0.05)
        except ValidationFailed as exc:
            return exc.message
        return "added"

    results = await asyncio.gather(add(officer, 14, 17), add(chief, 15, 18))
    assert sorted(results) == sorted(["added", availability.OVERLAPS_WEEKLY])
    assert len(await _all(factory)) == 1


async def _all(factory: SessionFactory) -> list[ExpertAvailability]:
    async with factory() as db:
        return list(await db.exec(select(ExpertAvailability)))
