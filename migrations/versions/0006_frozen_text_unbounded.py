"""frozen agreement text: unbounded TEXT

The frozen text is stored encrypted (server/models/encrypted.py): a Fernet
token over the compressed text, whose length depends on how well the text
compresses. A VARCHAR(60000) bound on that stored form refused texts by an
accident of compression; TEXT lets the product limit on the plain text
(``MAX_FROZEN_TEXT_CHARS``, server/agreements/rules.py) be the only one.

On SQLite the length was never enforced; the table is rebuilt (batch mode) so
that the schema still equals the models (migrations/env.py lets the rebuild
drop the table under its children's foreign keys and checks them at the end).

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

OLD_LENGTH = 60000


def upgrade() -> None:
    with op.batch_alter_table("agreement_draft", schema=None) as batch_op:
        batch_op.alter_column(
            "frozen_text",
            existing_type=sa.String(length=OLD_LENGTH),
            type_=sa.Text(),
            existing_nullable=False,
        )


def downgrade() -> None:
    # A stored text longer than the old bound makes PostgreSQL refuse this step
    # (the value would not fit) rather than cut a signed text short.
    with op.batch_alter_table("agreement_draft", schema=None) as batch_op:
        batch_op.alter_column(
            "frozen_text",
            existing_type=sa.Text(),
            type_=sa.String(length=OLD_LENGTH),
            existing_nullable=False,
        )
