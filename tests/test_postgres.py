"""The migrations, the audit trail's protection and a real flow on PostgreSQL.

Needs the throwaway server that `make test` starts (scripts/pg-test.sh) and
names in CONCORD_TEST_POSTGRES_URL. Each test starts from an empty public
schema and migrates it, so the tests do not depend on each other.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import SQLModel, select

from server.agreements import service as agreement_service
from server.agreements.rules import text_sha256
from server.agreements.schemas import MAX_TERMS, DraftContent, DraftEdit
from server.app import create_app
from server.auth.passwords import hash_password_sync
from server.auth.roles import Role
from server.auth.sessions import actor_for
from server.config import Config
from server.db import make_engine, make_session_factory, transaction
from server.disputes import service
from server.disputes.lifecycle import RiskLevel, Route, Status
from server.disputes.schemas import DisputeInput, TransitionInput, TriageInput
from server.migrate import alembic_config, head_revision, upgrade
from server.models import (
    AuditEvent,
    BeatOffice,
    DisputeEvent,
    DraftRevision,
    Party,
    RiskAlert,
    StaffUser,
    Station,
    utcnow,
)
from server.pii import PiiVault
from tests.agreements.helpers import (
    all_rows,
    book_session,
    complete_content,
    current_draft,
    freeze,
    frozen_draft,
    open_draft,
    save,
)
from tests.agreements.test_archive_search import (
    many_parties,
    sealed_with_many_parties,
    search_by_party,
)
from tests.agreements.test_sealed_text import InProcess
from tests.agreements.test_sealed_text import producer as producer
from tests.disputes.conftest import Env
from tests.disputes.conftest import env as env
from tests.metrics.scrape import scrape

POSTGRES_URL = os.environ.get("CONCORD_TEST_POSTGRES_URL", "")
SECRET = "test-secret-key-that-is-long-enough-0123456789"
TZ = ZoneInfo("Asia/Shanghai")

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not POSTGRES_URL,
        reason="CONCORD_TEST_POSTGRES_URL is not set: run `make test`, which starts PostgreSQL",
    ),
]

AiohttpClient = Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]]


async def _reset_schema(url: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """An empty database migrated to head (the migration itself blocks: run off the loop)."""
    await _reset_schema(POSTGRES_URL)
    await asyncio.to_thread(upgrade, POSTGRES_URL)
    yield POSTGRES_URL


async def test_migrations_create_every_table(pg_url: str) -> None:
    engine = make_engine(pg_url)
    try:
        async with engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    finally:
        await engine.dispose()
    expected = set(SQLModel.metadata.tables) | {"alembic_version"}
    assert expected <= tables, f"missing: {sorted(expected - tables)}"
    assert version == head_revision()


async def test_migrations_run_twice(pg_url: str) -> None:
    """A second `concord migrate` on an up-to-date database is a no-op."""
    await asyncio.to_thread(upgrade, pg_url)


async def test_audit_trail_refuses_update_and_delete(pg_url: str) -> None:
    engine = make_engine(pg_url)
    factory = make_session_factory(engine)
    try:
        async with transaction(factory) as db:
            db.add(AuditEvent(action="test.append", detail="{}"))
        async with transaction(factory) as db:
            rows = list(await db.exec(select(AuditEvent)))
        assert [row.action for row in rows] == ["test.append"]

        for statement in (
            "UPDATE audit_event SET action = 'test.rewritten'",
            "DELETE FROM audit_event",
        ):
            with pytest.raises(DBAPIError, match="append-only"):
                async with engine.begin() as conn:
                    await conn.execute(text(statement))

        async with engine.connect() as conn:
            actions = (await conn.execute(text("SELECT action FROM audit_event"))).scalars().all()
        assert actions == ["test.append"]
    finally:
        await engine.dispose()


async def test_dispute_flow(pg_url: str) -> None:
    """Register, triage and move a dispute through the services, as the pages do."""
    engine = make_engine(pg_url)
    factory = make_session_factory(engine)
    vault = PiiVault(SECRET.encode())
    password_hash = hash_password_sync("correct-horse-42")
    try:
        async with transaction(factory) as db:
            station = Station(name="白石派出所", short_name="白石")
            db.add(station)
            await db.flush()
            assert station.id is not None
            office = BeatOffice(station_id=station.id, name="滨河社区警务室")
            db.add(office)
            await db.flush()
            assert office.id is not None
            officer = StaffUser(
                station_id=station.id,
                office_id=office.id,
                username="officer",
                display_name="李明",
                role=Role.OFFICER,
                password_hash=password_hash,
            )
            chief = StaffUser(
                station_id=station.id,
                username="chief",
                display_name="王建国",
                role=Role.CHIEF,
                password_hash=password_hash,
            )
            db.add_all([officer, chief])
        office_id = office.id

        officer_actor = actor_for(officer, "127.0.0.1", "pytest")
        chief_actor = actor_for(chief, "127.0.0.1", "pytest")
        async with transaction(factory) as db:
            dispute = await service.register(
                db,
                officer_actor,
                DisputeInput.model_validate(
                    {
                        "office_id": office_id,
                        "title": "楼上漏水纠纷",
                        "category": "neighbour",
                        "cause": "楼上卫生间防水层破损，导致楼下天花板渗水发霉",
                        "occurred_at": utcnow().astimezone(TZ) - timedelta(days=1),
                        "place": "滨河小区5栋",
                        "scale": 2,
                        "trend": "stable",
                        "parties": [
                            {
                                "name": "王丽华",
                                "role": "applicant",
                                "id_number": "110101199003074514",
                                "phone": "13800138001",
                            },
                            {"name": "张国强", "role": "respondent"},
                        ],
                    }
                ),
                vault=vault,
                tz=TZ,
            )
            dispute_id = dispute.id
            assert dispute_id is not None
            assert dispute.reference.startswith("白石")
            assert dispute.status == Status.REGISTERED

        async with transaction(factory) as db:
            triaged = await service.triage(
                db,
                chief_actor,
                dispute_id,
                TriageInput(
                    risk_level=RiskLevel.HIGH,
                    assignee_id=chief_actor.user_id,
                    reason="漏水持续扩大，双方多次争吵",
                ),
            )
            assert triaged.status == Status.TRIAGED
            assert triaged.route == Route.DEPUTY_CHIEF

        async with transaction(factory) as db:
            moved = await service.transition(
                db,
                chief_actor,
                dispute_id,
                TransitionInput(
                    to_status=Status.IN_MEDIATION,
                    note="已约定远程调解时间",
                    expected_version=triaged.version,
                ),
            )
            assert moved.status == Status.IN_MEDIATION

        async with transaction(factory) as db:
            stored = await service.get_dispute(db, officer_actor, dispute_id)
            assert stored.status == Status.IN_MEDIATION
            events = list(
                await db.exec(
                    select(DisputeEvent)
                    .where(DisputeEvent.dispute_id == dispute_id)
                    .order_by(DisputeEvent.id)  # type: ignore[arg-type]
                )
            )
            # A high grade at triage raises the office's 预警 in the same transaction.
            assert [e.kind for e in events] == [
                "registered",
                "triaged",
                "risk_alert",
                "status_changed",
            ]
            alerts = list(
                await db.exec(select(RiskAlert).where(RiskAlert.dispute_id == dispute_id))
            )
            assert [(a.risk_level, a.route) for a in alerts] == [("high", "deputy_chief")]
            parties = list(await db.exec(select(Party).where(Party.dispute_id == dispute_id)))
            applicant = next(p for p in parties if p.role == "applicant")
            assert applicant.id_number_encrypted
            assert "110101199003074514" not in applicant.id_number_encrypted
            assert vault.decrypt(applicant.id_number_encrypted) == "110101199003074514"
            audit = list(await db.exec(select(AuditEvent).order_by(AuditEvent.id)))  # type: ignore[arg-type]
            assert [a.action for a in audit] == [
                "dispute.register",
                "dispute.assess_risk",
                "dispute.triage",
                "risk_alert.raise",
                "dispute.transition",
            ]
    finally:
        await engine.dispose()


async def test_app_starts_on_postgres(
    pg_url: str, tmp_path: Path, aiohttp_client: AiohttpClient
) -> None:
    config = Config(
        database_url=pg_url,
        data_dir=tmp_path,
        secret_key=SECRET,
    )
    client = await aiohttp_client(create_app(config))
    response = await client.get("/login")
    assert response.status == 200
    assert "csrf_token" in await response.text()
    health = await client.get("/healthz")
    assert health.status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200, await ready.text()
    metrics = await scrape(client)
    # SQLAlchemy's default queue pool for asyncpg: five kept, this scrape's request holds none.
    assert metrics.value("concord_db_pool_size") == 5
    assert metrics.value("concord_db_pool_checked_out") <= metrics.value("concord_db_pool_size")


@pytest.fixture
def config(pg_url: str, tmp_path: Path) -> Config:
    """The suite's services (seed, factory, env) over the migrated PostgreSQL database."""
    return Config(data_dir=tmp_path, database_url=pg_url, secret_key=SECRET)


