"""Alembic, driven from code so `concord migrate` needs no alembic.ini.

Alembic itself is imported only by the commands that change the schema: the
server's start-up check (is the database at the code's head?) reads the
revision chain from the migration files and the current revision with one
query, which keeps alembic out of every process that only serves.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from server.models.encrypted import is_sealed, seal_text
from server.pii import PiiVault

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
VERSION_TABLE = "alembic_version"


def alembic_config(database_url: str) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["database_url"] = database_url
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision``. Blocking: call from a thread inside a loop."""
    from alembic import command

    if database_url.startswith("sqlite"):
        path = database_url.split(":///", 1)[1]
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(database_url), revision)


def _assigned(tree: ast.Module, name: str) -> object:
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
        for target in targets:
            if isinstance(target, ast.Name) and target.id == name and value is not None:
                return ast.literal_eval(value)
    raise ValueError(f"migration without {name}")


def head_revision() -> str | None:
    """The newest revision: the one no other migration names as its predecessor.

    Read from the files' ``revision`` / ``down_revision`` literals (the same
    ones alembic reads; tests/test_migrations.py checks the two agree).
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        revisions.add(str(_assigned(tree, "revision")))
        down = _assigned(tree, "down_revision")
        if isinstance(down, str):
            parents.add(down)
        elif isinstance(down, tuple | list):
            parents.update(str(d) for d in down)
    heads = sorted(revisions - parents)
    if len(heads) > 1:
        raise RuntimeError(f"the migrations have several heads: {heads}")
    return heads[0] if heads else None


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    async with engine.connect() as conn:
        if not await conn.run_sync(lambda sync: inspect(sync).has_table(VERSION_TABLE)):
            return None
        rows = (await conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))).all()
    return str(rows[0][0]) if rows else None


async def encrypt_legacy_texts(engine: AsyncEngine, vault: PiiVault) -> int:
    """Encrypt frozen texts stored in the clear by versions before encryption at rest.

    Run by ``concord migrate`` after the schema is current; a second run finds
    nothing to do. Each row is rewritten only if it still holds the plain
    text it was read with, so a server writing meanwhile loses nothing.
    Returns how many rows were encrypted.
    """
    async with engine.connect() as conn:
        if not await conn.run_sync(lambda sync: inspect(sync).has_table("agreement_draft")):
            return 0
    select_plain = text("SELECT id, frozen_text FROM agreement_draft WHERE frozen_text <> ''")
    update_one = text(
        "UPDATE agreement_draft SET frozen_text = :sealed WHERE id = :id AND frozen_text = :plain"
    )
    changed = 0
    async with engine.begin() as conn:
        for row_id, stored in (await conn.execute(select_plain)).all():
            if is_sealed(stored):
                continue
            result = await conn.execute(
                update_one, {"sealed": seal_text(vault, stored), "id": row_id, "plain": stored}
            )
            changed += result.rowcount
    return changed
