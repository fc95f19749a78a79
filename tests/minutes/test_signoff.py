"""Signing off the minutes: who may, what is refused, one winner, and what is kept."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest
from sqlmodel import select

from server.agreements.settings import SealingNotConfigured
from server.agreements.works import AgreementWorks
from server.db import transaction
from server.errors import Conflict, NotAllowed, NotFound, ValidationFailed
from server.minutes import signoff, sitting
from server.models import AuditEvent, DisputeEvent
from server.models.minutes import MinutesSignoff
from server.sessions.schemas import CancelInput
from server.sessions.service import cancel
from tests.agreements.helpers import AGENT, APPLICANT, RESPONDENT, Booked, book_session
from tests.agreements.pdf_support import poppler, squeeze
from tests.disputes.conftest import Env
from tests.disputes.helpers import ADULT_ID
from tests.minutes.helpers import EXPERT, HEARING, Said, keys_of, settings_for, write_entries


@pytest.fixture
async def booked(env: Env) -> Booked:
    return await book_session(env, agent_for_respondent=True, expert=True)


@pytest.fixture
def settings(env: Env, works: AgreementWorks, tmp_path: Path) -> signoff.Settings:
    return settings_for(works, tmp_path / "agreements", env.tz)


async def sign(
    env: Env, booked: Booked, settings: signoff.Settings, username: str = "officer", **kw: str
) -> MinutesSignoff:
    async with transaction(env.factory) as db:
        return await signoff.sign_off(
            db, env.actor(username), booked.session_id, settings=settings, **kw
        )


async def rows(env: Env, model: type) -> list:  # type: ignore[type-arg]
    async with env.factory() as db:
        return list(await db.exec(select(model)))


async def test_the_presiding_officer_signs_off_and_the_sealed_paper_is_kept(
    env: Env, booked: Booked, settings: signoff.Settings
) -> None:
    await write_entries(env.factory, booked.session_id, keys_of(booked), HEARING)
    row = await sign(env, booked, settings)
    assert row.entry_count == len(HEARING)
    assert row.signed_off_by_id == booked.presiding_id
    assert row.file_name.startswith("minutes/")
    data = (settings.agreements_dir / row.file_name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == row.pdf_sha256 and len(data) == row.pdf_size
    async with env.factory() as db:
        minutes = await sitting.load(db, env.actor("officer"), booked.session_id, tz=env.tz)
        assert await signoff.read_pdf(settings.agreements_dir, row) == data
    assert minutes.sha256 == row.entries_sha256
    text = squeeze(poppler("pdftotext", data))
    # Everyone with their role, names in full; what each said, in order; the sign-off.
    # (A long speaker cell wraps, and pdftotext interleaves it with the text beside it.)
    for expected in (
        f"参加人员：{APPLICANT}（申请人）、{RESPONDENT}（被申请人）、{AGENT}（委托代理人）、"
        f"{EXPERT}（律师）",
        "调解员：测试officer",
        f"10:01:00{APPLICANT}（申请人）",
        "张国强家的狗每天夜里叫，还咬伤了我的腿",
        "饲养的动物造成他人损害的，饲养人应当承担侵权责任。",
        "调解员测试officer于",
        "记录人：测试clerk",
        row.entries_sha256,
    ):
        assert squeeze(expected) in text, expected
    assert text.index("狗平时拴着") < text.index("被申请人愿意赔偿医药费")
    assert ADULT_ID not in text and ADULT_ID[:6] + "*" not in text
    assert "Signature Validation: Signature is Valid." in poppler("pdfsig", data)
    audit = [e for e in await rows(env, AuditEvent) if e.action == "minutes.sign_off"]
    assert len(audit) == 1 and row.pdf_sha256 in audit[0].detail
    events = [e for e in await rows(env, DisputeEvent) if e.kind == signoff.TIMELINE_KIND]
    assert [(e.dispute_id, e.link_kind, e.link_id) for e in events] == [
        (booked.dispute_id, "minutes", booked.session_id)
    ]


@pytest.mark.parametrize("username", ["chief", "auxiliary", "clerk"])
async def test_only_the_presiding_officer_signs_off(
    env: Env, booked: Booked, settings: signoff.Settings, username: str
) -> None:
    await write_entries(env.factory, booked.session_id, keys_of(booked), HEARING)
    with pytest.raises(NotAllowed, match="Only the presiding officer"):
        await sign(env, booked, settings, username)
    assert await rows(env, MinutesSignoff) == []


async def test_another_office_is_refused_and_another_station_sees_nothing(
    env: Env, booked: Booked, settings: signoff.Settings
) -> None:
    await write_entries(env.factory, booked.session_id, keys_of(booked), HEARING)
    with pytest.raises(NotAllowed):
        await sign(env, booked, settings, "officer_b")
    with pytest.raises(NotFound):
        await sign(env, booked, settings, "officer_c")
    assert await rows(env, MinutesSignoff) == []


async def test_no_entries_nothing_to_sign_off(
    env: Env, booked: Booked, settings: signoff.Settings
) -> None:
    with pytest.raises(Conflict, match="no minutes entries"):
        await sign(env, booked, settings)
    # A line started and never typed is not an entry either.
    await write_entries(
        env.factory, booked.session_id, keys_of(booked), [Said(10, APPLICANT, "   ")]
    )
    with pytest.raises(Conflict, match="no minutes entries"):
        await sign(env, booked, settings)
    assert not settings.agreements_dir.exists() or not any(settings.agreements_dir.rglob("*.pdf"))


async def test_signed_off_once_then_refused_naming_who(
    env: Env, booked: Booked, settings: signoff.Settings
) -> None:
    await write_entries(env.factory, booked.session_id, keys_of(booked), HEARING)
    await sign(env, booked, settings)
    with pytest.raises(Conflict, match="already signed off") as refused:
        await sign(env, booked, settings)
    assert refused.value.params["name"] == "测试officer"
    assert len(list(settings.agreements_dir.rglob("*.pdf"))) == 1


async def test_two_sign_offs_at_once_one_winner_one_file(
    env: Env, booked: Booked, settings: signoff.Settings
) -> None:
    await write_entries(env.factory, booked.session_id, keys_of(booked), HEARING)
    results = await asyncio.gather(
        sign(env, booked, settings), sign(env, booked, settings), return_exceptions=True
    )
    won = [r for r in results if isinstance(r, MinutesSignoff)]
    lost = [r for r in results if isinstance(r, Exception)]
    assert len(won) == 1 and len(lost) == 1, results
    assert isinstance(lost[0], Conflict)
    files = list(settings.agreements_dir.rglob("*.pdf"))
    assert [f.relative_to(settings.agreements_dir).as_posix() for f in files] == [won[0].file_name]
    assert len(await rows(env, MinutesSignoff)) == 1
    events = [e for e in await rows(env, DisputeEvent) if e.kind == signoff.TIMELINE_KIND]
    assert len(events) == 1


async def test_minutes_changed_since_the_page_was_read_are_refused(
    env: Env, booked: Booked, settings: signoff.Settings
) -> None:
    await write_entries(env.factory, booked.session_id, keys_of(booked), HEARING[:2])
    async with env.factory() as db:
        shown = (await sitting.load(db, env.actor("officer"), booked.session_id, tz=env.tz)).sha256
    await write_entries(env.factory, booked.session_id, keys_of(booked), HEARING[2:])
    with pytest.raises(Conflict, match="changed after you opened them"):
        await sign(env, booked, settings, expected_sha256=shown)
    async with env.factory() as db:
        now = (await sitting.load(db, env.actor("officer"), booked.session_id, tz=env.tz)).sha256
    assert (await sign(env, booked, settings, expected_sha256=now)).entries_sha256 == now


async def test_a_character_the_paper_cannot_print_is_refused_by_its_entry(
    env: Env, booked: Booked, settings: signoff.Settings
) -> None:
    await write_entries(
        env.factory, booked.session_id, keys_of(booked), [Said(75, APPLICANT, "好的\u200b")]
    )
    with pytest.raises(ValidationFailed) as refused:
        await sign(env, booked, settings)
    assert refused.value.params["char"] == "U+200B"
    assert refused.value.params["time"].endswith(":01:15")
    assert await rows(env, MinutesSignoff) == []


async def test_a_cancelled_session_is_not_signed_off(
    env: Env, booked: Booked, settings: signoff.Settings
) -> None:
    await write_entries(env.factory, booked.session_id, keys_of(booked), HEARING)
    async with transaction(env.factory) as db:
        await cancel(db, env.actor("officer"), booked.session_id, CancelInput(reason="双方和解"))
    with pytest.raises(Conflict, match="cancelled"):
        await sign(env, booked, settings)


async def test_without_a_sealing_key_nothing_is_written(
    env: Env, booked: Booked, tmp_path: Path
) -> None:
    await write_entries(env.factory, booked.session_id, keys_of(booked), HEARING)
    with pytest.raises(SealingNotConfigured):
        await sign(env, booked, settings_for(AgreementWorks(None), tmp_path / "agreements", env.tz))
    assert await rows(env, MinutesSignoff) == []


async def test_the_kept_file_is_checked_against_its_hash(
    env: Env, booked: Booked, settings: signoff.Settings
) -> None:
    await write_entries(env.factory, booked.session_id, keys_of(booked), HEARING)
    row = await sign(env, booked, settings)
    path = settings.agreements_dir / row.file_name
    data = bytearray(path.read_bytes())
    data[-10] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(Conflict, match="does not match its recorded hash"):
        await signoff.read_pdf(settings.agreements_dir, row)
    path.unlink()
    with pytest.raises(Conflict, match="missing"):
        await signoff.read_pdf(settings.agreements_dir, row)
