"""expert pool, sessions and invitations

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "expert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("organisation", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("notes", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["station.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("expert", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_expert_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_expert_phone"), ["phone"], unique=False)
        batch_op.create_index(batch_op.f("ix_expert_station_id"), ["station_id"], unique=False)

    op.create_table(
        "expert_office",
        sa.Column("expert_id", sa.Integer(), nullable=False),
        sa.Column("office_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["expert_id"],
            ["expert.id"],
        ),
        sa.ForeignKeyConstraint(
            ["office_id"],
            ["beat_office.id"],
        ),
        sa.PrimaryKeyConstraint("expert_id", "office_id"),
    )
    op.create_table(
        "expert_specialty",
        sa.Column("expert_id", sa.Integer(), nullable=False),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["expert_id"],
            ["expert.id"],
        ),
        sa.PrimaryKeyConstraint("expert_id", "category"),
    )
    op.create_table(
        "mediation_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("office_id", sa.Integer(), nullable=False),
        sa.Column("dispute_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("ends_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("legal_track", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("police_checks_confirmed", sa.Boolean(), nullable=False),
        sa.Column("presiding_officer_id", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("cancel_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["staff_user.id"],
        ),
        sa.ForeignKeyConstraint(
            ["dispute_id"],
            ["dispute.id"],
        ),
        sa.ForeignKeyConstraint(
            ["office_id"],
            ["beat_office.id"],
        ),
        sa.ForeignKeyConstraint(
            ["presiding_officer_id"],
            ["staff_user.id"],
        ),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["station.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("mediation_session", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_mediation_session_dispute_id"), ["dispute_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_mediation_session_ends_at"), ["ends_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_mediation_session_office_id"), ["office_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_mediation_session_presiding_officer_id"),
            ["presiding_officer_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_mediation_session_starts_at"), ["starts_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_mediation_session_station_id"), ["station_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_mediation_session_status"), ["status"], unique=False)

    op.create_table(
        "invitation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=True),
        sa.Column("expert_id", sa.Integer(), nullable=True),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("display_name", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("issued_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("issued_by_id", sa.Integer(), nullable=False),
        sa.Column("issue_count", sa.Integer(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("revoked_reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("first_opened_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("last_opened_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("open_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["expert_id"],
            ["expert.id"],
        ),
        sa.ForeignKeyConstraint(
            ["issued_by_id"],
            ["staff_user.id"],
        ),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["party.id"],
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["mediation_session.id"],
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invitation_expert_id"), ["expert_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_invitation_party_id"), ["party_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_invitation_session_id"), ["session_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invitation_session_id"))
        batch_op.drop_index(batch_op.f("ix_invitation_party_id"))
        batch_op.drop_index(batch_op.f("ix_invitation_expert_id"))

    op.drop_table("invitation")
    with op.batch_alter_table("mediation_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mediation_session_status"))
        batch_op.drop_index(batch_op.f("ix_mediation_session_station_id"))
        batch_op.drop_index(batch_op.f("ix_mediation_session_starts_at"))
        batch_op.drop_index(batch_op.f("ix_mediation_session_presiding_officer_id"))
        batch_op.drop_index(batch_op.f("ix_mediation_session_office_id"))
        batch_op.drop_index(batch_op.f("ix_mediation_session_ends_at"))
        batch_op.drop_index(batch_op.f("ix_mediation_session_dispute_id"))

    op.drop_table("mediation_session")
    op.drop_table("expert_specialty")
    op.drop_table("expert_office")
    with op.batch_alter_table("expert", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_expert_station_id"))
        batch_op.drop_index(batch_op.f("ix_expert_phone"))
        batch_op.drop_index(batch_op.f("ix_expert_kind"))

    op.drop_table("expert")
