"""A known set of disputes whose every figure is worked out by hand in test_figures.py.

Rows are inserted directly (the follow-up, spot-check and agreement features
write the same rows); only the records the figures read are made. Times are
UTC; the comments give the local (Asia/Shanghai) time where it matters.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from server.auth.roles import Actor, Role
from server.db import SessionFactory, transaction
from server.models import (
    Agreement,
    AgreementDraft,
    BeatOffice,
    Dispute,
    DisputeEvent,
    Expert,
    FollowUpRecord,
    FollowUpTask,
    Invitation,
    MediationSession,
    Party,
    SpotCheck,
    SpotCheckDraw,
    StaffUser,
    Station,
)

_ids = itertools.count(1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc, arg-type]


@dataclass
class Known:
    station_id: int
    office_a: int
    office_b: int
    other_office: int
    chief: Actor
    officer_a: Actor
    clerk: Actor
    admin: Actor
    auxiliary: Actor
    expert_1: int = 0
    expert_2: int = 0
    disputes: dict[str, int] = field(default_factory=dict)


class Builder:
    def __init__(self, db: AsyncSession, station_id: int, user_id: int) -> None:
        self.db = db
        self.station_id = station_id
        self.user_id = user_id

    async def dispute(
        self,
        office_id: int,
        category: str,
        risk: str | None,
        created: datetime,
        statuses: list[str],
        *,
        station_id: int | None = None,
        criminal_on: date | None = None,
    ) -> Dispute:
        dispute = Dispute(
            station_id=station_id or self.station_id,
            office_id=office_id,
            title=f"纠纷{category}",
            category=category,
            cause="诱因",
            occurred_at=created - timedelta(days=1),
            place="某小区",
            scale=2,
            trend="stable",
            source="walk_in",
            status=statuses[-1] if statuses else "registered",
            risk_level=risk,
            created_by_id=self.user_id,
            created_at=created,
            updated_at=created,
            criminal_on=criminal_on,
            criminal_case_ref="刑案2026-001" if criminal_on else "",
        )
        self.db.add(dispute)
        await self.db.flush()
        assert dispute.id is not None
        self.event(dispute, created, "registered", None, "registered")
        previous = "registered"
        for n, status in enumerate(statuses, start=1):
            self.event(dispute, created + timedelta(hours=n), "status_changed", previous, status)
            previous = status
        return dispute

    def event(
        self,
        dispute: Dispute,
        at: datetime,
        kind: str,
        from_status: str | None,
        to_status: str | None,
        **extra: object,
    ) -> None:
        assert dispute.id is not None
        self.db.add(
            DisputeEvent(
                dispute_id=dispute.id,
                at=at,
                actor_id=self.user_id,
                kind=kind,
                from_status=from_status,
                to_status=to_status,
                **extra,  # type: ignore[arg-type]
            )
        )

    async def session(
        self, dispute: Dispute, track: str, *, status: str = "held", experts: tuple[int, ...] = ()
    ) -> MediationSession:
        assert dispute.id is not None
        starts = dispute.created_at + timedelta(hours=12)
        session = MediationSession(
            station_id=dispute.station_id,
            office_id=dispute.office_id,
            dispute_id=dispute.id,
            starts_at=starts,
            ends_at=starts + timedelta(hours=1),
            duration_minutes=60,
            legal_track=track,
            presiding_officer_id=self.user_id,
            status=status,
            created_by_id=self.user_id,
        )
        self.db.add(session)
        await self.db.flush()
        assert session.id is not None
        for expert_id in experts:
            self.db.add(
                Invitation(
                    session_id=session.id,
                    role="expert",
                    expert_id=expert_id,
                    display_name="专家",
                    token_hash=f"token-{next(_ids)}-{session.id}-{expert_id}",
                    issued_by_id=self.user_id,
                    expires_at=starts + timedelta(days=1),
                )
            )
        return session

    async def agreement(
        self, dispute: Dispute, session: MediationSession, sealed: datetime, *, corrected: bool
    ) -> Agreement:
        assert dispute.id is not None and session.id is not None
        draft = AgreementDraft(
            session_id=session.id,
            dispute_id=dispute.id,
            station_id=dispute.station_id,
            office_id=dispute.office_id,
            legal_track=session.legal_track,
            status="sealed",
        )
        self.db.add(draft)
        await self.db.flush()
        assert draft.id is not None
        n = next(_ids)
        common: dict[str, Any] = {
            "draft_id": draft.id,
            "session_id": session.id,
            "dispute_id": dispute.id,
            "station_id": dispute.station_id,
            "office_id": dispute.office_id,
            "legal_track": session.legal_track,
            "case_number": f"（2026）白石调字第{n:04d}号",
            "case_year": 2026,
            "case_seq": n,
            "text_sha256": "0" * 64,
            "pdf_sha256": "1" * 64,
            "pdf_size": 1000,
            "file_name": f"{n}.pdf",
            "sealed_by_id": self.user_id,
        }
        first = Agreement(version=1, verify_code=f"V{n}", sealed_at=sealed, **common)
        self.db.add(first)
        await self.db.flush()
        if corrected:
            self.db.add(
                Agreement(
                    version=2,
                    verify_code=f"V{n}b",
                    supersedes_id=first.id,
                    correction_reason="笔误",
                    sealed_at=sealed + timedelta(days=2),
                    **common,
                )
            )
        return first

    async def followup(self, dispute: Dispute, outcome: str, at: datetime) -> FollowUpRecord:
        assert dispute.id is not None
        task = FollowUpTask(
            dispute_id=dispute.id,
            station_id=dispute.station_id,
            office_id=dispute.office_id,
            kind="performance",
            due_on=at.date(),
            status="done",
        )
        self.db.add(task)
        await self.db.flush()
        assert task.id is not None
        record = FollowUpRecord(
            task_id=task.id,
            dispute_id=dispute.id,
            contacted_at=at,
            method="phone",
            reached="申请人",
            outcome=outcome,
            recorded_by_id=self.user_id,
        )
        self.db.add(record)
        await self.db.flush()
        return record

    def party(
        self, dispute: Dispute, name: str, *, digest: str = "", phone: str = "", address: str = ""
    ) -> None:
        assert dispute.id is not None
        self.db.add(
            Party(
                dispute_id=dispute.id,
                name=name,
                role="applicant",
                id_number_digest=digest,
                id_number_masked="1101**********1234" if digest else "",
                phone=phone,
                address=address,
            )
        )


def _actor(user: StaffUser) -> Actor:
    assert user.id is not None
    return Actor(
        user_id=user.id,
        station_id=user.station_id,
        office_id=user.office_id,
        role=Role(user.role),
        label=user.display_name,
    )


async def build_known(factory: SessionFactory) -> Known:
    """Seven disputes in the period January-March 2026 over two offices, and three that
    must not be counted (before, after, another station)."""
    async with transaction(factory) as db:
        station = Station(name="统计派出所", short_name="统计")
        other = Station(name="别处派出所", short_name="别处")
        db.add_all([station, other])
        await db.flush()
        assert station.id is not None and other.id is not None
        a = BeatOffice(station_id=station.id, name="滨河社区警务室")
        b = BeatOffice(station_id=station.id, name="新村社区警务室")
        c = BeatOffice(station_id=other.id, name="别处社区警务室")
        db.add_all([a, b, c])
        await db.flush()
        assert a.id is not None and b.id is not None and c.id is not None
        users = {
            name: StaffUser(
                station_id=station.id,
                office_id=office,
                username=f"stats_{name}",
                display_name=name,
                role=role,
                password_hash="x",
            )
            for name, role, office in [
                ("chief", Role.CHIEF, None),
                ("officer", Role.OFFICER, a.id),
                ("clerk", Role.CLERK, None),
                ("admin", Role.ADMIN, None),
                ("auxiliary", Role.AUXILIARY, a.id),
            ]
        }
        db.add_all(users.values())
        await db.flush()
        chief_id = users["chief"].id
        assert chief_id is not None
        e1 = Expert(station_id=station.id, name="王律师", kind="lawyer", phone="13800000001")
        e2 = Expert(station_id=station.id, name="赵干部", kind="cadre", phone="13800000002")
        db.add_all([e1, e2])
        await db.flush()
        assert e1.id is not None and e2.id is not None
        known = Known(
            station_id=station.id,
            office_a=a.id,
            office_b=b.id,
            other_office=c.id,
            chief=_actor(users["chief"]),
            officer_a=_actor(users["officer"]),
            clerk=_actor(users["clerk"]),
            admin=_actor(users["admin"]),
            auxiliary=_actor(users["auxiliary"]),
            expert_1=e1.id,
            expert_2=e2.id,
        )
        build = Builder(db, station.id, chief_id)
        mediated = ["triaged", "in_mediation"]

        # D1: 23:30 local on 31 January (15:30 UTC): January. Agreement 3 days later, performed.
        d1 = await build.dispute(
            a.id, "neighbour", "high", utc(2026, 1, 31, 15, 30), [*mediated, "agreement"]
        )
        s1 = await build.session(d1, "police", experts=(e1.id,))
        await build.agreement(d1, s1, utc(2026, 2, 3, 15, 30), corrected=False)
        await build.followup(d1, "performed", utc(2026, 2, 20, 2))
        # D2: 00:30 local on 1 February (16:30 UTC on 31 January): February. No agreement, referred.
        d2 = await build.dispute(
            a.id,
            "neighbour",
            "attention",
            utc(2026, 1, 31, 16, 30),
            [*mediated, "no_agreement", "referred"],
        )
        await build.session(d2, "people")
        # D3: agreement after 1 day (and a correction, not a second agreement); one follow-up
        # found it performed, the next not: reopened from that follow-up.
        d3 = await build.dispute(
            a.id, "family", "general", utc(2026, 2, 10, 2), [*mediated, "agreement"]
        )
        s3 = await build.session(d3, "people", experts=(e1.id, e2.id))
        await build.agreement(d3, s3, utc(2026, 2, 11, 2), corrected=True)
        await build.followup(d3, "performed", utc(2026, 2, 25, 2))
        record = await build.followup(d3, "not_performed", utc(2026, 3, 2, 2))
        build.event(
            d3,
            utc(2026, 3, 2, 3),
            "reopened",
            "follow_up",
            "in_mediation",
            link_kind="followup",
            link_id=record.id,
        )
        # D4: high risk, handed to the case team, turned criminal.
        d4 = await build.dispute(
            b.id, "labour", "high", utc(2026, 3, 5, 1), ["referred"], criminal_on=date(2026, 3, 10)
        )
        # D5: registered only, never triaged.
        d5 = await build.dispute(b.id, "debt", None, utc(2026, 3, 15, 4), [])
        # D6: agreement after 5 days; the follow-up found the terms no longer relevant.
        d6 = await build.dispute(
            b.id, "neighbour", "attention", utc(2026, 2, 20), [*mediated, "agreement"]
        )
        s6 = await build.session(d6, "police", experts=(e2.id,))
        await build.agreement(d6, s6, utc(2026, 2, 25), corrected=False)
        await build.followup(d6, "not_relevant", utc(2026, 3, 10))
        # D10: withdrawn; its only session was cancelled (no track, and its expert not counted).
        d10 = await build.dispute(
            b.id, "contract", "general", utc(2026, 3, 1, 10), [*mediated, "withdrawn"]
        )
        await build.session(d10, "people", status="cancelled", experts=(e1.id,))

        # D11: high risk, in mediation for ten days with no outcome (the weekly review lists it);
        # D12: high risk, registered a day ago (not yet late).
        d11 = await build.dispute(a.id, "property", "high", utc(2026, 3, 10, 2), mediated)
        d12 = await build.dispute(b.id, "other", "high", utc(2026, 3, 19, 2), ["triaged"])

        # Not counted: 23:59 local on 31 December 2025; 00:00 local on 1 April 2026; elsewhere.
        d7 = await build.dispute(
            a.id, "neighbour", "high", utc(2025, 12, 31, 15, 59), [*mediated, "agreement"]
        )
        s7 = await build.session(d7, "police", experts=(e1.id,))
        await build.agreement(d7, s7, utc(2026, 1, 2), corrected=False)
        d8 = await build.dispute(a.id, "neighbour", "high", utc(2026, 3, 31, 16), ["referred"])
        d9 = await build.dispute(
            c.id,
            "neighbour",
            "high",
            utc(2026, 2, 1),
            ["referred"],
            station_id=other.id,
            criminal_on=date(2026, 2, 2),
        )
        known.disputes = {
            name: d.id or 0
            for name, d in [
                ("d1", d1),
                ("d2", d2),
                ("d3", d3),
                ("d4", d4),
                ("d5", d5),
                ("d6", d6),
                ("d7", d7),
                ("d8", d8),
                ("d9", d9),
                ("d10", d10),
                ("d11", d11),
                ("d12", d12),
            ]
        }
        # For the weekly review: the same person (ID digest) in D1 and D6, the same phone in
        # D2 and D3, the same address written two ways in D4 and D5; a spot check of D6.
        build.party(d1, "张三丰", digest="digest-zhang", phone="13900000001", address="滨河小区1栋")
        build.party(d6, "张三丰", digest="digest-zhang", phone="13900000009", address="别的地方")
        build.party(d2, "李四", phone="13911112222", address="新村2栋")
        build.party(d3, "李小四", phone="13911112222", address="新村3栋")
        build.party(d4, "王五", address="新村路 8 号")
        build.party(d5, "赵六", address="新村路8号")
        draw = SpotCheckDraw(
            station_id=station.id,
            period_start=date(2026, 1, 1),
            period_end=date(2026, 3, 31),
            mode="count",
            amount=1,
            seed="seed",
            population=f"[{d6.id}]",
            drawn_by_id=chief_id,
        )
        db.add(draw)
        await db.flush()
        assert draw.id is not None
        check = SpotCheck(
            draw_id=draw.id,
            dispute_id=d6.id or 0,
            office_id=b.id,
            status="done",
            stays_resolved=False,
            checked_by_id=chief_id,
        )
        db.add(check)
        await db.flush()
        build.event(
            d6,
            utc(2026, 3, 18, 2),
            "reopened",
            "follow_up",
            "in_mediation",
            link_kind="spot_check",
            link_id=check.id,
        )
    return known
