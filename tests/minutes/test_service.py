"""Writing the minutes: timed entries, the speaker check, edits with one winner, sign-off."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from server.errors import (
    MinutesConflict,
    MinutesSignedOff,
    MinutesUnknownSpeaker,
    NotAllowed,
    NotFound,
    ValidationFailed,
)
from server.minutes import service
from server.minutes.service import EntryChange
from server.models import AuditEvent, MinutesEntry, MinutesSignoff
from server.versioned import claim_next_version
from tests.disputes.conftest import Env
from tests.http.test_door import APPLICANT, RESPONDENT, Booked, book_session

#: As the app passes it: the room opens an hour early (also keeps the tests good at midnight).
OPENS = timedelta(hours=1)


def inv(booked: Booked, who: str) -> str:
    return f"inv-{booked.invitation_ids[who]}"


async def add(
    env: Env,
    booked: Booked,
    speaker: str,
    text: str = "",
    username: str = "clerk",
    at: datetime | None = None,
) -> MinutesEntry:
    async with env.factory() as db:
        entry = await service.add_entry(
            db,
            env.actor(username),
            booked.session_id,
            speaker,
            text,
            tz=env.tz,
            at=at,
            opens_before=OPENS,
        )
        await db.commit()
        return entry


async def edit(
    env: Env, booked: Booked, entry_id: int, change: EntryChange, username: str = "clerk"
) -> MinutesEntry:
    async with env.factory() as db:
        entry = await service.edit_entry(
            db,
            env.actor(username),
            booked.session_id,
            entry_id,
            change,
            tz=env.tz,
            opens_before=OPENS,
        )
        await db.commit()
        return entry


async def entries(env: Env, booked: Booked) -> list[MinutesEntry]:
    async with env.factory() as db:
        return await service.list_entries(db, booked.session_id)


async def sign_off(env: Env, booked: Booked) -> None:
    async with env.factory() as db:
        db.add(
            MinutesSignoff(
                session_id=booked.session_id,
                signed_off_by_id=env.seed.uid("officer"),
                entry_count=1,
                entries_sha256="0" * 64,
                pdf_sha256="0" * 64,
                pdf_size=1,
                file_name="minutes.pdf",
            )
        )
        await db.commit()


async def test_the_clerk_writes_an_entry_timed_now_and_it_is_audited(
    env: Env, booked: Booked
) -> None:
    before = datetime.now(UTC)
    entry = await add(env, booked, inv(booked, "applicant"), "狗每天夜里叫到两点。")
    assert entry.id is not None and entry.version == 1
    assert before - timedelta(seconds=1) <= entry.at <= datetime.now(UTC)
    assert (entry.speaker_name, entry.speaker_role) == (APPLICANT, "party")
    assert (entry.author_key, entry.author_name) == (
        f"staff-{env.seed.uid('clerk')}",
        "测试clerk",
    )
    (stored,) = await entries(env, booked)
    assert stored.text == "狗每天夜里叫到两点。"
    async with env.factory() as db:
        actions = (
            await db.exec(select(AuditEvent.action).where(col(AuditEvent.action).like("minutes.%")))
        ).all()
    assert actions == ["minutes.add"]


async def test_who_may_write(env: Env, booked: Booked) -> None:
    speaker = inv(booked, "respondent")
    assert (await add(env, booked, speaker, "我愿意道歉。", username="officer")).id
    # The presiding officer's colleague co-hosts and reads, but does not write.
    for username, error in [
        ("auxiliary", NotAllowed),
        ("chief", NotAllowed),
        ("officer_b", NotAllowed),
        ("admin", NotAllowed),
        ("outsider", NotFound),
    ]:
        with pytest.raises(error):
            await add(env, booked, speaker, "不该写入", username=username)
    assert [e.text for e in await entries(env, booked)] == ["我愿意道歉。"]


async def test_a_speaker_not_in_the_session_is_refused_by_name(env: Env, booked: Booked) -> None:
    other = await book_session(env.factory, env.seed, env.config, starts_in=timedelta(days=2))
    outsider_invitee = f"inv-{other.invitation_ids['applicant']}"
    for speaker in (outsider_invitee, "staff-999999", f"staff-{env.seed.uid('chief')}", ""):
        with pytest.raises(MinutesUnknownSpeaker) as caught:
            await add(env, booked, speaker, "谁说的？")
        assert caught.value.fields == {"speaker": service.UNKNOWN_SPEAKER}
    # An observer watches: not a speaker either.
    with pytest.raises(MinutesUnknownSpeaker):
        await add(env, booked, inv(booked, "observer"), "旁听人插话")
    entry = await add(env, booked, inv(booked, "applicant"), "我说的。")
    with pytest.raises(MinutesUnknownSpeaker):
        await edit(env, booked, entry.id or 0, EntryChange(1, speaker_key=outsider_invitee))
    (stored,) = await entries(env, booked)
    assert stored.speaker_key == inv(booked, "applicant") and stored.version == 1


async def test_too_long_and_wrong_times_are_refused(env: Env, booked: Booked) -> None:
    speaker = inv(booked, "applicant")
    with pytest.raises(ValidationFailed) as caught:
        await add(env, booked, speaker, "长" * (service.MAX_TEXT + 1))
    assert set(caught.value.fields) == {"text"}
    assert (await add(env, booked, speaker, "长" * service.MAX_TEXT)).id
    for at in (
        datetime.now(UTC) + timedelta(minutes=10),  # later than now
        booked.starts_at - timedelta(days=2),  # another day
        booked.starts_at + timedelta(days=2),
        datetime(2026, 1, 1, 10, 0),  # no time zone: cannot say which day
    ):
        with pytest.raises(ValidationFailed) as caught:
            await add(env, booked, speaker, "时间不对", at=at)
        assert set(caught.value.fields) == {"at"}
    assert len(await entries(env, booked)) == 1


async def test_a_moment_ago_is_accepted_and_entries_read_in_time_order(
    env: Env, booked: Booked
) -> None:
    now = datetime.now(UTC)
    later = await add(env, booked, inv(booked, "applicant"), "后说的")
    earlier = await add(
        env, booked, inv(booked, "respondent"), "先说的", at=now - timedelta(seconds=30)
    )
    assert [e.id for e in await entries(env, booked)] == [earlier.id, later.id]
    # Moving an entry's time moves it in the list.
    await edit(env, booked, earlier.id or 0, EntryChange(1, at=now + timedelta(seconds=1)))
    assert [e.text for e in await entries(env, booked)] == ["后说的", "先说的"]


async def test_editing_text_and_speaker_moves_the_version(env: Env, booked: Booked) -> None:
    entry = await add(env, booked, inv(booked, "applicant"), "狗")
    entry = await edit(env, booked, entry.id or 0, EntryChange(1, text="狗叫"))
    entry = await edit(
        env, booked, entry.id or 0, EntryChange(2, speaker_key=inv(booked, "respondent"))
    )
    assert (entry.version, entry.text, entry.speaker_name) == (3, "狗叫", RESPONDENT)
    # A stale base is refused, naming the version there is now.
    with pytest.raises(MinutesConflict) as caught:
        await edit(env, booked, entry.id or 0, EntryChange(1, text="旧的"))
    assert caught.value.params == {"version": 3}
    (stored,) = await entries(env, booked)
    assert (stored.version, stored.text) == (3, "狗叫")


async def test_two_edits_of_one_entry_from_one_base_give_one_winner(
    env: Env, booked: Booked
) -> None:
    entry = await add(env, booked, inv(booked, "applicant"), "起")
    entry_id = entry.id or 0
    slow = env.factory()
    try:
        # The slow writer has read version 1; the quick one commits version 2 meanwhile.
        loaded = await slow.get(MinutesEntry, entry_id)
        assert loaded is not None and loaded.version == 1
        await edit(env, booked, entry_id, EntryChange(1, text="快的"), username="officer")
        with pytest.raises(MinutesConflict):
            await service.edit_entry(
                slow,
                env.actor("clerk"),
                booked.session_id,
                entry_id,
                EntryChange(1, text="慢的"),
                tz=env.tz,
                opens_before=OPENS,
            )
        await slow.rollback()
    finally:
        await slow.close()
    # And truly at once: exactly one of the two succeeds.
    results = await asyncio.gather(
        edit(env, booked, entry_id, EntryChange(2, text="甲")),
        edit(env, booked, entry_id, EntryChange(2, text="乙"), username="officer"),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, MinutesEntry)]
    lost = [r for r in results if isinstance(r, MinutesConflict)]
    assert len(won) == 1 and len(lost) == 1, results
    (stored,) = await entries(env, booked)
    assert stored.version == 3 and stored.text == won[0].text


async def test_two_writers_adding_at_once_lose_nothing(env: Env, booked: Booked) -> None:
    base = datetime.now(UTC) - timedelta(seconds=40)
    said = [(base + timedelta(seconds=i), f"第{i}句") for i in range(8)]
    await asyncio.gather(
        *(
            add(
                env,
                booked,
                inv(booked, "applicant" if i % 2 else "respondent"),
                text,
                username="clerk" if i % 2 else "officer",
                at=at,
            )
            for i, (at, text) in enumerate(reversed(said))
        )
    )
    assert [e.text for e in await entries(env, booked)] == [text for _at, text in said]


async def test_deleting_an_entry(env: Env, booked: Booked) -> None:
    entry = await add(env, booked, inv(booked, "applicant"), "误建")
    async with env.factory() as db:
        with pytest.raises(MinutesConflict):
            await service.delete_entry(db, env.actor("clerk"), booked.session_id, entry.id or 0, 2)
        with pytest.raises(NotAllowed):
            await service.delete_entry(
                db, env.actor("auxiliary"), booked.session_id, entry.id or 0, 1
            )
        await service.delete_entry(db, env.actor("clerk"), booked.session_id, entry.id or 0, 1)
        await db.commit()
    assert await entries(env, booked) == []


async def test_an_entry_of_another_session_is_not_found(env: Env, booked: Booked) -> None:
    other = await book_session(env.factory, env.seed, env.config, starts_in=timedelta(days=2))
    async with env.factory() as db:
        entry = MinutesEntry(
            session_id=other.session_id,
            at=other.starts_at,
            speaker_key=inv(other, "applicant"),
            speaker_name=APPLICANT,
            speaker_role="party",
            text="别的场次",
            author_key="staff-1",
            author_name="测试clerk",
        )
        db.add(entry)
        await db.commit()
    with pytest.raises(NotFound):
        await edit(env, booked, entry.id or 0, EntryChange(1, text="改"))
    async with env.factory() as db:
        with pytest.raises(NotFound):
            await service.delete_entry(db, env.actor("clerk"), booked.session_id, entry.id or 0, 1)


async def test_after_the_sign_off_nothing_changes(env: Env, booked: Booked) -> None:
    entry = await add(env, booked, inv(booked, "applicant"), "定稿前")
    await sign_off(env, booked)
    with pytest.raises(MinutesSignedOff):
        await add(env, booked, inv(booked, "applicant"), "定稿后")
    with pytest.raises(MinutesSignedOff):
        await edit(env, booked, entry.id or 0, EntryChange(1, text="改了"))
    async with env.factory() as db:
        with pytest.raises(MinutesSignedOff):
            await service.delete_entry(db, env.actor("clerk"), booked.session_id, entry.id or 0, 1)
        assert await service.is_signed_off(db, booked.session_id)
    (stored,) = await entries(env, booked)
    assert (stored.text, stored.version) == ("定稿前", 1)


async def test_a_sign_off_committed_meanwhile_wins_over_an_edit(env: Env, booked: Booked) -> None:
    """The edit checked before the sign-off landed; its update still finds it signed off."""
    entry = await add(env, booked, inv(booked, "applicant"), "起")
    slow = env.factory()
    try:
        assert not await service.is_signed_off(slow, booked.session_id)
        await slow.rollback()
        await sign_off(env, booked)
        # The edit's read of the entry, after the checks passed: its update must still fail.
        loaded = await slow.get(MinutesEntry, entry.id)
        assert loaded is not None
        ok = await claim_next_version(
            slow, loaded, 1, {"text": "晚了"}, also=(service._not_signed_off(booked.session_id),)
        )
        assert ok is False
        await slow.rollback()
    finally:
        await slow.close()


@pytest.mark.around_local_midnight
async def test_a_sitting_across_midnight_is_one_hearing(env: Env, pinned_clock: datetime) -> None:
    booked = await book_session(env.factory, env.seed, env.config, starts_in=timedelta(minutes=5))
    entry = await add(env, booked, inv(booked, "applicant"), "开场")
    assert entry.id is not None
