"""A session factory over the seeded test database, and the actors of the seed."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest

from server.auth.roles import Actor
from server.auth.sessions import actor_for
from server.config import Config
from server.db import SessionFactory
from server.pii import PiiVault
from tests.conftest import Seed


@dataclass
class Env:
    factory: SessionFactory
    seed: Seed
    vault: PiiVault
    tz: ZoneInfo
    config: Config

    def actor(self, username: str) -> Actor:
        return actor_for(self.seed.users[username], ip="10.0.0.1", user_agent="pytest")

    @property
    def office_c(self) -> int:
        office_id = self.seed.users["officer_c"].office_id
        assert office_id is not None
        return office_id


@pytest.fixture
def env(config: Config, seed: Seed, factory: SessionFactory) -> Env:
    return Env(
        factory=factory,
        seed=seed,
        vault=PiiVault(config.secret()),
        tz=ZoneInfo(config.timezone),
        config=config,
    )
