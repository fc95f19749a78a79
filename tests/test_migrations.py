"""The Alembic migrations: they build exactly the models' schema, and undo it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import SQLModel

import server.models  # noqa: F401  (registers every table)
from server.agreements.rules import text_sha256
from server.db import make_engine
from server.migrate import (
    MIGRATIONS_DIR,
    alembic_config,
    current_revision,
    head_revision,
    upgrade,
)
from server.minutes.service import list_entries
from tests.agreements.helpers import book_session, current_draft, frozen_draft, open_draft
from tests.agreements.test_archive_search import sealed_with_many_parties
from tests.agreements.test_sealed_text import InProcess
from tests.agreements.test_sealed_text import producer as producer
from tests.disputes.conftest import Env
from tests.disputes.conftest import env as env

TABLES = {
    "audit_event",
    "chat_message",
    "agreement",
    "agreement_draft",
    "agreement_signature",
    "agreement_signer",
    "beat_office",
    "case_counter",
    "dispute",
    "dispute_event",
    "draft_revision",
    "expert",
    "expert_office",
    "expert_specialty",
    "invitation",
    "login_throttle",
    "mediation_session",
    "party",
    "room_caucus",
    "room_control",
    "room_entry",
    "room_state",
    "staff_session",
    "staff_user",
    "followup_task",
    "followup_record",
    "followup_term_result",
    "workday_override",
    "judicial_confirmation",
    "spot_check_draw",
    "spot_check",
    "expert_availability",
    "duty_slot",
    "expert_relation",
    "risk_alert",
    "minutes_entry",
    "minutes_signoff",
    "station",
}


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "sub" / "migrations.db"


@pytest.fixture
def url(db_path: Path) -> str:
    return f"sqlite+aiosqlite:///{db_path}"


@pytest.fixture
def sync_engine(db_path: Path) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{db_path}")
    try:
        yield engine
    finally:
        engine.dispose()


def table_names(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(inspect(conn).get_table_names())


def test_upgrade_creates_every_table(url: str, db_path: Path, sync_engine: Engine) -> None:
    upgrade(url)  # also creates the missing parent directory
    assert db_path.exists()
    assert table_names(sync_engine) == TABLES | {"alembic_version"}
    assert set(SQLModel.metadata.tables) == TABLES


def test_schema_matches_the_models(url: str, sync_engine: Engine) -> None:
    upgrade(url)
    with sync_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []


def test_revision_tracking(url: str) -> None:
    newest = max(p.name.split("_", 1)[0] for p in MIGRATIONS_DIR.glob("versions/[0-9]*.py"))
    head = head_revision()
    assert head == newest
    # The light reading of the files agrees with alembic's own.
    assert head == ScriptDirectory.from_config(alembic_config(url)).get_current_head()

    async def current() -> str | None:
        engine = make_engine(url)
        try:
            return await current_revision(engine)
        finally:
            await engine.dispose()

    upgrade(url, "base")
    assert asyncio.run(current()) is None
    upgrade(url)
    assert asyncio.run(current()) == head
    upgrade(url)  # idempotent
    assert asyncio.run(current()) == head


def _insert_audit_row(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_event (at, actor_label, action, object_type, object_id,"
                " detail, ip, user_agent) VALUES ('2024-01-01 00:00:00.000000', 'x',"
                " 'test.action', '', '', '{}', '', '')"
            )
        )


def test_audit_trail_refuses_update(url: str, sync_engine: Engine) -> None:
    upgrade(url)
    _insert_audit_row(sync_engine)
    with pytest.raises(DBAPIError, match="append-only"):
        with sync_engine.begin() as conn:
            conn.execute(text("UPDATE audit_event SET action = 'forged'"))
    with sync_engine.connect() as conn:
        assert conn.execute(text("SELECT action FROM audit_event")).scalar_one() == "test.action"


def test_audit_trail_refuses_delete(url: str, sync_engine: Engine) -> None:
    upgrade(url)
    _insert_audit_row(sync_engine)
    with pytest.raises(DBAPIError, match="append-only"):
        with sync_engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_event"))
    with sync_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_event")).scalar_one() == 1


def test_audit_trail_accepts_inserts(url: str, sync_engine: Engine) -> None:
    upgrade(url)
    _insert_audit_row(sync_engine)
    _insert_audit_row(sync_engine)
    with sync_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_event")).scalar_one() == 2


def test_downgrade_to_base_and_back(url: str, sync_engine: Engine) -> None:
    upgrade(url)
    _insert_audit_row(sync_engine)
    command.downgrade(alembic_config(url), "base")
    assert table_names(sync_engine) == {"alembic_version"}
    with sync_engine.connect() as conn:
        triggers = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).all()
    assert triggers == []
    upgrade(url)
    assert table_names(sync_engine) == TABLES | {"alembic_version"}
    with sync_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []
        triggers = conn.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name")
        ).all()
    assert [t[0] for t in triggers] == [
        "agreement_no_delete",
        "agreement_no_update",
        "audit_event_no_delete",
        "audit_event_no_update",
    ]


def _insert_agreement_row(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("PRAGMA foreign_keys = OFF"))
        conn.execute(
            text(
                "INSERT INTO agreement (draft_id, session_id, dispute_id, station_id, office_id,"
                " legal_track, case_number, case_year, case_seq, version, correction_reason,"
                " text_sha256, pdf_sha256, pdf_size, file_name, verify_code, party_names,"
                " evidence, sealed_at, sealed_by_id) VALUES (1, 1, 1, 1, 1, 'people', 'N', 2026,"
                " 1, 1, '', 'a', 'b', 1, 'f.pdf', 'code', '', '{}', '2026-01-01', 1)"
            )
        )


def _assert_the_archive_is_append_only(engine: Engine, pdf_sha256: str = "b") -> None:
    for statement in (
        "UPDATE agreement SET pdf_sha256 = 'forged'",
        "DELETE FROM agreement",
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT pdf_sha256 FROM agreement")).scalars().all() == [
            pdf_sha256
        ]


def test_the_archive_refuses_update_and_delete(url: str, sync_engine: Engine) -> None:
    """A sealed agreement's row is as fixed as its PDF: corrections add rows instead.
    At head, so that a later revision that rebuilds the table cannot lose the triggers."""
    upgrade(url)
    assert asyncio.run(_current(url)) == head_revision()
    _insert_agreement_row(sync_engine)
    _assert_the_archive_is_append_only(sync_engine)


async def _current(url: str) -> str | None:
    engine = make_engine(url)
    try:
        return await current_revision(engine)
    finally:
        await engine.dispose()


async def test_0006_widens_party_names_and_the_archive_stays_append_only(
    env: Env, producer: InProcess
) -> None:
    """SQLite rebuilds ``agreement`` for the wider column, which drops its triggers:
    down and up again over a sealed case with 20 parties, the row is kept whole and
    UPDATE and DELETE are still refused."""
    sealed = await sealed_with_many_parties(env, producer)
    assert len(sealed.party_names) > 800
    url = env.config.effective_database_url
    sync_engine = create_engine(url.replace("+aiosqlite", ""))
    try:
        with sync_engine.connect() as conn:
            before = conn.execute(text("SELECT * FROM agreement")).all()
        assert _column_type(sync_engine, "agreement", "party_names") == "TEXT"

        await asyncio.to_thread(command.downgrade, alembic_config(url), "0005")
        assert _column_type(sync_engine, "agreement", "party_names") == "VARCHAR(400)"
        _assert_the_archive_is_append_only(sync_engine, sealed.pdf_sha256)
        await asyncio.to_thread(upgrade, url)
        assert _column_type(sync_engine, "agreement", "party_names") == "TEXT"
        _assert_the_archive_is_append_only(sync_engine, sealed.pdf_sha256)

        with sync_engine.connect() as conn:
            assert conn.execute(text("SELECT * FROM agreement")).all() == before
            triggers = conn.execute(
                text(
                    "SELECT name FROM sqlite_master WHERE type = 'trigger'"
                    " AND tbl_name = 'agreement' ORDER BY name"
                )
            ).all()
        assert [t[0] for t in triggers] == ["agreement_no_delete", "agreement_no_update"]
    finally:
        sync_engine.dispose()


def test_a_migration_that_leaves_a_dangling_reference_is_refused(
    url: str, sync_engine: Engine
) -> None:
    """SQLite migrations run with foreign keys off (batch rebuilds need it) and are
    checked as a whole at the end: a broken reference stops them, it is not kept."""
    upgrade(url, "0005")
    with sync_engine.begin() as conn:  # a plain connection: foreign keys not enforced
        conn.execute(
            text(
                "INSERT INTO draft_revision (draft_id, number, kind, content, text_sha256,"
                " author, note, at) VALUES (999, 1, 'saved', '{}', '', 'x', '',"
                " '2026-01-01 00:00:00.000000')"
            )
        )
    with pytest.raises(RuntimeError, match="foreign keys"):
        upgrade(url)


def _column_type(engine: Engine, table: str, name: str) -> str:
    with engine.connect() as conn:
        columns = inspect(conn).get_columns(table)
    [column] = [c for c in columns if c["name"] == name]
    return str(column["type"])


#: What 0006 makes unbounded, and the bound each had before.
WIDENED = {
    ("agreement_draft", "frozen_text"): "VARCHAR(60000)",
    ("agreement_draft", "content"): "VARCHAR(40000)",
    ("draft_revision", "content"): "VARCHAR(40000)",
    ("agreement", "party_names"): "VARCHAR(400)",
}


def _widened_types(engine: Engine) -> dict[tuple[str, str], str]:
    return {key: _column_type(engine, *key) for key in WIDENED}


async def test_0006_makes_the_agreement_texts_unbounded_and_keeps_every_row(env: Env) -> None:
    """Down to 0005 and up again over a real frozen draft with signers and revisions:
    SQLite rebuilds ``agreement_draft`` under its children's foreign keys both ways,
    and ``draft_revision``, the draft's content and history, keeps every row."""
    url = env.config.effective_database_url
    booked = await book_session(env)
    draft, _issued = await frozen_draft(env, booked)
    assert draft.id is not None
    plain = (await current_draft(env, draft.id)).frozen_text
    sync_engine = create_engine(url.replace("+aiosqlite", ""))
    try:
        with sync_engine.connect() as conn:
            stored = conn.execute(text("SELECT frozen_text FROM agreement_draft")).scalar_one()
            content = conn.execute(text("SELECT content FROM agreement_draft")).scalar_one()
            history = conn.execute(
                text("SELECT number, kind, content FROM draft_revision ORDER BY number")
            ).all()
            children = conn.execute(
                text("SELECT count(*) FROM agreement_signer WHERE draft_id = :id"), {"id": draft.id}
            ).scalar_one()
        assert children > 0 and len(history) >= 2
        assert _widened_types(sync_engine) == dict.fromkeys(WIDENED, "TEXT")

        await asyncio.to_thread(command.downgrade, alembic_config(url), "0005")
        assert _widened_types(sync_engine) == WIDENED
        await asyncio.to_thread(upgrade, url)
        assert _widened_types(sync_engine) == dict.fromkeys(WIDENED, "TEXT")

        with sync_engine.connect() as conn:
            assert conn.execute(text("SELECT frozen_text FROM agreement_draft")).scalar_one() == (
                stored
            )
            assert (
                conn.execute(
                    text("SELECT count(*) FROM agreement_signer WHERE draft_id = :id"),
                    {"id": draft.id},
                ).scalar_one()
                == children
            )
            assert conn.execute(text("SELECT content FROM agreement_draft")).scalar_one() == (
                content
            )
            assert (
                conn.execute(
                    text("SELECT number, kind, content FROM draft_revision ORDER BY number")
                ).all()
                == history
            )
            assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
    finally:
        sync_engine.dispose()
    again = await current_draft(env, draft.id)
    assert again.frozen_text == plain and again.frozen_sha256 == text_sha256(plain)


