"""agreement texts whose stored form outgrows its limit: unbounded TEXT

Four columns hold a text in a stored form that is longer than the limit the
product puts on the text itself, by an amount that depends on the content:

- ``agreement_draft.frozen_text`` is encrypted (server/models/encrypted.py): a
  Fernet token over the compressed text, whose length depends on how well the
  text compresses. A VARCHAR(60000) bound refused texts by an accident of
  compression.
- ``agreement_draft.content`` and ``draft_revision.content`` hold the drafting
  fields as JSON. The fields allow about 43,000 characters
  (server/agreements/schemas.py), and JSON adds its keys and escapes every quote,
  backslash and line break: a full draft did not fit VARCHAR(40000), and
  PostgreSQL refused the save with a database error.
- ``agreement.party_names`` holds every party's name for the case-record search.
  A dispute has up to 20 parties of up to 40 characters each (about 820 with
  the separators): VARCHAR(400) made sealing cut the list, and the search missed
  the parties named last.

TEXT lets the product limits on the plain text (the drafting fields' limits and
``MAX_FROZEN_TEXT_CHARS``, server/agreements/service.py) be the only ones.

On SQLite the lengths were never enforced; the tables are rebuilt (batch mode)
so that the schema still equals the models (migrations/env.py lets the rebuild
drop a table under its children's foreign keys and checks them at the end).
A rebuild drops the table's triggers with the old table, so the archive's
append-only triggers (0004) are created again after ``agreement`` is rebuilt,
both ways. PostgreSQL alters the columns in place and keeps its triggers (a
row trigger does not fire for ALTER TABLE, and VARCHAR to TEXT rewrites nothing).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

#: table -> column -> its bound before this revision.
OLD_LENGTHS = {
    "agreement_draft": {"content": 40000, "frozen_text": 60000},
    "draft_revision": {"content": 40000},
    "agreement": {"party_names": 400},
}

# The archive's append-only triggers as 0004 created them, for SQLite, where a
# batch rebuild of ``agreement`` drops them. Copied, not imported: a revision
# must keep doing what it did when later ones change.
_SQLITE_ARCHIVE_TRIGGERS = [
    """CREATE TRIGGER agreement_no_update BEFORE UPDATE ON agreement
    BEGIN SELECT RAISE(ABORT, 'agreement is append-only'); END""",
    """CREATE TRIGGER agreement_no_delete BEFORE DELETE ON agreement
    BEGIN SELECT RAISE(ABORT, 'agreement is append-only'); END""",
]


def _protect_rebuilt_archive(table: str) -> None:
    """After SQLite rebuilt ``agreement``, make it append-only again."""
    if table == "agreement" and op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_ARCHIVE_TRIGGERS:
            op.execute(statement)


def upgrade() -> None:
    for table, columns in OLD_LENGTHS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, length in columns.items():
                batch_op.alter_column(
                    column,
                    existing_type=sa.String(length=length),
                    type_=sa.Text(),
                    existing_nullable=False,
                )
        _protect_rebuilt_archive(table)


def downgrade() -> None:
    # A stored value longer than the old bound makes PostgreSQL refuse this step
    # (the value would not fit) rather than cut a signed text, a draft or the
    # list of parties short.
    for table, columns in reversed(OLD_LENGTHS.items()):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, length in columns.items():
                batch_op.alter_column(
                    column,
                    existing_type=sa.Text(),
                    type_=sa.String(length=length),
                    existing_nullable=False,
                )
        _protect_rebuilt_archive(table)