async def _column_type(url: str, table: str, name: str) -> str:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            columns = await conn.run_sync(lambda c: inspect(c).get_columns(table))
    finally:
        await engine.dispose()
    return str(next(c["type"] for c in columns if c["name"] == name))


async def _frozen_text_type(url: str) -> str:
    return await _column_type(url, "agreement_draft", "frozen_text")


#: What 0006 makes unbounded, and the bound each had before.
WIDENED = {
    ("agreement_draft", "frozen_text"): "VARCHAR(60000)",
    ("agreement_draft", "content"): "VARCHAR(40000)",
    ("draft_revision", "content"): "VARCHAR(40000)",
    ("agreement", "party_names"): "VARCHAR(400)",
}


async def _widened_types(url: str) -> dict[tuple[str, str], str]:
    return {key: await _column_type(url, *key) for key in WIDENED}


async def _stored_length(url: str, draft_id: int) -> int:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            query = text("SELECT length(frozen_text) FROM agreement_draft WHERE id = :id")
            return int((await conn.execute(query, {"id": draft_id})).scalar_one())
    finally:
        await engine.dispose()


async def test_a_long_incompressible_agreement_is_kept_encrypted(pg_url: str, env: Env) -> None:
    """The stored form outgrows the old VARCHAR(60000) about four times over."""
    assert await _frozen_text_type(pg_url) == "TEXT"
    rng = random.Random(7)

    def noise(n: int) -> str:
        # CJK Unified Ideographs up to U+9FEF: the fonts draw none of the newest 16,
        # and freezing refuses what the paper cannot print (server/agreements/glyphs.py).
        return "".join(chr(rng.randrange(0x4E00, 0x9FF0)) for _ in range(n))

    content = complete_content(
        facts=noise(4000),
        disputed_matters=noise(4000),
        responsibility=noise(4000),
        terms=tuple(noise(1000) for _ in range(20)),
    )
    booked = await book_session(env)
    draft, _issued = await frozen_draft(env, booked, content)
    assert draft.id is not None
    current = await current_draft(env, draft.id)
    assert content.terms[-1] in current.frozen_text
    assert current.frozen_sha256 == text_sha256(current.frozen_text)
    assert await _stored_length(pg_url, draft.id) > 60000


