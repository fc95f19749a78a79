"""Builders for the minutes tests: a booked session and entries written straight into the table.

The room's writing service is another module's; these tests put ``MinutesEntry``
rows in as it would, so what is tested here is reading, paper and sign-off.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from server.agreements.pki import StationPki, create_station_pki
from server.agreements.settings import SealerSettings
from server.db import SessionFactory, transaction
from server.minutes import signoff
from server.models import MediationSession
from server.models.minutes import MinutesEntry
from tests.agreements.helpers import AGENT, APPLICANT, RESPONDENT, Booked

EXPERT = "陈律师"
CLERK = "测试clerk"


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> StationPki:
    return create_station_pki(tmp_path_factory.mktemp("minutes-pki"), "白石派出所")


def settings_for(pki: StationPki | None, agreements_dir: object, tz: object) -> signoff.Settings:
    sealer = (
        SealerSettings(
            key_path=pki.key_path, cert_path=pki.cert_path, chain_paths=(pki.ca_cert_path,)
        )
        if pki is not None
        else None
    )
    return signoff.Settings(agreements_dir=agreements_dir, tz=tz, sealer=sealer)  # type: ignore[arg-type]


def key_of(booked: Booked, name: str) -> str:
    """The speaker key of an invitee, as the room writes it (inv-N)."""
    return f"inv-{booked.invitation_of(name).invitation.id}"


@dataclass(frozen=True)
class Said:
    seconds: int  # after the session's start
    speaker: str  # an invitee's name, or "presiding"
    text: str


async def write_entries(
    factory: SessionFactory, booked: Booked, said: list[Said], *, author: str = CLERK
) -> list[MinutesEntry]:
    """Entries as the room would write them: speaker keys of the session's own people."""
    async with transaction(factory) as db:
        session = await db.get(MediationSession, booked.session_id)
        assert session is not None
        start: datetime = session.starts_at
        rows = []
        for item in said:
            if item.speaker == "presiding":
                key, name, role = f"staff-{booked.presiding_id}", "测试officer", "presiding"
            else:
                key, name, role = key_of(booked, item.speaker), item.speaker, "party"
            row = MinutesEntry(
                session_id=booked.session_id,
                at=start + timedelta(seconds=item.seconds),
                speaker_key=key,
                speaker_name=name,
                speaker_role=role,
                text=item.text,
                author_key="staff-1",
                author_name=author,
            )
            db.add(row)
            rows.append(row)
    return rows


#: A short hearing: both parties, the respondent's agent, the lawyer, the presiding officer.
HEARING = [
    Said(60, APPLICANT, "张国强家的狗每天夜里叫，还咬伤了我的腿"),
    Said(120, RESPONDENT, "狗平时拴着，那天是绳子断了。"),
    Said(150, "presiding", "请双方冷静，依次发言。"),
    Said(180, EXPERT, "饲养的动物造成他人损害的，饲养人应当承担侵权责任。"),
    Said(240, AGENT, "被申请人愿意赔偿医药费。"),
    Said(300, APPLICANT, "同意。"),
]
