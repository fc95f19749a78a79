"""Fixtures of the minutes tests: the seeded env, a demo PKI for the seal, and a booked
session (two parties, three experts, invited staff, an observer) to minute."""

from __future__ import annotations

from datetime import timedelta

import pytest

from server.config import Config
from server.db import SessionFactory
from tests.conftest import Seed
from tests.disputes.conftest import env as env
from tests.http.test_door import Booked, book_session
from tests.minutes.helpers import pki as pki
from tests.minutes.helpers import works as works

__all__ = ["env", "pki", "works"]


@pytest.fixture
async def booked(factory: SessionFactory, seed: Seed, config: Config) -> Booked:
    return await book_session(factory, seed, config, starts_in=timedelta(minutes=5))
