"""Building disputes, experts and bookings for the session tests, through the services."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from server.auth.roles import Actor
from server.db import SessionFactory, transaction
from server.disputes import service as disputes
from server.disputes.schemas import PartyInput, TriageInput
from server.experts import service as experts
from server.experts.schemas import ExpertInput
from server.pii import PiiVault
from server.sessions.schemas import BookingInput
from tests.disputes.helpers import ADULT_ID, dispute_input, resident_id, years_ago

TZ = ZoneInfo("Asia/Shanghai")
APPLICANT_PHONE = "13800138001"
RESPONDENT_PHONE = "13900139002"


def two_parties() -> list[dict[str, Any]]:
    return [
        {"name": "王丽华", "role": "applicant", "id_number": ADULT_ID, "phone": APPLICANT_PHONE},
        {"name": "张国强", "role": "respondent", "phone": RESPONDENT_PHONE},
    ]


def child_id(age: int = 10) -> str:
    """A valid resident ID number of someone ``age`` years old today."""
    return resident_id(years_ago(age, date.today()) - timedelta(days=30), seq="456")


async def new_dispute(
    factory: SessionFactory,
    actor: Actor,
    *,
    vault: PiiVault,
    tz: ZoneInfo = TZ,
    category: str = "neighbour",
    title: str = "养犬扰邻纠纷",
    parties: list[dict[str, Any]] | None = None,
    triaged: bool = True,
    office_id: int | None = None,
) -> tuple[int, list[int]]:
    """Register (and by default triage) a dispute; its id and its parties' ids."""
    data = dispute_input(
        category=category,
        title=title,
        parties=parties if parties is not None else two_parties(),
        office_id=office_id,
    )
    async with transaction(factory) as db:
        dispute = await disputes.register(db, actor, data, vault=vault, tz=tz)
        assert dispute.id is not None
        if triaged:
            triage = TriageInput(risk_level="general", assignee_id=actor.user_id, reason="可调解")
            await disputes.triage(db, actor, dispute.id, triage)
        party_ids = [p.id for p in await disputes.parties_of(db, dispute.id) if p.id]
    return dispute.id, party_ids


async def add_party(
    factory: SessionFactory,
    actor: Actor,
    dispute_id: int,
    *,
    vault: PiiVault,
    tz: ZoneInfo = TZ,
    **fields: Any,
) -> int:
    async with transaction(factory) as db:
        party = await disputes.add_party(
            db, actor, dispute_id, PartyInput.model_validate(fields), vault=vault, tz=tz
        )
    assert party.id is not None
    return party.id


async def new_expert(
    factory: SessionFactory,
    actor: Actor,
    name: str,
    phone: str,
    *,
    kind: str = "lawyer",
    specialties: Sequence[str] = ("neighbour",),
    office_ids: Sequence[int] = (),
) -> int:
    data = ExpertInput.model_validate(
        {
            "name": name,
            "kind": kind,
            "phone": phone,
            "specialties": list(specialties),
            "office_ids": list(office_ids),
        }
    )
    async with transaction(factory) as db:
        expert = await experts.create_expert(db, actor, data)
    assert expert.id is not None
    return expert.id


def local(days: int = 3, hour: int = 10, minute: int = 0) -> datetime:
    """A naive wall-clock time ``days`` from today, as a form sends it."""
    day = datetime.now(TZ).date() + timedelta(days=days)
    return datetime.combine(day, time(hour, minute))


def booking(presiding_id: int, party_ids: list[int], **overrides: Any) -> BookingInput:
    data: dict[str, Any] = {
        "starts_at": local(),
        "duration_minutes": 60,
        "legal_track": "people",
        "presiding_officer_id": presiding_id,
        "party_ids": party_ids,
    }
    data.update(overrides)
    return BookingInput.model_validate(data)
