"""live room state: lock, caucuses, host controls

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "room_state",
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.Column("next_caucus", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["mediation_session.id"],
        ),
        sa.PrimaryKeyConstraint("session_id"),
    )
    op.create_table(
        "room_caucus",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("caucus_key", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("opened_by", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("members", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["mediation_session.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_id", "caucus_key"),
    )
    with op.batch_alter_table("room_caucus", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_room_caucus_session_id"), ["session_id"], unique=False)

    op.create_table(
        "room_control",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("participant_key", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("muted_by_host", sa.Boolean(), nullable=False),
        sa.Column("video_stopped_by_host", sa.Boolean(), nullable=False),
        sa.Column("hand_raised", sa.Boolean(), nullable=False),
        sa.Column("unmute_requested", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["mediation_session.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_id", "participant_key"),
    )
    with op.batch_alter_table("room_control", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_room_control_session_id"), ["session_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("room_control", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_room_control_session_id"))

    op.drop_table("room_control")
    with op.batch_alter_table("room_caucus", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_room_caucus_session_id"))

    op.drop_table("room_caucus")
    op.drop_table("room_state")
