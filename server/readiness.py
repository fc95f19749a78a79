"""Whether this process can serve now: what ``/readyz`` checks, without HTTP.

``/healthz`` says only that the process answers. Readiness asks the things a
request depends on, each with a short timeout so that a hung database makes
the check fail rather than hang the load balancer's probe:

- ``database``: a ``SELECT 1`` through the app's own pool; for SQLite also
  that the database file is still a file at its path (connections already
  open keep working on a file deleted under them, and every write would be
  lost with it);
- ``migrations``: the revision the database records is the code's head (a
  database migrated down, or up by newer code, is not one this code may
  write to);
- ``media``: the live rooms were started and their housekeeping runs.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from server import migrate
from server.live.rooms import LiveRooms

#: Seconds each database check may take.
DB_TIMEOUT = 2.0


@dataclass(frozen=True)
class Check:
    """One check's outcome; ``detail`` says what failed (for operators, not the public)."""

    name: str
    ok: bool
    detail: str = ""


def sqlite_file(engine: AsyncEngine) -> Path | None:
    """The SQLite database file of ``engine``, or None (another database, or in memory)."""
    url = engine.url
    if not url.drivername.startswith("sqlite") or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


async def check_database(engine: AsyncEngine | None, limit: float = DB_TIMEOUT) -> Check:
    if engine is None:
        return Check("database", False, "the database engine is not open")
    path = sqlite_file(engine)
    if path is not None and not path.is_file():
        return Check("database", False, f"the SQLite file {path} is missing")
    try:
        async with asyncio.timeout(limit), engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except TimeoutError:
        return Check("database", False, f"SELECT 1 took longer than {limit:g} s")
    except Exception as exc:
        return Check("database", False, f"{type(exc).__name__}: {exc}")
    return Check("database", True)


async def check_migrations(
    engine: AsyncEngine | None, head: str | None, limit: float = DB_TIMEOUT
) -> Check:
    if engine is None:
        return Check("migrations", False, "the database engine is not open")
    try:
        async with asyncio.timeout(limit):
            current = await migrate.current_revision(engine)
    except TimeoutError:
        return Check("migrations", False, f"reading the revision took longer than {limit:g} s")
    except Exception as exc:
        return Check("migrations", False, f"{type(exc).__name__}: {exc}")
    if current != head:
        return Check("migrations", False, f"the database is at {current!r}, the code at {head!r}")
    return Check("migrations", True)


def check_media(rooms: LiveRooms | None) -> Check:
    if rooms is None:
        return Check("media", False, "the live rooms are not started")
    if not rooms.running:
        return Check("media", False, "the live rooms' housekeeping is not running")
    return Check("media", True)


async def readiness(
    engine: AsyncEngine | None, rooms: LiveRooms | None, head: str | None
) -> list[Check]:
    """Every check, in a fixed order; the database ones run together."""
    database, migrations = await asyncio.gather(
        check_database(engine), check_migrations(engine, head)
    )
    if not database.ok and migrations.ok:
        # A SQLite file replaced under us may still answer from the old one: not ready.
        migrations = Check("migrations", False, "not checked: the database check failed")
    return [database, migrations, check_media(rooms)]
