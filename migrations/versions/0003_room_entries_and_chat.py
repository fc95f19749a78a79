"""room entries and chat

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chat_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("sender_key", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("sender_name", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("text", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("private_to_hosts", sa.Boolean(), nullable=False),
        sa.Column("caucus_id", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("audience", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["mediation_session.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("chat_message", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_chat_message_session_id"), ["session_id"], unique=False
        )

    op.create_table(
        "room_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("participant_key", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("admission", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("first_joined_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["mediation_session.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_id", "participant_key"),
    )
    with op.batch_alter_table("room_entry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_room_entry_session_id"), ["session_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("room_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_room_entry_session_id"))

    op.drop_table("room_entry")
    with op.batch_alter_table("chat_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chat_message_session_id"))

    op.drop_table("chat_message")
