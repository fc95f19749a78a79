"""Through the services: what is frozen is what the sealed PDF prints, or sealing stops.

Freezing refuses characters the paper cannot carry; sealing composes the
body from the record and refuses when that no longer gives the frozen text;
a sealed agreement for a party without an ID number and with an agent reads
back (pdftotext) as exactly the frozen text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from sqlmodel import select

from server.agreements import archive, service, station_seal
from server.agreements.document import AgreementDocument
from server.agreements.render import render_pdf
from server.agreements.sample_seal import sample_seal_png
from server.agreements.schemas import DraftContent
from server.agreements.seal import Sealer
from server.db import transaction
from server.errors import Conflict
from server.models import Agreement, AgreementDraft, Party, Station
from tests.agreements.helpers import (
    AGENT,
    RESPONDENT,
    Booked,
    book_session,
    complete_content,
    frozen_draft,
    open_draft,
    save,
    sign_as,
)
from tests.agreements.paper_text import (
    agreement_pages_text,
    expected_pages_text,
    first_difference,
)
from tests.disputes.conftest import Env
from tests.disputes.conftest import env as env

STATION_CERT_NAME = "白石派出所"


class InProcess:
    """Renders and seals in the test process, keeping the document it was given."""

    def __init__(self, sealer: Sealer) -> None:
        self.sealer = sealer
        self.docs: list[AgreementDocument] = []

    async def produce(self, doc: AgreementDocument, *, reason: str, location: str) -> bytes:
        self.docs.append(doc)
        # pyHanko's synchronous API runs its own event loop: keep it off this one.
        return await asyncio.to_thread(
            lambda: self.sealer.seal(render_pdf(doc), reason=reason, location=location)
        )


@pytest.fixture
def producer(env: Env, tmp_path_factory: pytest.TempPathFactory) -> InProcess:
    from server.agreements.pki import create_station_pki

    pki = create_station_pki(tmp_path_factory.mktemp("pki"), STATION_CERT_NAME)
    return InProcess(Sealer(pki.key_path, pki.cert_path, [pki.ca_cert_path]))


def settings_of(env: Env) -> archive.Settings:
    return archive.Settings(
        agreements_dir=env.config.effective_agreements_dir,
        data_dir=env.config.data_dir,
        case_number_pattern=env.config.case_number_pattern,
        public_url=env.config.effective_public_url,
        tz=env.tz,
    )


async def signed_by_everyone(env: Env) -> int:
    """A draft for 王丽华 v 张国强 (no ID number) with 赵律师 for him, signed by all."""
    booked = await book_session(env, agent_for_respondent=True)
    draft, issued = await frozen_draft(env, booked)
    assert f"被申请人：{RESPONDENT}。\n" in draft.frozen_text
    assert f"委托代理人：{AGENT}（代{RESPONDENT}）。\n" in draft.frozen_text
    return await signed_and_ready_to_seal(env, draft, issued)


async def signed_and_ready_to_seal(
    env: Env, draft: AgreementDraft, issued: Sequence[service.IssuedLink]
) -> int:
    """Every link signs the frozen text and the station gets a seal: the draft's id."""
    for link in issued:
        await sign_as(env, link.token, draft.frozen_sha256)
    async with transaction(env.factory) as db:
        station = (await db.exec(select(Station))).first()
        assert station is not None
        await station_seal.set_station_seal(
            db, None, station, sample_seal_png(station.name), data_dir=env.config.data_dir
        )
    assert draft.id is not None
    return draft.id


async def seal_booked(
    env: Env,
    producer: archive.Producer,
    booked: Booked,
    content: DraftContent | None = None,
) -> tuple[Agreement, list[service.IssuedLink]]:
    """Draft, freeze, have every link sign and seal the booked session's agreement."""
    draft, issued = await frozen_draft(env, booked, content)
    draft_id = await signed_and_ready_to_seal(env, draft, issued)
    agreement = await archive.seal(
        env.factory,
        env.actor("officer"),
        draft_id,
        producer=producer,
        vault=env.vault,
        settings=settings_of(env),
    )
    return agreement, issued


async def test_the_sealed_pdf_reads_as_the_frozen_text(env: Env, producer: InProcess) -> None:
    draft_id = await signed_by_everyone(env)
    sealed = await archive.seal(
        env.factory,
        env.actor("officer"),
        draft_id,
        producer=producer,
        vault=env.vault,
        settings=settings_of(env),
    )
    (doc,) = producer.docs
    async with env.factory() as db:
        ctx = await service.get_draft(db, env.actor("officer"), draft_id)
    assert doc.canonical_text == ctx.draft.frozen_text == doc.body.plain
    pdf = (env.config.effective_agreements_dir / sealed.file_name).read_bytes()
    actual, expected = agreement_pages_text(pdf, doc), expected_pages_text(doc)
    assert actual == expected, first_difference(actual, expected)
    assert "居民身份证号码：。" not in actual


async def test_sealing_stops_when_the_record_no_longer_gives_the_frozen_text(
    env: Env, producer: InProcess
) -> None:
    draft_id = await signed_by_everyone(env)
    async with transaction(env.factory) as db:
        party = (await db.exec(select(Party).where(Party.name == RESPONDENT))).one()
        party.address = "滨河小区5栋"  # corrected on the dispute after everyone signed
    with pytest.raises(Conflict) as caught:
        await archive.seal(
            env.factory,
            env.actor("officer"),
            draft_id,
            producer=producer,
            vault=env.vault,
            settings=settings_of(env),
        )
    assert "changed after the text was frozen" in caught.value.message
    assert producer.docs == []


@pytest.mark.parametrize(
    ("facts", "shown"),
    [("双方握手言和👨‍👩‍👧。", "“👨”"), ("赔偿\u200b八百元。", "U+200B"), ("和好❤️。", "U+FE0F")],
)
async def test_freezing_refuses_what_the_paper_cannot_carry(
    env: Env, facts: str, shown: str
) -> None:
    booked = await book_session(env)
    draft = await open_draft(env, booked.session_id)
    assert draft.id is not None
    saved = await save(env, draft.id, draft.version, complete_content(facts=facts))
    with pytest.raises(service.DraftIncomplete) as caught:
        async with transaction(env.factory) as db:
            await service.freeze(
                db,
                env.actor("officer"),
                draft.id,
                saved.version,
                vault=env.vault,
                tz=env.tz,
                link_days=env.config.agreement_link_days,
            )
    (problem,) = caught.value.problems
    assert problem.field == "facts"
    assert shown in problem.params["chars"]


async def test_a_name_in_the_record_the_paper_cannot_carry_is_named_too(env: Env) -> None:
    booked = await book_session(env)
    async with transaction(env.factory) as db:
        party = (await db.exec(select(Party).where(Party.name == RESPONDENT))).one()
        party.name = "张国强\u202e"
    draft = await open_draft(env, booked.session_id)
    assert draft.id is not None
    await save(env, draft.id, draft.version, complete_content())
    async with env.factory() as db:
        ctx = await service.get_draft(db, env.actor("officer"), draft.id)
    problems = service.problems_of(ctx, env.vault, env.tz)
    assert [(p.field, p.params) for p in problems] == [("parties", {"chars": "U+202E"})]
