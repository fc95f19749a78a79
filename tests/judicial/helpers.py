"""Builders for the judicial tests: a sealed agreement, through the real services."""

from __future__ import annotations

from sqlmodel import select

from server.agreements import archive
from server.db import transaction
from server.models import Agreement, BeatOffice, JudicialConfirmation
from tests.agreements.helpers import book_session
from tests.agreements.test_sealed_text import seal_booked
from tests.disputes.conftest import Env

COURT = "白石区人民法院"
COURT_ADDRESS = "白石区法院路1号"


async def set_court(
    env: Env, office_id: int, name: str = COURT, address: str = COURT_ADDRESS
) -> None:
    async with transaction(env.factory) as db:
        office = await db.get(BeatOffice, office_id)
        assert office is not None
        office.court_name = name
        office.court_address = address


async def sealed_case(
    env: Env, producer: archive.Producer, *, track: str = "people", court: bool = True
) -> Agreement:
    """Book, draft, freeze, sign by everyone and seal, in office A with ``officer`` presiding."""
    if court:
        await set_court(env, env.seed.office_a)
    agreement, _issued = await seal_booked(env, producer, await book_session(env, track=track))
    return agreement


async def window_of(env: Env, agreement: Agreement) -> JudicialConfirmation:
    async with env.factory() as db:
        row = (
            await db.exec(
                select(JudicialConfirmation).where(
                    JudicialConfirmation.draft_id == agreement.draft_id
                )
            )
        ).first()
    assert row is not None
    return row
