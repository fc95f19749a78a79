"""The async engine and sessions, and the check that the schema is current."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from server.models.encrypted import VAULT_INFO_KEY
from server.pii import PiiVault

SessionFactory = async_sessionmaker[AsyncSession]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets pages read while a write is in progress; foreign keys are off by
    # default in SQLite; the busy timeout turns short write contention into a
    # wait rather than a "database is locked" error.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str) -> AsyncEngine:
    """An engine for ``url``, with SQLite tuned for one server process.

    ``hide_parameters``: the values bound to statements (names, telephone
    numbers, encrypted ID numbers) stay out of SQLAlchemy's debug lines and of
    the text of its errors, which end up in logged tracebacks.
    """
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_pre_ping=True, hide_parameters=True)


def make_session_factory(engine: AsyncEngine, *, vault: PiiVault | None = None) -> SessionFactory:
    """Sessions keep loaded objects usable after commit (pages render after it).

    ``vault`` encrypts and decrypts what is kept encrypted inside rows
    (server/models/encrypted.py); sessions without one cannot write those.
    """
    info = {VAULT_INFO_KEY: vault} if vault is not None else {}
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False, info=info)


@asynccontextmanager
async def transaction(factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    """One unit of work: committed when the block ends, rolled back on any error."""
    async with factory() as session, session.begin():
        yield session
