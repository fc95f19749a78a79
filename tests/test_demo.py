"""`concord demo`: a station to try at once, and a session today with working links."""

from __future__ import annotations

import json
import stat
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, func, select

from server.config import Config
from server.db import make_engine, make_session_factory
from server.demo import seed_demo
from server.experts.kinds import ExpertKind
from server.experts.rota import week_of
from server.local_time import local_today
from server.models import (
    Agreement,
    Dispute,
    DutySlot,
    Expert,
    ExpertAvailability,
    ExpertRelation,
    Invitation,
    MediationSession,
    RiskAlert,
    StaffUser,
)
from server.sessions.invitations import open_link


@pytest.mark.around_local_midnight
async def test_demo_seeds_once_and_books_today(config: Config, tmp_path: Path) -> None:
    first = await seed_demo(config)
    assert first.created
    assert {row[0] for row in first.logins} >= {"admin", "chief", "officer", "clerk"}
    assert first.session_starts_at is not None
    assert len(first.links) == 5
    state_file = tmp_path / "demo-logins.json"
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    assert "links" in json.loads(state_file.read_text())

    second = await seed_demo(config)
    assert not second.created
    assert second.links == first.links
    assert second.logins == first.logins
    # One finished case with a sealed agreement, made once, findable again.
    assert first.finished is not None and second.finished is not None
    assert first.finished.case_number == second.finished.case_number
    assert first.finished.case_number.endswith("治调字第0001号")
    assert first.finished.pdf_path.read_bytes().startswith(b"%PDF-")
    assert first.finished.demo_pki is not None and second.finished.demo_pki is None

    engine = make_engine(config.effective_database_url)
    try:
        async with make_session_factory(engine)() as db:
            kinds = set(await db.exec(select(Expert.kind)))
            assert kinds == {k.value for k in ExpertKind}
            assert (await db.exec(select(func.count()).select_from(Expert))).one() >= 10
            assert (await db.exec(select(func.count()).select_from(MediationSession))).one() == 2
            assert (await db.exec(select(func.count()).select_from(Agreement))).one() == 1
            assert (await db.exec(select(func.count()).select_from(StaffUser))).one() == 6
            # Declared availability, a rota from this week on, one declared relation.
            assert (await db.exec(select(func.count()).select_from(ExpertAvailability))).one() > 0
            this_week = week_of(local_today(ZoneInfo(config.timezone)))
            rota_dates = set(await db.exec(select(col(DutySlot.on_date))))
            assert this_week in {d - timedelta(days=d.weekday()) for d in rota_dates}
            assert (await db.exec(select(func.count()).select_from(ExpertRelation))).one() == 1
            # One open 预警, raised by the first grade and not repeated by the triage.
            (alert,) = list(await db.exec(select(RiskAlert)))
            assert alert.acknowledged_at is None and alert.raised_on == "registration"
            alerted = await db.get(Dispute, alert.dispute_id)
            assert alerted is not None and alerted.title == "工厂拖欠工资纠纷"
            token = first.links[0][2].rsplit("/", 1)[1]
            door = await open_link(db, token, ip="127.0.0.1", user_agent="pytest")
            assert door is not None
            assert door.dispute.title == "养犬扰邻纠纷"
            # Nothing in the database holds a token in clear.
            hashes = list(await db.exec(select(Invitation.token_hash)))
            assert token not in hashes and len(hashes) == 5 + 2  # and the finished case's parties
    finally:
        await engine.dispose()
