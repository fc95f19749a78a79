"""A session factory over the seeded test database, disposed after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from server.config import Config
from server.db import SessionFactory, make_engine, make_session_factory
from tests.conftest import Seed


@pytest.fixture
async def factory(config: Config, seed: Seed) -> AsyncIterator[SessionFactory]:
    engine = make_engine(config.effective_database_url)
    try:
        yield make_session_factory(engine)
    finally:
        await engine.dispose()
