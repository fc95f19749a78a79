"""Frozen agreement texts: encrypted in the database file, plain to the code that reads them."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from server.agreements.rules import text_sha256
from server.db import make_engine, make_session_factory, transaction
from server.migrate import encrypt_legacy_texts
from server.models import AgreementDraft
from server.models.encrypted import (
    SEALED_PREFIX,
    open_text,
    seal_text,
)
from server.pii import PiiVault
from tests.agreements.helpers import book_session, current_draft, frozen_draft
from tests.disputes.conftest import Env
from tests.disputes.conftest import env as env
from tests.disputes.helpers import ADULT_ID

SECRET = b"test-secret-key-that-is-long-enough-0123456789"


def _database_bytes(database_url: str) -> bytes:
    """Everything SQLite keeps for the database: the file and its write-ahead log."""
    path = Path(database_url.split(":///", 1)[1])
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


async def _stored_text(env: Env, draft_id: int) -> str:
    engine = make_engine(env.config.effective_database_url)
    try:
        async with engine.connect() as conn:
            query = text("SELECT frozen_text FROM agreement_draft WHERE id = :id")
            return str((await conn.execute(query, {"id": draft_id})).scalar_one())
    finally:
        await engine.dispose()


def test_a_sealed_text_opens_to_itself_and_an_old_plain_one_reads_as_it_is() -> None:
    vault = PiiVault(SECRET)
    plain = "人民调解协议书\n申请人：王丽华，居民身份证号码：" + ADULT_ID + "。\n😀"
    stored = seal_text(vault, plain)
    assert stored.startswith(SEALED_PREFIX) and ADULT_ID not in stored
    assert open_text(vault, stored) == plain
    assert open_text(vault, plain) == plain  # written before encryption
    assert seal_text(vault, "") == ""
    with pytest.raises(ValueError, match="cannot be decrypted"):
        open_text(PiiVault(b"another-secret-key-that-is-long-enough-987654"), stored)


def test_an_incompressible_text_seals_whatever_its_stored_length() -> None:
    # Random CJK characters barely compress: 40,000 of them take about 175,000 characters
    # once encrypted, which the old VARCHAR(60000) column refused. TEXT keeps them.
    rng = random.Random(1)
    noise = "".join(chr(rng.randrange(0x4E00, 0x9FFF)) for _ in range(40000))
    vault = PiiVault(SECRET)
    stored = seal_text(vault, noise)
    assert len(stored) > 60000
    assert open_text(vault, stored) == noise


async def test_the_database_file_holds_no_id_number_and_readers_get_the_plain_text(
    env: Env,
) -> None:
    booked = await book_session(env)
    draft, _issued = await frozen_draft(env, booked)
    assert draft.id is not None
    current = await current_draft(env, draft.id)
    assert ADULT_ID in current.frozen_text
    assert current.frozen_sha256 == text_sha256(current.frozen_text)
    stored = await _stored_text(env, draft.id)
    assert stored.startswith(SEALED_PREFIX)
    assert ADULT_ID.encode() not in _database_bytes(env.config.effective_database_url)


async def test_a_session_without_the_vault_cannot_store_a_frozen_text(env: Env) -> None:
    booked = await book_session(env)
    draft, _issued = await frozen_draft(env, booked)
    engine = make_engine(env.config.effective_database_url)
    try:
        factory = make_session_factory(engine)
        async with factory() as db:
            row = await db.get(AgreementDraft, draft.id)
            assert row is not None
            assert row.frozen_text.startswith(SEALED_PREFIX)  # unreadable without the key
        with pytest.raises(RuntimeError, match="no PII vault"):
            async with transaction(factory) as db:
                row = await db.get(AgreementDraft, draft.id)
                assert row is not None
                row.frozen_text = "申请人：王丽华，居民身份证号码：" + ADULT_ID
    finally:
        await engine.dispose()
    assert (await _stored_text(env, draft.id or 0)).startswith(SEALED_PREFIX)


async def test_migrate_encrypts_texts_frozen_before_encryption_once(env: Env) -> None:
    booked = await book_session(env)
    draft, _issued = await frozen_draft(env, booked)
    assert draft.id is not None
    plain = (await current_draft(env, draft.id)).frozen_text
    engine = make_engine(env.config.effective_database_url)
    try:
        async with engine.begin() as conn:  # as an older version of the server left it
            await conn.execute(
                text("UPDATE agreement_draft SET frozen_text = :t WHERE id = :id"),
                {"t": plain, "id": draft.id},
            )
        assert (await current_draft(env, draft.id)).frozen_text == plain  # read as legacy
        assert await encrypt_legacy_texts(engine, env.vault) == 1
        first = await _stored_text(env, draft.id)
        assert first.startswith(SEALED_PREFIX)
        assert await encrypt_legacy_texts(engine, env.vault) == 0
        assert await _stored_text(env, draft.id) == first
    finally:
        await engine.dispose()
    assert (await current_draft(env, draft.id)).frozen_text == plain


def test_concord_migrate_runs_the_encryption_step(tmp_path: Path) -> None:
    """The command an operator runs after upgrading: alembic, then the legacy texts."""
    concord = str(Path(sys.executable).parent / "concord")
    env = {"CONCORD_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [concord, "migrate"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "frozen texts encrypted: 0" in result.stdout
