"""Builders for the minutes tests: a booked session and entries written straight into the table.

The room's writing service is another module's; these tests put ``MinutesEntry``
rows in as it would, so what is tested here is reading, paper and sign-off.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from server.agreements.pki import StationPki, create_station_pki
from server.agreements.settings import SealerSettings
from server.agreements.works import AgreementWorks
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


@pytest.fixture(scope="session")
def works(pki: StationPki) -> Iterator[AgreementWorks]:
    """The agreement worker with the station's key: it renders and seals the 笔录."""
    sealer = SealerSettings(
        key_path=pki.key_path, cert_path=pki.cert_path, chain_paths=(pki.ca_cert_path,)
    )
    running = AgreementWorks(sealer)
    yield running
    asyncio.run(running.close())


def settings_for(works: AgreementWorks, agreements_dir: Path, tz: ZoneInfo) -> signoff.Settings:
    return signoff.Settings(agreements_dir=agreements_dir, tz=tz, works=works)


def keys_of(booked: Booked) -> dict[str, str]:
    """Speaker keys as the room writes them: inv-N for invitees, staff-N for the presiding."""
    keys = {i.invitation.display_name: f"inv-{i.invitation.id}" for i in booked.issued}
    keys["presiding"] = f"staff-{booked.presiding_id}"
    return keys


@dataclass(frozen=True)
class Said:
    seconds: int  # after the session's start
    speaker: str  # an invitee's name, or "presiding"
    text: str


async def write_entries(
    factory: SessionFactory,
    session_id: int,
    keys: Mapping[str, str],
    said: list[Said],
    *,
    author: str = CLERK,
) -> list[MinutesEntry]:
    """Entries as the room would write them, ``keys`` naming each speaker's key."""
    async with transaction(factory) as db:
        session = await db.get(MediationSession, session_id)
        assert session is not None
        start: datetime = session.starts_at
        rows = []
        for item in said:
            presiding = item.speaker == "presiding"
            row = MinutesEntry(
                session_id=session_id,
                at=start + timedelta(seconds=item.seconds),
                speaker_key=keys[item.speaker],
                speaker_name="测试officer" if presiding else item.speaker,
                speaker_role="presiding" if presiding else "party",
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
