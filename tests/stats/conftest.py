"""The known data set on a fresh database: SQLite always, PostgreSQL when one is given.

The PostgreSQL run needs the throwaway server that `make test` starts
(scripts/pg-test.sh) and names in CONCORD_TEST_POSTGRES_URL; each test starts
from an empty public schema migrated to head.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import text

from server.config import Config
from server.db import SessionFactory, make_engine, make_session_factory
from server.migrate import upgrade
from tests.stats.dataset import Known, build_known

POSTGRES_URL = os.environ.get("CONCORD_TEST_POSTGRES_URL", "")


@dataclass
class KnownDb:
    factory: SessionFactory
    known: Known
    engine_name: str


async def _fresh_postgres() -> str:
    engine = make_engine(POSTGRES_URL)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()
    await asyncio.to_thread(upgrade, POSTGRES_URL)
    return POSTGRES_URL


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "postgres",
            marks=[
                pytest.mark.postgres,
                pytest.mark.skipif(
                    not POSTGRES_URL,
                    reason="CONCORD_TEST_POSTGRES_URL is not set: run `make test`",
                ),
            ],
        ),
    ]
)
async def known_db(request: pytest.FixtureRequest, config: Config) -> AsyncIterator[KnownDb]:
    url = config.effective_database_url if request.param == "sqlite" else await _fresh_postgres()
    engine = make_engine(url)
    try:
        factory = make_session_factory(engine)
        yield KnownDb(factory, await build_known(factory), request.param)
    finally:
        await engine.dispose()
