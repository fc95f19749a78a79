"""indexes for the station's figures and the weekly review

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

INDEXES: list[tuple[str, str, list[str]]] = [
    (
        "ix_dispute_stats_scope",
        "dispute",
        ["station_id", "created_at", "office_id", "category", "risk_level", "criminal_on"],
    ),
    ("ix_dispute_stats_review", "dispute", ["station_id", "risk_level", "created_at", "status"]),
    ("ix_dispute_event_stats_flags", "dispute_event", ["dispute_id", "to_status", "kind"]),
    ("ix_dispute_event_stats_reopened", "dispute_event", ["kind", "link_kind", "at"]),
    (
        "ix_mediation_session_stats_track",
        "mediation_session",
        ["dispute_id", "status", "legal_track"],
    ),
    ("ix_agreement_stats_first", "agreement", ["dispute_id", "version", "sealed_at"]),
]


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
