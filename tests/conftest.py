"""Shared fixtures: a migrated SQLite file per test, the app, a seeded station.

Migrations run once per session into a template file that each test copies,
so every test gets a real, migrated SQLite database in its own directory.
"""

from __future__ import annotations

import functools
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.auth.passwords import hash_password_sync
from server.auth.roles import Role
from server.config import Config
from server.db import SessionFactory, make_engine, make_session_factory, transaction
from server.migrate import upgrade
from server.models import BeatOffice, StaffUser, Station
from server.pii import PiiVault

PASSWORD = "correct-horse-42"
SECRET = "test-secret-key-that-is-long-enough-0123456789"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')

Client = TestClient[web.Request, web.Application]
AiohttpClient = Callable[[web.Application], Awaitable[Client]]


@functools.cache
def password_hash_once() -> str:
    """Argon2 is slow on purpose; hash the shared test password once per run."""
    return hash_password_sync(PASSWORD)


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def config(tmp_path: Path, migrated_db: Path) -> Config:
    db_path = tmp_path / "concord.db"
    shutil.copy(migrated_db, db_path)
    return Config(
        data_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{db_path}",
        secret_key=SECRET,
        login_max_failures=5,
        # Tests keep every media socket on loopback (and send nothing anywhere else).
        ice_host_addresses=["127.0.0.1"],
    )


@dataclass
class Seed:
    """A station with two offices and one account of every role (password PASSWORD)."""

    station_id: int
    office_a: int
    office_b: int
    other_station_id: int
    users: dict[str, StaffUser] = field(default_factory=dict)

    def uid(self, username: str) -> int:
        user_id = self.users[username].id
        assert user_id is not None
        return user_id


@pytest.fixture
async def seed(config: Config) -> AsyncIterator[Seed]:
    engine = make_engine(config.effective_database_url)
    factory = make_session_factory(engine)
    password_hash = password_hash_once()
    async with transaction(factory) as db:
        station = Station(name="白石派出所", short_name="白石")
        other = Station(name="青山派出所", short_name="青山")
        db.add_all([station, other])
        await db.flush()
        assert station.id is not None and other.id is not None
        a = BeatOffice(station_id=station.id, name="滨河社区警务室")
        b = BeatOffice(station_id=station.id, name="新村社区警务室")
        c = BeatOffice(station_id=other.id, name="青山社区警务室")
        db.add_all([a, b, c])
        await db.flush()
        assert a.id is not None and b.id is not None and c.id is not None
        specs = [
            ("admin", Role.ADMIN, None, station.id),
            ("chief", Role.CHIEF, None, station.id),
            ("officer", Role.OFFICER, a.id, station.id),
            ("officer_b", Role.OFFICER, b.id, station.id),
            ("auxiliary", Role.AUXILIARY, a.id, station.id),
            ("clerk", Role.CLERK, None, station.id),
            ("outsider", Role.CHIEF, None, other.id),
            ("officer_c", Role.OFFICER, c.id, other.id),
        ]
        result = Seed(
            station_id=station.id, office_a=a.id, office_b=b.id, other_station_id=other.id
        )
        for username, role, office_id, station_id in specs:
            user = StaffUser(
                station_id=station_id,
                office_id=office_id,
                username=username,
                display_name=f"测试{username}",
                role=role,
                password_hash=password_hash,
            )
            db.add(user)
            result.users[username] = user
    await engine.dispose()
    yield result


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, config: Config, seed: Seed) -> Client:
    return await aiohttp_client(create_app(config))


def csrf_from(html: str) -> str:
    match = CSRF_INPUT.search(html)
    assert match, "page has no CSRF field"
    return match.group(1)


async def login(client: Client, username: str, password: str = PASSWORD) -> str:
    """Log in through the real form; returns the CSRF token for the new session."""
    page = await client.get("/login")
    token = csrf_from(await page.text())
    response = await client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    home = await client.get("/password")
    return csrf_from(await home.text())


@pytest.fixture
async def factory(config: Config, seed: Seed) -> AsyncIterator[SessionFactory]:
    """Sessions on the seeded test database, for tests that call the services directly."""
    engine = make_engine(config.effective_database_url)
    try:
        yield make_session_factory(engine, vault=PiiVault(config.secret()))
    finally:
        await engine.dispose()
