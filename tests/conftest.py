"""Shared fixtures: a migrated SQLite file per test, the app, a seeded station, the clock.

Migrations run once per session into a template file that each test copies,
so every test gets a real, migrated SQLite database in its own directory.

The office's day is the Asia/Shanghai day (UTC+8), so a test that compares
dates gives one answer from 00:00 to 16:00 UTC and may give another from 16:00
to 24:00. Tests marked ``around_local_midnight`` therefore run once at each
instant of ``AROUND_LOCAL_MIDNIGHT``; ``pytest --clock=2026-12-31T16:30Z``
starts the whole run's clock at a chosen instant, as faketime would.
"""

from __future__ import annotations

import functools
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
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

# Either side of midnight in Asia/Shanghai (16:00 UTC), and the first half hour
# of a new year there while it is still the old year in UTC.
AROUND_LOCAL_MIDNIGHT = {
    "15:59Z": datetime(2026, 6, 15, 15, 59, tzinfo=UTC),
    "16:01Z": datetime(2026, 6, 15, 16, 1, tzinfo=UTC),
    "new-year-eve-16:30Z": datetime(2026, 12, 31, 16, 30, tzinfo=UTC),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--clock",
        metavar="INSTANT",
        help="start the clock of the whole run at INSTANT (ISO 8601, e.g. 2026-12-31T16:30Z)"
        " to show that no result depends on when the suite runs",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "around_local_midnight: run the test at each instant of AROUND_LOCAL_MIDNIGHT",
    )
    instant = config.getoption("--clock")
    if instant:
        # The clock keeps ticking from there: timeouts and expiry still work.
        traveller = time_machine.travel(datetime.fromisoformat(instant), tick=True)
        traveller.start()
        config.add_cleanup(traveller.stop)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("around_local_midnight"):
        metafunc.parametrize(
            "pinned_clock",
            list(AROUND_LOCAL_MIDNIGHT.values()),
            ids=list(AROUND_LOCAL_MIDNIGHT),
            indirect=True,
        )


@pytest.fixture(autouse=True)
def pinned_clock(request: pytest.FixtureRequest) -> Iterator[datetime | None]:
    """The instant a marked test starts at (the clock ticks on), or None: the real clock.

    Autouse, so it is set up before the database, the app and their certificates.
    """
    instant: datetime | None = getattr(request, "param", None)
    if instant is None:
        yield None
        return
    with time_machine.travel(instant, tick=True):
        yield instant


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
