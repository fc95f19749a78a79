"""Judicial confirmation through the real services: sealing opens the window, the packet,
filing and decision with their refusals, the reminders, the role matrix."""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import Iterator
from datetime import UTC, timedelta
from typing import Any

import pytest
import time_machine
from sqlalchemy import update
from sqlmodel import col, select

from server.agreements import archive, archived_files
from server.agreements.rules import DraftStatus
from server.agreements.works import AgreementWorks
from server.db import transaction
from server.errors import Conflict, DomainError, NotAllowed, NotFound, ValidationFailed
from server.judicial import service
from server.judicial.clock import Status, effective_date, links_valid_until
from server.judicial.schemas import DecisionInput, FilingInput
from server.local_time import local_today
from server.models import AgreementDraft, AuditEvent, JudicialConfirmation, Signer, utcnow
from tests.agreements.helpers import book_session, freeze, frozen_draft, sign_as
from tests.agreements.pdf_support import poppler, squeeze
from tests.agreements.test_sealed_text import InProcess, settings_of, signed_and_ready_to_seal
from tests.agreements.test_sealed_text import producer as producer
from tests.disputes.conftest import Env
from tests.disputes.conftest import env as env
from tests.disputes.helpers import ADULT_ID
from tests.judicial.helpers import COURT, COURT_ADDRESS, sealed_case, set_court, window_of

RULING = "（2026）白法民特字第12号"


async def audit_actions(env: Env) -> list[str]:
    async with env.factory() as db:
        rows = await db.exec(select(AuditEvent).order_by(col(AuditEvent.id)))
        return [row.action for row in rows if row.action.startswith("judicial.")]


async def refused(env: Env, call: Any) -> DomainError:
    """Run ``call(db)`` in a transaction that must be refused; nothing it did is kept."""
    with pytest.raises(DomainError) as caught:
        async with transaction(env.factory) as db:
            await call(db)
    return caught.value


async def file(
    env: Env, window_id: int, version: int, days: int = 0, username: str = "officer", **extra: Any
) -> JudicialConfirmation:
    data = FilingInput(
        expected_version=version,
        filed_on=local_today(env.tz) + timedelta(days=days),
        **extra,
    )
    async with transaction(env.factory) as db:
        return await service.record_filing(db, env.actor(username), window_id, data, tz=env.tz)


async def test_sealing_a_peoples_agreement_opens_its_window(env: Env, producer: InProcess) -> None:
    agreement = await sealed_case(env, producer)
    row = await window_of(env, agreement)
    assert row.effective_on == effective_date(agreement.sealed_at, env.tz)
    assert row.effective_on == local_today(env.tz)
    assert (row.window_ends_on - row.effective_on).days >= 30
    assert (row.agreement_id, row.dispute_id, row.office_id) == (
        agreement.id,
        agreement.dispute_id,
        agreement.office_id,
    )
    assert row.court_name == COURT
    assert row.status == Status.OPEN and row.version == 1
    assert await audit_actions(env) == ["judicial.open"]


async def test_party_links_outlive_the_window(env: Env, producer: InProcess) -> None:
    agreement = await sealed_case(env, producer)
    row = await window_of(env, agreement)
    until = links_valid_until(row.window_ends_on, env.tz)
    async with env.factory() as db:
        signers = list(await db.exec(select(Signer).where(Signer.draft_id == agreement.draft_id)))
    parties = [s for s in signers if s.kind == "party"]
    assert len(parties) == 2
    for signer in parties:
        assert signer.expires_at.replace(tzinfo=UTC) >= until
    # The link still hands out the copy on the window's last local day, not the day after.
    last_moment = until - timedelta(minutes=1)
    assert last_moment.astimezone(env.tz).date() == row.window_ends_on
    assert until.astimezone(env.tz).date() == row.window_ends_on + timedelta(days=1)


async def test_a_police_agreement_has_no_window(env: Env, producer: InProcess) -> None:
    agreement = await sealed_case(env, producer, track="police")
    async with env.factory() as db:
        rows = list(await db.exec(select(JudicialConfirmation)))
    assert agreement.legal_track == "police" and rows == []


async def test_a_correction_keeps_the_window(env: Env, producer: InProcess) -> None:
    await set_court(env, env.seed.office_a)
    booked = await book_session(env)
    draft, issued = await frozen_draft(env, booked)
    draft_id = await signed_and_ready_to_seal(env, draft, issued)
    officer = env.actor("officer")
    first = await archive.seal(
        env.factory,
        officer,
        draft_id,
        producer=producer,
        vault=env.vault,
        settings=settings_of(env),
    )
    before = await window_of(env, first)
    with time_machine.travel(utcnow() + timedelta(days=3), tick=True):
        async with transaction(env.factory) as db:
            await archive.start_correction(db, officer, first.id or 0, "更正赔偿金额的大写")
        async with env.factory() as db:
            reopened = await db.get(AgreementDraft, draft_id)
        assert reopened is not None and reopened.status == DraftStatus.DRAFTING
        refrozen, _new = await freeze(env, draft_id, reopened.version)
        for link in issued:
            await sign_as(env, link.token, refrozen.frozen_sha256)
        second = await archive.seal(
            env.factory,
            officer,
            draft_id,
            producer=producer,
            vault=env.vault,
            settings=settings_of(env),
        )
    after = await window_of(env, second)
    assert second.version == 2
    assert after.id == before.id and after.agreement_id == second.id
    assert (after.effective_on, after.window_ends_on) == (
        before.effective_on,
        before.window_ends_on,
    )
    async with env.factory() as db:
        assert len(list(await db.exec(select(JudicialConfirmation)))) == 1