async def test_0006_down_and_up_keeps_a_frozen_text_and_never_cuts_one(
    pg_url: str, env: Env
) -> None:
    booked = await book_session(env)
    draft, _issued = await frozen_draft(env, booked)
    assert draft.id is not None
    plain = (await current_draft(env, draft.id)).frozen_text
    content = (await current_draft(env, draft.id)).content
    config = alembic_config(pg_url)
    await asyncio.to_thread(command.downgrade, config, "0005")
    assert await _widened_types(pg_url) == WIDENED
    await asyncio.to_thread(upgrade, pg_url)
    assert await _widened_types(pg_url) == dict.fromkeys(WIDENED, "TEXT")
    again = await current_draft(env, draft.id)
    assert again.frozen_text == plain and again.content == content

    # A text stored longer than the old bound: going back would have to cut it. It refuses.
    engine = make_engine(pg_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE agreement_draft SET frozen_text = :t WHERE id = :id"),
                {"t": "enc1:" + "x" * 70000, "id": draft.id},
            )
    finally:
        await engine.dispose()
    with pytest.raises(DBAPIError):
        await asyncio.to_thread(command.downgrade, config, "0005")
    assert await _frozen_text_type(pg_url) == "TEXT"
    assert await _stored_length(pg_url, draft.id) == 70005


