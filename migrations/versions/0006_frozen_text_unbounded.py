"""agreement texts whose stored form outgrows its limit: unbounded TEXT

Three columns hold a text in a stored form that is longer than the limit the
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

TEXT lets the product limits on the plain text (the drafting fields' limits and
``MAX_FROZEN_TEXT_CHARS``, server/agreements/service.py) be the only ones.

On SQLite the lengths were never enforced; the tables are rebuilt (batch mode)
so that the schema still equals the models (migrations/env.py lets the rebuild
drop a table under its children's foreign keys and checks them at the end).

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
}


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


def downgrade() -> None:
    # A stored value longer than the old bound makes PostgreSQL refuse this step
    # (the value would not fit) rather than cut a signed text or a draft short.
    for table, columns in reversed(OLD_LENGTHS.items()):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, length in columns.items():
                batch_op.alter_column(
                    column,
                    existing_type=sa.Text(),
                    type_=sa.String(length=length),
                    existing_nullable=False,
                )
