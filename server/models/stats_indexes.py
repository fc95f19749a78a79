"""Indexes for the station's figures and the weekly review (migration 0008).

Kept in one module, beside the tables they serve, so that the figures'
reading needs are visible in one place. Each one lets SQLite (and PostgreSQL)
answer from the index alone: with 50,000 disputes and 200,000 timeline
entries the statistics page then reads no table rows for its counts
(bench/closed_loop.py measures it).
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Index, Table

from server.models.agreement import Agreement
from server.models.dispute import Dispute, DisputeEvent
from server.models.session import MediationSession


def _t(model: object) -> Table:
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


_d = _t(Dispute).c
_e = _t(DisputeEvent).c
_s = _t(MediationSession).c
_a = _t(Agreement).c

#: The disputes of a station registered in a period, with every dimension the figures group by.
DISPUTE_SCOPE = Index(
    "ix_dispute_stats_scope",
    _d.station_id,
    _d.created_at,
    _d.office_id,
    _d.category,
    _d.risk_level,
    _d.criminal_on,
)
#: 每周研判: a station's high-risk disputes by age.
DISPUTE_REVIEW = Index(
    "ix_dispute_stats_review", _d.station_id, _d.risk_level, _d.created_at, _d.status
)
#: Whether a dispute reached an outcome, an agreement, a referral, a reopening.
EVENT_FLAGS = Index("ix_dispute_event_stats_flags", _e.dispute_id, _e.to_status, _e.kind)
#: Reopenings in a period, by what found them.
EVENT_REOPENED = Index("ix_dispute_event_stats_reopened", _e.kind, _e.link_kind, _e.at)
#: A dispute's legal track from its sessions that were not cancelled.
SESSION_TRACK = Index("ix_mediation_session_stats_track", _s.dispute_id, _s.status, _s.legal_track)
#: A dispute's first sealed agreement and when.
AGREEMENT_FIRST = Index("ix_agreement_stats_first", _a.dispute_id, _a.version, _a.sealed_at)
