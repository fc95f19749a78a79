"""Demo data for a first look: `concord demo`, run by `make run`.

Created once: one station, two beat offices, staff of every role, a few
disputes, an expert pool, and a finished case with a sealed agreement
(``demo_case.py``: a self-signed demo certificate and a sample seal). Every
run makes sure one mediation session is booked for today and prints its
invitation links, so a newcomer can open them at once. Passwords and links
are random; they are kept in the data directory (readable by the owner
only), never in the database in clear.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.auth.passwords import hash_password
from server.auth.roles import ROLE_LABELS, Role
from server.auth.sessions import actor_for
from server.config import Config
from server.db import make_engine, make_session_factory, transaction
from server.demo_case import FinishedCase, ensure_finished_case
from server.demo_experts import seed_declarations
from server.disputes import service
from server.disputes.schemas import DisputeInput, TriageInput
from server.errors import DomainError
from server.experts import service as expert_service
from server.experts.schemas import ExpertInput
from server.models import BeatOffice, Dispute, Expert, MediationSession, StaffUser, Station, utcnow
from server.pii import PiiVault
from server.sessions import service as session_service
from server.sessions.rules import INVITEE_ROLE_LABELS, SessionStatus
from server.sessions.schemas import BookingInput

DEMO_FILE = "demo-logins.json"

STATION: dict[str, str] = {
    "name": "白石派出所",
    "short_name": "白石",
    "address": "白石镇人民路18号",
    "phone": "0755-2700 1100",
}
OFFICES = [
    {"name": "滨河社区警务室", "address": "滨河路36号", "phone": "0755-2700 1201"},
    {"name": "新村社区警务室", "address": "新村大道9号", "phone": "0755-2700 1202"},
]
# username, display name, role, office index (None: station-wide), police number
STAFF = [
    ("admin", "系统管理员", Role.ADMIN, None, ""),
    ("chief", "王建国", Role.CHIEF, None, "010021"),
    ("officer", "李明", Role.OFFICER, 0, "010135"),
    ("officer2", "陈静", Role.OFFICER, 1, "010142"),
    ("auxiliary", "赵强", Role.AUXILIARY, 0, "F0231"),
    ("clerk", "刘芳", Role.CLERK, None, "010188"),
]


def _password() -> str:
    return f"concord-{secrets.token_hex(3)}-{secrets.token_hex(3)}"


def _disputes() -> list[dict[str, object]]:
    return [
        {
            "title": "养犬扰邻纠纷",
            "category": "neighbour",
            "cause": "张某家犬只夜间吠叫并咬伤邻居王某小腿，双方因赔偿发生推搡",
            "place": "滨河小区3栋楼下",
            "scale": 2,
            "people_involved": "张某（养犬人）、王某（被咬伤）",
            "trend": "escalating",
            "development": "已多次现场调解未果，双方情绪对立",
            "description": "王某要求赔偿医药费及误工费，张某认为王某先挑逗犬只。",
            "source": "call_110",
            "parties": [
                {
                    "name": "王丽华",
                    "role": "applicant",
                    "id_number": "110101199003074514",
                    "phone": "13800138001",
                    "address": "滨河小区3栋502",
                },
                {
                    "name": "张国强",
                    "role": "respondent",
                    "id_number": "110101198506123416",
                    "phone": "13900139002",
                    "address": "滨河小区3栋402",
                },
            ],
        },
        {
            "title": "楼上漏水纠纷",
            "category": "neighbour",
            "cause": "楼上卫生间防水层破损，导致楼下天花板渗水发霉",
            "place": "滨河小区5栋",
            "scale": 2,
            "trend": "stable",
            "source": "walk_in",
            "parties": [
                {"name": "孙梅", "role": "applicant", "phone": "13700137003"},
                {"name": "周涛", "role": "respondent", "phone": "13600136004"},
            ],
        },
        {
            "title": "工厂拖欠工资纠纷",
            "category": "labour",
            "cause": "某电子厂拖欠8名工人两个月工资",
            "place": "新村工业区B区",
            "scale": 9,
            "people_involved": "工人代表吴某等8人，厂方负责人郑某",
            "trend": "urgent",
            "development": "工人聚集厂门口，有堵门迹象",
            # 事态紧急: the 初判 rule grades it high, so `make run` opens on a red 预警 band
            # (新村's dashboard and the chiefs'); the chief's triage below confirms it.
            "source": "grid",
            "office": 1,
            "parties": [
                {"name": "吴志刚", "role": "applicant", "phone": "13500135005"},
                {"name": "郑海", "role": "respondent", "phone": "13400134006"},
            ],
        },
        {
            "title": "房屋租赁押金纠纷",
            "category": "tenancy",
            "cause": "租客退租后房东以墙面损坏为由扣留押金",
            "place": "新村8巷12号",
            "scale": 2,
            "trend": "easing",
            "source": "phone",
            "office": 1,
            "parties": [
                {"name": "林小雨", "role": "applicant", "phone": "13300133007"},
                {"name": "黄德明", "role": "respondent", "phone": "13200132008"},
            ],
        },
    ]


#: The expert pool: every kind, specialties as dispute categories, offices by index.
EXPERTS: list[dict[str, object]] = [
    {
        "name": "周正",
        "kind": "legal_police",
        "organisation": "白石派出所法制室",
        "specialties": ["neighbour", "minor_injury", "property"],
        "phone": "13811110001",
        "offices": [0, 1],
    },
    {
        "name": "孙律",
        "kind": "lawyer",
        "organisation": "明理律师事务所（公益律师）",
        "specialties": ["neighbour", "contract", "debt", "tenancy"],
        "phone": "13811110002",
        "offices": [0, 1],
    },
    {
        "name": "钱莉",
        "kind": "lawyer",
        "organisation": "正衡律师事务所",
        "specialties": ["labour", "contract", "traffic"],
        "phone": "13811110003",
        "offices": [1],
    },
    {
        "name": "吴建华",
        "kind": "community_cadre",
        "organisation": "滨河街道综治办",
        "specialties": ["neighbour", "family", "tenancy"],
        "phone": "13811110004",
        "offices": [0],
    },
    {
        "name": "冯秀英",
        "kind": "community_cadre",
        "organisation": "新村社区居委会",
        "specialties": ["neighbour", "family"],
        "phone": "13811110005",
        "offices": [1],
    },
    {
        "name": "陈德厚",
        "kind": "retired_cadre",
        "organisation": "退休（原街道办主任）",
        "specialties": ["neighbour", "family", "property"],
        "phone": "13811110006",
        "offices": [0, 1],
    },
    {
        "name": "褚桂兰",
        "kind": "retired_cadre",
        "organisation": "退休教师",
        "specialties": ["family"],
        "phone": "13811110007",
        "offices": [0],
    },
    {
        "name": "卫国",
        "kind": "people_mediator",
        "organisation": "白石镇人民调解委员会",
        "specialties": ["neighbour", "debt", "labour", "traffic"],
        "phone": "13811110008",
        "offices": [0, 1],
    },
    {
        "name": "蒋文",
        "kind": "judicial_office",
        "organisation": "白石司法所",
        "specialties": ["labour", "contract", "debt"],
        "phone": "13811110009",
        "offices": [0, 1],
    },
    {
        "name": "沈心怡",
        "kind": "other",
        "organisation": "心理咨询师",
        "specialties": ["family"],
        "phone": "13811110010",
        "offices": [0],
    },
]
#: Who the demo session invites from the pool, by name.
DEMO_SESSION_EXPERTS = ("周正", "孙律", "吴建华")


@dataclass
class DemoResult:
    created: bool
    logins: list[tuple[str, str, str]]
    session_starts_at: datetime | None = None
    links: list[tuple[str, str, str]] = field(default_factory=list)
    finished: FinishedCase | None = None


def _read_state(config: Config) -> dict[str, object]:
    path = config.data_dir / DEMO_FILE
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    # Older files held the logins alone.
    return {"logins": data} if isinstance(data, list) else dict(data)


def _write_state(config: Config, state: dict[str, object]) -> None:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    path = config.data_dir / DEMO_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(state, handle, ensure_ascii=False, indent=1)


async def _create_station(
    db: AsyncSession, vault: PiiVault, tz: ZoneInfo
) -> list[tuple[str, str, str]]:
    station = Station.model_validate(STATION)
    db.add(station)
    await db.flush()
    assert station.id is not None
    offices = [BeatOffice.model_validate({**o, "station_id": station.id}) for o in OFFICES]
    db.add_all(offices)
    await db.flush()
    logins: list[tuple[str, str, str]] = []
    users: dict[str, StaffUser] = {}
    for username, name, role, office_index, number in STAFF:
        password = _password()
        user = StaffUser(
            station_id=station.id,
            office_id=None if office_index is None else offices[office_index].id,
            username=username,
            display_name=name,
            role=role,
            police_number=number,
            password_hash=await hash_password(password),
        )
        db.add(user)
        users[username] = user
        logins.append((username, password, f"{role.value} {ROLE_LABELS[role]}"))
    await db.flush()

    chief = actor_for(users["chief"], "127.0.0.1", "concord demo")
    for spec in EXPERTS:
        office_indexes = spec["offices"]
        assert isinstance(office_indexes, list)
        fields = {k: v for k, v in spec.items() if k != "offices"}
        fields["office_ids"] = [offices[i].id for i in office_indexes]
        await expert_service.create_expert(db, chief, ExpertInput.model_validate(fields))
    assert offices[0].id is not None
    await seed_declarations(db, chief, offices[0].id, tz)

    now = utcnow()
    for index, spec in enumerate(_disputes()):
        office_index = int(spec.pop("office", 0))  # type: ignore[call-overload]
        registrar = users["officer" if office_index == 0 else "officer2"]
        actor = actor_for(registrar, "127.0.0.1", "concord demo")
        data = DisputeInput.model_validate(
            {
                **spec,
                "office_id": offices[office_index].id,
                "occurred_at": (now - timedelta(days=index + 1, hours=3)).astimezone(tz),
            }
        )
        dispute = await service.register(db, actor, data, vault=vault, tz=tz)
        assert dispute.id is not None
        if index == 0:
            await service.triage(
                db,
                actor,
                dispute.id,
                TriageInput.model_validate(
                    {
                        "risk_level": "attention",
                        "assignee_id": registrar.id,
                        "reason": "双方已有肢体冲突，需社区民警牵头尽快组织调解",
                    }
                ),
            )
        if index == 2:
            await service.triage(
                db,
                chief,
                dispute.id,
                TriageInput.model_validate(
                    {
                        "risk_level": "high",
                        "assignee_id": users["chief"].id,
                        "reason": "群体性讨薪，存在激化风险，由分管副所长牵头",
                    }
                ),
            )
    return logins


def _today_slot(now: datetime, tz: ZoneInfo) -> datetime:
    """Later today, on the half hour, so the demo session is "today" (after 23:55: 00:0x)."""
    local = now.astimezone(tz)
    start = (local + timedelta(minutes=45)).replace(second=0, microsecond=0)
    start = start.replace(minute=0 if start.minute < 30 else 30)
    last = datetime.combine(local.date(), time(23, 0), tzinfo=tz)
    return min(start, max(last, local + timedelta(minutes=5)))


async def _ensure_session_today(
    db: AsyncSession, config: Config, vault: PiiVault, tz: ZoneInfo, state: dict[str, object]
) -> tuple[datetime, list[tuple[str, str, str]]] | None:
    """Keep the stored demo session if it is still ahead today; otherwise book a new one."""
    now = utcnow()
    session_id = state.get("session_id")
    if isinstance(session_id, int):
        session = await db.get(MediationSession, session_id)
        if (
            session is not None
            and session.status == SessionStatus.SCHEDULED
            and session.ends_at > now
            # The day a session booked now would have: after 23:55 that is tomorrow's first
            # minutes, and the session booked a moment ago must count as that day's.
            and session.starts_at.astimezone(tz).date() == _today_slot(now, tz).date()
            and state.get("links")
        ):
            links = [tuple(x) for x in state["links"]]  # type: ignore[attr-defined]
            return session.starts_at, links
    station = (await db.exec(select(Station).where(Station.name == STATION["name"]))).first()
    officer = (await db.exec(select(StaffUser).where(StaffUser.username == "officer"))).first()
    if station is None or officer is None:
        return None
    dispute = (
        await db.exec(
            select(Dispute)
            .where(Dispute.station_id == station.id, Dispute.title == "养犬扰邻纠纷")
            .order_by(col(Dispute.id))
        )
    ).first()
    if dispute is None or dispute.id is None:
        return None
    parties = await service.parties_of(db, dispute.id)
    pool = list(
        await db.exec(
            select(Expert).where(
                Expert.station_id == station.id, col(Expert.name).in_(DEMO_SESSION_EXPERTS)
            )
        )
    )
    actor = actor_for(officer, "127.0.0.1", "concord demo")
    try:
        booking = await session_service.book(
            db,
            actor,
            dispute.id,
            BookingInput.model_validate(
                {
                    "starts_at": _today_slot(now, tz),
                    "duration_minutes": 60,
                    "legal_track": "people",
                    "presiding_officer_id": officer.id,
                    "party_ids": [p.id for p in parties],
                    "expert_ids": [e.id for e in pool],
                    "confirm_conflicts": True,
                }
            ),
            vault=vault,
            tz=tz,
            grace=timedelta(hours=config.invitation_grace_hours),
        )
    except DomainError:  # the demo dispute was moved on by hand: no demo session then
        return None
    base = config.effective_public_url
    links = [
        (
            str(INVITEE_ROLE_LABELS[i.invitation.role]),
            i.invitation.display_name,
            f"{base}/j/{i.token}",
        )
        for i in booking.issued
    ]
    state["session_id"] = booking.session.id
    state["links"] = links
    return booking.session.starts_at, links


async def seed_demo(config: Config) -> DemoResult:
    """Create the demo station once, make sure a session is booked today; say how to log in."""
    engine = make_engine(config.effective_database_url)
    vault = PiiVault(config.secret())
    factory = make_session_factory(engine, vault=vault)
    tz = ZoneInfo(config.timezone)
    state = _read_state(config)
    try:
        async with transaction(factory) as db:
            existing = (
                await db.exec(select(Station).where(Station.name == STATION["name"]))
            ).first()
            created = existing is None
            if created:
                state = {"logins": await _create_station(db, vault, tz)}
        async with transaction(factory) as db:
            session = await _ensure_session_today(db, config, vault, tz, state)
        finished = await ensure_finished_case(factory, config, vault, tz)
    finally:
        await engine.dispose()
    _write_state(config, state)
    logins = [tuple(row) for row in state.get("logins", [])]  # type: ignore[attr-defined]
    result = DemoResult(created=created, logins=logins, finished=finished)
    if session is not None:
        result.session_starts_at, result.links = session
    return result
