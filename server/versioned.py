"""Optimistic locking: a row moves to its next version in the database itself.

Every record two people may change at once (a dispute, an agreement draft, a
follow-up task, a spot check, a judicial-confirmation window) carries a
``version``. A change is one ``UPDATE … WHERE id = … AND version = expected``:
on any database the second of two concurrent writers matches no row, and is
told, instead of silently overwriting the first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from sqlalchemy import ColumnElement, update
from sqlalchemy import inspect as sa_inspect
from sqlmodel.ext.asyncio.session import AsyncSession


class Versioned(Protocol):
    """A table row with an id and a version."""

    id: int | None
    version: int


async def claim_next_version(
    db: AsyncSession,
    row: Versioned,
    expected: int,
    values: Mapping[str, Any] | None = None,
    *,
    also: tuple[ColumnElement[bool], ...] = (),
) -> bool:
    """Set ``values`` and ``version = expected + 1`` if the row is still at ``expected``
    (and ``also`` holds); False when someone else was first. ``row`` is updated to match."""
    table = sa_inspect(type(row)).local_table
    changes = dict(values or {})
    result = await db.exec(
        update(table)
        .where(table.c.id == row.id, table.c.version == expected, *also)
        .values(version=expected + 1, **changes)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    for name, value in {**changes, "version": expected + 1}.items():
        setattr(row, name, value)
    return True