async def test_filing_refusals_change_nothing(env: Env, producer: InProcess) -> None:
    row = await window_of(env, await sealed_case(env, producer))
    assert row.id is not None
    tomorrow = await refused(env, lambda db: file_in(db, env, row.id, 1, days=1))
    assert isinstance(tomorrow, ValidationFailed) and tomorrow.fields == {"filed_on": "future"}
    early = await refused(env, lambda db: file_in(db, env, row.id, 1, days=-1))
    assert early.fields == {"filed_on": "before_effective"}
    stale = await refused(env, lambda db: file_in(db, env, row.id, 7))
    assert isinstance(stale, Conflict)
    unchanged = await window_of_id(env, row.id)
    assert (unchanged.status, unchanged.version, unchanged.filed_on) == (Status.OPEN, 1, None)
    assert await audit_actions(env) == ["judicial.open"]


async def test_a_filing_after_the_window_closed_is_refused(env: Env, producer: InProcess) -> None:
    row = await window_of(env, await sealed_case(env, producer))
    assert row.id is not None
    days = (row.window_ends_on - row.effective_on).days
    with time_machine.travel(utcnow() + timedelta(days=days + 1), tick=True):
        late = await refused(env, lambda db: file_in(db, env, row.id, 1))
        assert late.fields == {"filed_on": "lapsed"}
        # The last day itself is still inside the window.
        filed = await file(env, row.id, 1, days=-1)
    assert filed.status == Status.FILED and filed.filed_on == row.window_ends_on


async def test_filing_then_decision(env: Env, producer: InProcess) -> None:
    row = await window_of(env, await sealed_case(env, producer))
    assert row.id is not None
    early = await refused(env, lambda db: decide_in(db, env, row.id, 1, RULING))
    assert isinstance(early, Conflict)
    filed = await file(env, row.id, 1, note="双方当事人共同到场")
    assert (filed.status, filed.version, filed.court_name) == (Status.FILED, 2, COURT)
    again = await refused(env, lambda db: file_in(db, env, row.id, 2))
    assert isinstance(again, Conflict)
    blank = await refused(env, lambda db: decide_in(db, env, row.id, 2, "  "))
    assert blank.fields == {"ruling_number": "missing"}
    ahead = await refused(env, lambda db: decide_in(db, env, row.id, 2, RULING, days=1))
    assert ahead.fields == {"decided_on": "future"}
    async with transaction(env.factory) as db:
        done = await service.record_decision(
            db,
            env.actor("chief"),
            row.id,
            DecisionInput(
                expected_version=2,
                decision="confirmed",
                decided_on=local_today(env.tz),
                ruling_number=RULING,
            ),
            tz=env.tz,
        )
    assert (done.status, done.ruling_number, done.version) == (Status.CONFIRMED, RULING, 3)
    assert await audit_actions(env) == ["judicial.open", "judicial.filing", "judicial.decision"]


async def test_a_filing_names_another_court_when_asked(env: Env, producer: InProcess) -> None:
    row = await window_of(env, await sealed_case(env, producer, court=False))
    assert row.id is not None and row.court_name == ""
    missing = await refused(env, lambda db: file_in(db, env, row.id, 1))
    assert missing.fields == {"court_name": "missing"}
    filed = await file(env, row.id, 1, court_name="滨河区人民法院")
    assert filed.court_name == "滨河区人民法院"


async def test_compare_and_set_gives_one_winner(env: Env, producer: InProcess) -> None:
    """The form was read at version 1 by both; the second update finds version 2 and loses."""
    row = await window_of(env, await sealed_case(env, producer))
    assert row.id is not None
    officer = env.actor("officer")
    with pytest.raises(Conflict):
        async with transaction(env.factory) as db:
            mine = await service.get_window(db, officer, row.id)
            # Another officer's update lands between this one's read and its write.
            await db.exec(
                update(JudicialConfirmation)
                .where(col(JudicialConfirmation.id) == row.id)
                .values(version=2)
                .execution_options(synchronize_session=False)
            )
            await service._compare_and_set(db, officer, mine, 1, {"status": Status.FILED.value})
    assert (await window_of_id(env, row.id)).version == 1


