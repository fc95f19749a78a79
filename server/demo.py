"""Demo data for a first look, and the account bootstrap behind `concord create-user`.

The demo passwords are random, made once and kept in the data directory
(readable by the owner only), so a demo install never shares passwords with
any other.
"""

from __future__ import annotations

import json
import os
import secrets
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select

from server.auth.passwords import check_strength, hash_password
from server.auth.roles import ROLE_LABELS, Role
from server.auth.sessions import actor_for
from server.config import Config
from server.db import make_engine, make_session_factory, transaction
from server.disputes import service
from server.disputes.schemas import DisputeInput, TransitionInput, TriageInput
from server.errors import DomainError
from server.models import BeatOffice, StaffUser, Station, utcnow
from server.pii import PiiVault

DEMO_LOGINS_FILE = "demo-logins.json"

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


async def seed_demo(config: Config) -> tuple[bool, list[tuple[str, str, str]]]:
    """Create the demo station once; return whether it was created and the logins."""
    logins_path = config.data_dir / DEMO_LOGINS_FILE
    engine = make_engine(config.effective_database_url)
    factory = make_session_factory(engine)
    vault = PiiVault(config.secret())
    tz = ZoneInfo(config.timezone)
    try:
        async with transaction(factory) as db:
            existing = (
                await db.exec(select(Station).where(Station.name == STATION["name"]))
            ).first()
            if existing is not None:
                if not logins_path.exists():
                    return False, []
                stored = json.loads(logins_path.read_text())
                return False, [tuple(row) for row in stored]
            station = Station(
                name=STATION["name"],
                short_name=STATION["short_name"],
                address=STATION["address"],
                phone=STATION["phone"],
            )
            db.add(station)
            await db.flush()
            offices = [BeatOffice(station_id=station.id, **o) for o in OFFICES]  # type: ignore[arg-type]
            db.add_all(offices)
            await db.flush()
            logins: list[tuple[str, str, str]] = []
            users: dict[str, StaffUser] = {}
            for username, name, role, office_index, number in STAFF:
                password = _password()
                user = StaffUser(
                    station_id=station.id,  # type: ignore[arg-type]
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
                        TriageInput(
                            risk_level="attention",
                            assignee_id=registrar.id,
                            reason="双方已有肢体冲突，需社区民警牵头尽快组织调解",
                        ),
                    )
                    await service.transition(
                        db,
                        actor,
                        dispute.id,
                        TransitionInput(to_status="in_mediation", note="已约定远程调解时间"),
                    )
                if index == 2:
                    chief = actor_for(users["chief"], "127.0.0.1", "concord demo")
                    await service.triage(
                        db,
                        chief,
                        dispute.id,
                        TriageInput(
                            risk_level="high",
                            assignee_id=users["chief"].id,
                            reason="群体性讨薪，存在激化风险，由分管副所长牵头",
                        ),
                    )
        config.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(logins_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(logins, handle, ensure_ascii=False)
        return True, logins
    finally:
        await engine.dispose()


async def create_user_cli(
    config: Config,
    *,
    username: str,
    display_name: str,
    role: str,
    office: str | None,
    password: str,
    station_name: str | None,
) -> str:
    """Bootstrap or add an account from the shell (the first admin, typically)."""
    from server.staff.schemas import UserInput

    try:
        check_strength(password)
    except DomainError as exc:
        raise ValueError(exc.message % exc.params if exc.params else exc.message) from exc
    engine = make_engine(config.effective_database_url)
    factory = make_session_factory(engine)
    try:
        async with transaction(factory) as db:
            stations = list(await db.exec(select(Station)))
            if station_name:
                station = next((s for s in stations if s.name == station_name), None)
                if station is None:
                    station = Station(name=station_name, short_name=station_name[:2])
                    db.add(station)
                    await db.flush()
            elif len(stations) == 1:
                station = stations[0]
            else:
                raise ValueError("name the station with --station")
            office_id = None
            if office:
                found = (
                    await db.exec(
                        select(BeatOffice).where(
                            BeatOffice.station_id == station.id, BeatOffice.name == office
                        )
                    )
                ).first()
                if found is None:
                    raise ValueError(f"no beat office named {office!r} in {station.name}")
                office_id = found.id
            try:
                data = UserInput(
                    username=username,
                    display_name=display_name,
                    role=role,
                    office_id=office_id,
                    password=password,
                )
            except Exception as exc:
                raise ValueError(str(exc)) from exc
            if data.role in (Role.OFFICER, Role.AUXILIARY) and office_id is None:
                raise ValueError("officers and auxiliaries need --office")
            taken = (
                await db.exec(select(StaffUser).where(StaffUser.username == data.username))
            ).first()
            if taken is not None:
                raise ValueError(f"username {data.username!r} is taken")
            db.add(
                StaffUser(
                    station_id=station.id,  # type: ignore[arg-type]
                    office_id=office_id,
                    username=data.username,
                    display_name=data.display_name,
                    role=data.role,
                    password_hash=await hash_password(password),
                )
            )
        return f"created {data.username} ({data.role.value}) at {station.name}"
    finally:
        await engine.dispose()
