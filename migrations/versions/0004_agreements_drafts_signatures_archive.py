"""agreements drafts signatures archive

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_counter",
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["station.id"],
        ),
        sa.PrimaryKeyConstraint("station_id", "year", "kind"),
    )
    op.create_table(
        "agreement_draft",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("dispute_id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("office_id", sa.Integer(), nullable=False),
        sa.Column("legal_track", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content", sqlmodel.sql.sqltypes.AutoString(length=40000), nullable=False),
        sa.Column("minutes", sqlmodel.sql.sqltypes.AutoString(length=20000), nullable=False),
        sa.Column("frozen_version", sa.Integer(), nullable=True),
        sa.Column("frozen_text", sqlmodel.sql.sqltypes.AutoString(length=60000), nullable=False),
        sa.Column("frozen_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("frozen_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("frozen_by_id", sa.Integer(), nullable=True),
        sa.Column("case_number", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("case_year", sa.Integer(), nullable=True),
        sa.Column("case_seq", sa.Integer(), nullable=True),
        sa.Column("correction_of_id", sa.Integer(), nullable=True),
        sa.Column(
            "correction_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False
        ),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_by", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.ForeignKeyConstraint(
            ["dispute_id"],
            ["dispute.id"],
        ),
        sa.ForeignKeyConstraint(
            ["frozen_by_id"],
            ["staff_user.id"],
        ),
        sa.ForeignKeyConstraint(
            ["office_id"],
            ["beat_office.id"],
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["mediation_session.id"],
        ),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["station.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_id"),
    )
    with op.batch_alter_table("agreement_draft", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agreement_draft_dispute_id"), ["dispute_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_agreement_draft_office_id"), ["office_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_agreement_draft_station_id"), ["station_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_agreement_draft_status"), ["status"], unique=False)

    op.create_table(
        "agreement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("draft_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("dispute_id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("office_id", sa.Integer(), nullable=False),
        sa.Column("legal_track", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("case_number", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("case_year", sa.Integer(), nullable=False),
        sa.Column("case_seq", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("supersedes_id", sa.Integer(), nullable=True),
        sa.Column(
            "correction_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False
        ),
        sa.Column("text_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("pdf_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("pdf_size", sa.Integer(), nullable=False),
        sa.Column("file_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("verify_code", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("party_names", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
        sa.Column("evidence", sqlmodel.sql.sqltypes.AutoString(length=200000), nullable=False),
        sa.Column("sealed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("sealed_by_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dispute_id"],
            ["dispute.id"],
        ),
        sa.ForeignKeyConstraint(
            ["draft_id"],
            ["agreement_draft.id"],
        ),
        sa.ForeignKeyConstraint(
            ["office_id"],
            ["beat_office.id"],
        ),
        sa.ForeignKeyConstraint(
            ["sealed_by_id"],
            ["staff_user.id"],
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["mediation_session.id"],
        ),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["station.id"],
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"],
            ["agreement.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("station_id", "case_number", "version"),
        sa.UniqueConstraint("verify_code"),
    )
    with op.batch_alter_table("agreement", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agreement_case_number"), ["case_number"], unique=False)
        batch_op.create_index(batch_op.f("ix_agreement_dispute_id"), ["dispute_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_agreement_draft_id"), ["draft_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_agreement_office_id"), ["office_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_agreement_pdf_sha256"), ["pdf_sha256"], unique=False)
        batch_op.create_index(batch_op.f("ix_agreement_sealed_at"), ["sealed_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_agreement_session_id"), ["session_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_agreement_station_id"), ["station_id"], unique=False)

    op.create_table(
        "agreement_signer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("draft_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=True),
        sa.Column("principal_party_id", sa.Integer(), nullable=True),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["draft_id"],
            ["agreement_draft.id"],
        ),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["party.id"],
        ),
        sa.ForeignKeyConstraint(
            ["principal_party_id"],
            ["party.id"],
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("agreement_signer", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agreement_signer_draft_id"), ["draft_id"], unique=False
        )

    op.create_table(
        "draft_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("draft_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("content", sqlmodel.sql.sqltypes.AutoString(length=40000), nullable=False),
        sa.Column("text_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("author", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("author_staff_id", sa.Integer(), nullable=True),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_staff_id"],
            ["staff_user.id"],
        ),
        sa.ForeignKeyConstraint(
            ["draft_id"],
            ["agreement_draft.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("draft_id", "number"),
    )
    with op.batch_alter_table("draft_revision", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_draft_revision_draft_id"), ["draft_id"], unique=False)

    op.create_table(
        "agreement_signature",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("signer_id", sa.Integer(), nullable=False),
        sa.Column("draft_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("text_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("image_png", sa.LargeBinary(), nullable=True),
        sa.Column("image_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("via", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("ip", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("user_agent", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("audit_event_id", sa.Integer(), nullable=True),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["audit_event_id"],
            ["audit_event.id"],
        ),
        sa.ForeignKeyConstraint(
            ["draft_id"],
            ["agreement_draft.id"],
        ),
        sa.ForeignKeyConstraint(
            ["signer_id"],
            ["agreement_signer.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("signer_id", "version"),
    )
    with op.batch_alter_table("agreement_signature", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agreement_signature_draft_id"), ["draft_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_agreement_signature_signer_id"), ["signer_id"], unique=False
        )

    with op.batch_alter_table("station", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "mediation_committee",
                sqlmodel.sql.sqltypes.AutoString(length=100),
                nullable=False,
                server_default="",
            )
        )
        batch_op.add_column(
            sa.Column(
                "seal_file",
                sqlmodel.sql.sqltypes.AutoString(length=200),
                nullable=False,
                server_default="",
            )
        )
        batch_op.add_column(
            sa.Column(
                "seal_sha256",
                sqlmodel.sql.sqltypes.AutoString(length=64),
                nullable=False,
                server_default="",
            )
        )
        batch_op.add_column(
            sa.Column("seal_is_sample", sa.Boolean(), nullable=False, server_default=sa.false())
        )

    _protect_archive()


# The archive is append-only like the audit trail: a sealed agreement is never
# rewritten or removed; a correction is a new row that supersedes it.
_SQLITE_TRIGGERS = [
    """CREATE TRIGGER agreement_no_update BEFORE UPDATE ON agreement
    BEGIN SELECT RAISE(ABORT, 'agreement is append-only'); END""",
    """CREATE TRIGGER agreement_no_delete BEFORE DELETE ON agreement
    BEGIN SELECT RAISE(ABORT, 'agreement is append-only'); END""",
]
_POSTGRES_TRIGGERS = [
    """CREATE FUNCTION agreement_append_only() RETURNS trigger AS $$
    BEGIN RAISE EXCEPTION 'agreement is append-only'; END; $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER agreement_no_change BEFORE UPDATE OR DELETE ON agreement
    FOR EACH ROW EXECUTE FUNCTION agreement_append_only()""",
]


def _protect_archive() -> None:
    dialect = op.get_bind().dialect.name
    statements = {"sqlite": _SQLITE_TRIGGERS, "postgresql": _POSTGRES_TRIGGERS}.get(dialect, [])
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS agreement_no_change ON agreement")
        op.execute("DROP FUNCTION IF EXISTS agreement_append_only()")
    with op.batch_alter_table("station", schema=None) as batch_op:
        batch_op.drop_column("seal_is_sample")
        batch_op.drop_column("seal_sha256")
        batch_op.drop_column("seal_file")
        batch_op.drop_column("mediation_committee")

    with op.batch_alter_table("agreement_signature", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agreement_signature_signer_id"))
        batch_op.drop_index(batch_op.f("ix_agreement_signature_draft_id"))

    op.drop_table("agreement_signature")
    with op.batch_alter_table("draft_revision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_draft_revision_draft_id"))

    op.drop_table("draft_revision")
    with op.batch_alter_table("agreement_signer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agreement_signer_draft_id"))

    op.drop_table("agreement_signer")
    with op.batch_alter_table("agreement", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agreement_station_id"))
        batch_op.drop_index(batch_op.f("ix_agreement_session_id"))
        batch_op.drop_index(batch_op.f("ix_agreement_sealed_at"))
        batch_op.drop_index(batch_op.f("ix_agreement_pdf_sha256"))
        batch_op.drop_index(batch_op.f("ix_agreement_office_id"))
        batch_op.drop_index(batch_op.f("ix_agreement_draft_id"))
        batch_op.drop_index(batch_op.f("ix_agreement_dispute_id"))
        batch_op.drop_index(batch_op.f("ix_agreement_case_number"))

    op.drop_table("agreement")
    with op.batch_alter_table("agreement_draft", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agreement_draft_status"))
        batch_op.drop_index(batch_op.f("ix_agreement_draft_station_id"))
        batch_op.drop_index(batch_op.f("ix_agreement_draft_office_id"))
        batch_op.drop_index(batch_op.f("ix_agreement_draft_dispute_id"))

    op.drop_table("agreement_draft")
    op.drop_table("case_counter")