async def test_0006_down_refuses_to_cut_a_draft_longer_than_the_old_bound(
    pg_url: str, env: Env
) -> None:
    booked = await book_session(env)
    draft = await open_draft(env, booked.session_id)
    assert draft.id is not None
    long_json = complete_content(
        facts="事" * 4000,
        disputed_matters="争" * 4000,
        responsibility="责" * 4000,
        terms=tuple(f"{n:02d}" + "条" * 998 for n in range(MAX_TERMS)),
    )
    await save(env, draft.id, draft.version, long_json)
    assert len((await current_draft(env, draft.id)).content) > 40000
    with pytest.raises(DBAPIError):
        await asyncio.to_thread(command.downgrade, alembic_config(pg_url), "0005")
    assert await _widened_types(pg_url) == dict.fromkeys(WIDENED, "TEXT")
    assert DraftContent.model_validate_json((await current_draft(env, draft.id)).content) == (
        long_json
    )


async def test_a_case_with_twenty_parties_keeps_every_name_and_stays_append_only(
    pg_url: str, env: Env, producer: InProcess
) -> None:
    """PostgreSQL would refuse an 820-character list in VARCHAR(400): it is TEXT, the
    last party finds the case, and ALTER in place kept the archive's trigger."""
    assert await _column_type(pg_url, "agreement", "party_names") == "TEXT"
    sealed = await sealed_with_many_parties(env, producer)
    last = many_parties()[-1]["name"]
    assert await search_by_party(env, last) == [sealed.case_number]
    engine = make_engine(pg_url)
    try:
        for statement in ("UPDATE agreement SET party_names = ''", "DELETE FROM agreement"):
            with pytest.raises(DBAPIError, match="append-only"):
                async with engine.begin() as conn:
                    await conn.execute(text(statement))
    finally:
        await engine.dispose()
    # Going back to VARCHAR(400) would have to cut the list: it refuses instead.
    with pytest.raises(DBAPIError):
        await asyncio.to_thread(command.downgrade, alembic_config(pg_url), "0005")
    assert await _column_type(pg_url, "agreement", "party_names") == "TEXT"
    assert await search_by_party(env, last) == [sealed.case_number]


def _filled(length: int, seed: int) -> str:
    """Exactly ``length`` characters that JSON writes longer than they are: quotes,
    backslashes and line breaks (escaped), CJK and an emoji, and no edge whitespace
    for the drafting fields to strip."""
    rng = random.Random(seed)
    alphabet = ['"', "\\", "\n", "调", "解", "协", "议", "😀", "a", "1"]
    middle = "".join(rng.choice(alphabet) for _ in range(length - 2))
    return f"甲{middle}乙"


async def test_the_largest_draft_the_fields_allow_is_saved_and_frozen(
    pg_url: str, env: Env
) -> None:
    """Every drafting field at its limit: its JSON outgrows the old VARCHAR(40000) of
    ``agreement_draft.content`` and ``draft_revision.content``; both keep it whole."""
    content = DraftContent(
        facts=_filled(4000, 1),
        disputed_matters=_filled(4000, 2),
        responsibility=_filled(4000, 3),
        terms=tuple(_filled(1000, 10 + n) for n in range(MAX_TERMS)),
        performance_manner=_filled(500, 4),
        performance_deadline=date.today() + timedelta(days=30),
        copies=20,
        others_present=_filled(500, 5),
    )
    stored = content.model_dump_json()
    assert len(stored) > 40000 * 1.2  # the escapes alone add a fifth or so

    booked = await book_session(env)
    draft = await open_draft(env, booked.session_id)
    assert draft.id is not None
    async with transaction(env.factory) as db:
        ctx = await agreement_service.save(
            db,
            env.actor("officer"),
            draft.id,
            DraftEdit(base_version=draft.version, content=content),
        )
        version = ctx.draft.version

    saved = await current_draft(env, draft.id)
    assert saved.version == version
    assert DraftContent.model_validate_json(saved.content) == content
    revisions = await all_rows(env, DraftRevision)
    newest = max(revisions, key=lambda r: r.number)
    assert newest.number == version and newest.content == stored

    frozen, _issued = await freeze(env, draft.id, version)
    current = await current_draft(env, draft.id)
    assert current.status == "frozen" and len(current.frozen_text) > 43000
    assert current.frozen_sha256 == text_sha256(current.frozen_text)
    assert frozen.version == version + 1