async def test_0009_carries_the_old_free_text_minutes_over_as_entries(env: Env) -> None:
    """Down to 0008 (the free-text field is back), minutes typed there, up again: each
    draft's text is now entries of its session, whole, timed at the draft's last change."""
    url = env.config.effective_database_url
    booked = await book_session(env)
    draft = await open_draft(env, booked.session_id)
    empty = await book_session(env, days=4)
    await open_draft(env, empty.session_id)
    old = "双方到场，陈述各自意见。\n" + "记" * 4500  # longer than one entry holds
    await asyncio.to_thread(command.downgrade, alembic_config(url), "0008")
    sync_engine = create_engine(url.replace("+aiosqlite", ""))
    try:
        with sync_engine.begin() as conn:
            conn.execute(
                text("UPDATE agreement_draft SET minutes = :m WHERE id = :id"),
                {"m": old, "id": draft.id},
            )
            changed = conn.execute(
                text("SELECT updated_at FROM agreement_draft WHERE id = :id"), {"id": draft.id}
            ).scalar_one()
        await asyncio.to_thread(upgrade, url)
        with sync_engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("agreement_draft")}
            assert "minutes" not in columns
            stored_at = conn.execute(text("SELECT DISTINCT at FROM minutes_entry")).scalar_one()
        assert stored_at == changed
        async with env.factory() as db:
            carried = await list_entries(db, booked.session_id)
            assert await list_entries(db, empty.session_id) == []
        assert "".join(e.text for e in carried) == old
        assert [len(e.text) for e in carried] == [2000, 2000, len(old) - 4000]
        assert {(e.speaker_key, e.speaker_name, e.version) for e in carried} == {("", "原笔录", 1)}
        # And down again: the text is back in its field.
        await asyncio.to_thread(command.downgrade, alembic_config(url), "0008")
        with sync_engine.connect() as conn:
            back = conn.execute(
                text("SELECT minutes FROM agreement_draft WHERE id = :id"), {"id": draft.id}
            ).scalar_one()
        assert back == old
        await asyncio.to_thread(upgrade, url)
    finally:
        sync_engine.dispose()