async def test_who_may_do_what(env: Env, producer: InProcess) -> None:
    row = await window_of(env, await sealed_case(env, producer))
    assert row.id is not None
    for username in ("auxiliary", "clerk"):
        denied = await refused(env, lambda db: file_in(db, env, row.id, 1, username=username))  # noqa: B023
        assert isinstance(denied, NotAllowed), username
    assert isinstance(
        await refused(env, lambda db: file_in(db, env, row.id, 1, username="officer_b")), NotAllowed
    )
    assert isinstance(
        await refused(env, lambda db: file_in(db, env, row.id, 1, username="outsider")), NotFound
    )
    async with env.factory() as db:
        for username in ("auxiliary", "clerk", "chief", "officer"):
            views = await service.windows_of_dispute(
                db, env.actor(username), row.dispute_id, tz=env.tz
            )
            assert [v.row.id for v in views] == [row.id], username
    for username in ("auxiliary", "clerk", "officer_b"):
        denied = await refused(env, lambda db: packet_in(db, env, row.id, username))  # noqa: B023
        assert isinstance(denied, NotAllowed), username


async def test_the_packet_carries_the_application_and_the_sealed_agreement(
    env: Env, producer: InProcess, court_works: AgreementWorks
) -> None:
    agreement = await sealed_case(env, producer)
    row = await window_of(env, agreement)
    assert row.id is not None
    async with transaction(env.factory) as db:
        packet = await packet_in(db, env, row.id, "officer", court_works)
        sealed = await archived_files.read_pdf(env.config.effective_agreements_dir, agreement)
    with zipfile.ZipFile(io.BytesIO(packet.data)) as bundle:
        names = bundle.namelist()
        assert len(names) == 3
        files = {name.split("-")[1]: bundle.read(name) for name in names}
    assert files["人民调解协议书"] == sealed
    assert files["司法确认申请书"] == packet.application_pdf
    text = squeeze(poppler("pdftotext", packet.application_pdf))
    for expected in (
        "司法确认申请书",
        "王丽华",
        "张国强",
        ADULT_ID,  # the court needs the full number
        "1990年3月7日",
        COURT,
        COURT_ADDRESS,
        agreement.case_number,
        "调解组织主持调解的证明",
        "身份证明",
        "被申请人赔偿申请人医药费人民币800元",
    ):
        assert squeeze(expected) in text, expected
    assert "身份证明" in files["材料清单.txt"].decode()
    stored = await window_of_id(env, row.id)
    assert stored.packet_made_at is not None and stored.version == 1
    assert await audit_actions(env) == ["judicial.open", "judicial.packet"]


async def test_no_court_configured_no_packet(env: Env, producer: InProcess) -> None:
    row = await window_of(env, await sealed_case(env, producer, court=False))
    assert row.id is not None
    error = await refused(env, lambda db: packet_in(db, env, row.id, "officer"))
    assert isinstance(error, Conflict)


async def test_reminders_on_day_20_and_27_for_the_office(env: Env, producer: InProcess) -> None:
    row = await window_of(env, await sealed_case(env, producer))
    assert row.id is not None

    async def listed(username: str) -> list[tuple[int | None, int | None]]:
        async with env.factory() as db:
            views = await service.reminders(db, env.actor(username), tz=env.tz)
        return [(v.row.id, v.clock.reminder) for v in views]

    assert await listed("officer") == []
    start = utcnow()
    with time_machine.travel(start + timedelta(days=20), tick=True):
        assert await listed("officer") == [(row.id, 20)]
        assert await listed("chief") == [(row.id, 20)]
        assert await listed("officer_b") == []
    with time_machine.travel(start + timedelta(days=27), tick=True):
        assert await listed("clerk") == [(row.id, 27)]
        await file(env, row.id, 1, days=-1)
        assert await listed("officer") == []


# --- steps, each inside the caller's transaction --------------------------------------------


async def file_in(
    db: Any,
    env: Env,
    window_id: int | None,
    version: int,
    *,
    days: int = 0,
    username: str = "officer",
) -> None:
    data = FilingInput(
        expected_version=version, filed_on=local_today(env.tz) + timedelta(days=days)
    )
    await service.record_filing(db, env.actor(username), window_id or 0, data, tz=env.tz)


async def decide_in(
    db: Any, env: Env, window_id: int | None, version: int, ruling: str, *, days: int = 0
) -> None:
    data = DecisionInput(
        expected_version=version,
        decision="confirmed",
        decided_on=local_today(env.tz) + timedelta(days=days),
        ruling_number=ruling,
    )
    await service.record_decision(db, env.actor("officer"), window_id or 0, data, tz=env.tz)


@pytest.fixture(scope="module")
def court_works() -> Iterator[AgreementWorks]:
    """The agreement worker that renders the application (no seal: it is not sealed)."""
    works = AgreementWorks(None)
    yield works
    asyncio.run(works.close())


async def packet_in(
    db: Any, env: Env, window_id: int | None, username: str, works: AgreementWorks | None = None
) -> service.Packet:
    """The packet as ``username`` asks for it; refusals come before any rendering, so
    those calls pass no worker (an unstarted one stands in)."""
    return await service.make_packet(
        db,
        env.actor(username),
        window_id or 0,
        vault=env.vault,
        agreements_dir=env.config.effective_agreements_dir,
        tz=env.tz,
        works=works or AgreementWorks(None),
    )


async def window_of_id(env: Env, window_id: int) -> JudicialConfirmation:
    async with env.factory() as db:
        row = await db.get(JudicialConfirmation, window_id)
    assert row is not None
    return row
