"""Builders for the follow-up tests: a sealed agreement through the real services, a record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlmodel import col, select

from server.agreements import archive, service
from server.agreements.schemas import DraftContent, DraftEdit
from server.db import transaction
from server.followups import service as followups
from server.followups.schemas import RecordInput
from server.models import Agreement, Dispute, DisputeEvent, FollowUpTask, utcnow
from tests.agreements.helpers import book_session, sign_as
from tests.agreements.test_sealed_text import seal_booked, settings_of
from tests.disputes.conftest import Env


@dataclass
class Sealed:
    agreement: Agreement
    dispute_id: int
    tokens: list[str]


async def seal_agreement(
    env: Env,
    producer: archive.Producer,
    *,
    track: str = "people",
    content: DraftContent | None = None,
    days: int = 3,
) -> Sealed:
    """Register, triage, book, draft, freeze, sign and seal: the agreement and its dispute."""
    booked = await book_session(env, track=track, days=days)
    agreement, issued = await seal_booked(env, producer, booked, content)
    return Sealed(agreement, booked.dispute_id, [link.token for link in issued])


async def correct(
    env: Env, producer: archive.Producer, sealed: Sealed, content: DraftContent
) -> Agreement:
    """A correction: reopen the sealed draft, change it, freeze, everyone signs again, seal."""
    officer = env.actor("officer")
    async with transaction(env.factory) as db:
        draft = await archive.start_correction(db, officer, sealed.agreement.id or 0, "期限写错")
        draft_id, version = draft.id or 0, draft.version
    async with transaction(env.factory) as db:
        ctx = await service.save(
            db, officer, draft_id, DraftEdit(base_version=version, content=content)
        )
        version = ctx.draft.version
    async with transaction(env.factory) as db:
        ctx, _ = await service.freeze(
            db,
            officer,
            draft_id,
            version,
            vault=env.vault,
            tz=env.tz,
            link_days=env.config.agreement_link_days,
        )
        frozen_hash = ctx.draft.frozen_sha256
    for token in sealed.tokens:
        await sign_as(env, token, frozen_hash)
    return await archive.seal(
        env.factory,
        officer,
        draft_id,
        producer=producer,
        vault=env.vault,
        settings=settings_of(env),
    )


def record_input(task: FollowUpTask, **overrides: Any) -> RecordInput:
    """Everything performed, by phone, an hour ago (at least after the task began)."""
    data: dict[str, Any] = {
        "expected_version": task.version,
        "contacted_at": max(utcnow() - timedelta(hours=1), task.created_at + timedelta(seconds=1)),
        "method": "phone",
        "reached": "王丽华本人",
        "results": {n: "performed" for n in _terms(task)},
        "note": "已按协议赔礼道歉并支付800元。",
    }
    if not task.terms:
        data["results"] = {}
        data["outcome"] = "performed"
    data.update(overrides)
    return RecordInput.model_validate(data)


def _terms(task: FollowUpTask) -> list[int]:
    return [int(n) for n in task.terms.split(",") if n]


async def record(env: Env, task_id: int, data: RecordInput, username: str = "officer") -> Any:
    async with transaction(env.factory) as db:
        return await followups.record_followup(
            db,
            env.actor(username),
            task_id,
            data,
            settings=env.config.followup_settings,
            tz=env.tz,
        )


async def tasks_of(env: Env, dispute_id: int) -> list[FollowUpTask]:
    async with env.factory() as db:
        return list(
            await db.exec(
                select(FollowUpTask)
                .where(FollowUpTask.dispute_id == dispute_id)
                .order_by(col(FollowUpTask.id))
            )
        )


async def dispute_of(env: Env, dispute_id: int) -> Dispute:
    async with env.factory() as db:
        dispute = await db.get(Dispute, dispute_id)
    assert dispute is not None
    return dispute


async def timeline(env: Env, dispute_id: int) -> list[tuple[str, str | None, str | None]]:
    async with env.factory() as db:
        rows = await db.exec(
            select(DisputeEvent)
            .where(DisputeEvent.dispute_id == dispute_id)
            .order_by(col(DisputeEvent.at), col(DisputeEvent.id))
        )
        return [(e.kind, e.from_status, e.to_status) for e in rows]
