"""Builders shared by the agreement tests: a booked session, a complete draft, a drawn signature.

Everything goes through the real services (register, triage, book) on the
seeded SQLite file, so the agreement code sees the rows it sees in production.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from PIL import Image, ImageDraw
from sqlmodel import select

from server.agreements import service, signing
from server.agreements.rules import PartyFacts
from server.agreements.schemas import DraftContent, DraftEdit, SignInput
from server.db import transaction
from server.disputes import service as disputes
from server.disputes.schemas import PartyInput, TriageInput
from server.models import AgreementDraft, Signature
from server.sessions import service as sessions
from server.sessions.invitations import Issued
from server.sessions.rules import POLICE_CHECKS
from tests.disputes.conftest import Env
from tests.disputes.helpers import ADULT_ID, dispute_input
from tests.sessions.helpers import APPLICANT_PHONE, RESPONDENT_PHONE, booking, local, new_expert

APPLICANT = "王丽华"
RESPONDENT = "张国强"
AGENT = "赵律师"
DESCRIPTION = "2026年11月20日晚，张国强饲养的犬只在滨河小区3栋楼下吠叫，双方发生推搡。"
ADDRESS = "滨河小区3栋101室"
IP = "203.0.113.7"
USER_AGENT = "Mozilla/5.0 (iPhone) MicroMessenger/8.0"


def parties(**respondent: Any) -> list[dict[str, Any]]:
    """An adult applicant with a resident ID and address; a respondent (overridable)."""
    other: dict[str, Any] = {"name": RESPONDENT, "role": "respondent", "phone": RESPONDENT_PHONE}
    other.update(respondent)
    return [
        {
            "name": APPLICANT,
            "role": "applicant",
            "id_number": ADULT_ID,
            "phone": APPLICANT_PHONE,
            "address": ADDRESS,
        },
        other,
    ]


@dataclass
class Booked:
    """A booked session of a triaged dispute, with the links its invitees got."""

    session_id: int
    dispute_id: int
    party_ids: dict[str, int]  # by name
    presiding_id: int
    issued: list[Issued]

    @property
    def applicant_id(self) -> int:
        return self.party_ids[APPLICANT]

    @property
    def respondent_id(self) -> int:
        return self.party_ids[RESPONDENT]

    def invitation_of(self, name: str) -> Issued:
        return next(i for i in self.issued if i.invitation.display_name == name)


async def book_session(
    env: Env,
    *,
    track: str = "people",
    people: list[dict[str, Any]] | None = None,
    agent_for_respondent: bool = False,
    invite: Sequence[str] | None = None,
    expert: bool = False,
    description: str = DESCRIPTION,
    username: str = "officer",
    days: int = 3,
) -> Booked:
    """Register and triage a dispute, then book a session for it.

    By default an applicant and a respondent, both invited, with ``officer``
    presiding. ``agent_for_respondent`` adds 赵律师 acting for the respondent;
    ``invite`` names who is invited (default: everyone); ``expert`` invites a lawyer;
    ``days`` ahead at 10:00 (book a second session on another day).
    """
    actor = env.actor(username)
    category, title = (
        ("minor_injury", "酒后推搡") if track == "police" else ("neighbour", "养犬扰邻")
    )
    data = dispute_input(
        category=category,
        title=title,
        description=description,
        parties=people if people is not None else parties(),
    )
    expert_ids = [await new_expert(env.factory, actor, "陈律师", "13600136000")] if expert else []
    async with transaction(env.factory) as db:
        dispute = await disputes.register(db, actor, data, vault=env.vault, tz=env.tz)
        assert dispute.id is not None
        triage = TriageInput(risk_level="general", assignee_id=actor.user_id, reason="可调解")
        await disputes.triage(db, actor, dispute.id, triage)
        rows = await disputes.parties_of(db, dispute.id)
        by_name = {p.name: p.id for p in rows if p.id is not None}
        if agent_for_respondent:
            agent = await disputes.add_party(
                db,
                actor,
                dispute.id,
                PartyInput.model_validate(
                    {
                        "name": AGENT,
                        "role": "agent",
                        "represents_party_id": by_name[RESPONDENT],
                        "phone": "13700137003",
                    }
                ),
                vault=env.vault,
                tz=env.tz,
            )
            assert agent.id is not None
            by_name[AGENT] = agent.id
        chosen = list(invite) if invite is not None else list(by_name)
        extra: dict[str, Any] = {
            "legal_track": track,
            "expert_ids": expert_ids,
            "starts_at": local(days),
        }
        if track == "police":
            extra["police_checks"] = list(POLICE_CHECKS)
        presiding = env.seed.uid("officer")
        done = await sessions.book(
            db,
            actor,
            dispute.id,
            booking(presiding, [by_name[name] for name in chosen], **extra),
            vault=env.vault,
            tz=env.tz,
        )
    assert done.session.id is not None
    return Booked(done.session.id, dispute.id, by_name, presiding, done.issued)


def complete_content(**overrides: Any) -> DraftContent:
    """Every field the people's track asks for, a deadline a month ahead."""
    data: dict[str, Any] = {
        "facts": DESCRIPTION,
        "disputed_matters": "犬只吠叫扰民及推搡造成的损失。",
        "responsibility": "被申请人未妥善管理犬只，负主要责任；申请人言语过激，负次要责任。",
        "terms": ("被申请人向申请人赔礼道歉。", "被申请人赔偿申请人医药费人民币800元。"),
        "performance_manner": "当面支付现金并出具收条。",
        "performance_deadline": date.today() + timedelta(days=30),
    }
    data.update(overrides)
    return DraftContent.model_validate(data)


def fact(
    party_id: int,
    name: str,
    role: str,
    *,
    represents_id: int | None = None,
    minor: bool = False,
    invited: bool = True,
) -> PartyFacts:
    return PartyFacts(
        id=party_id, name=name, role=role, represents_id=represents_id, minor=minor, invited=invited
    )


def two_facts() -> list[PartyFacts]:
    return [fact(1, APPLICANT, "applicant"), fact(2, RESPONDENT, "respondent")]


# --- signatures --------------------------------------------------------------------------


def png_bytes(size: tuple[int, int] = (240, 80), *, draw: bool = True, fmt: str = "PNG") -> bytes:
    """A signature pad image: a drawn stroke on a transparent background (or nothing)."""
    image = Image.new("RGBA" if fmt == "PNG" else "RGB", size, (0, 0, 0, 0))
    if draw:
        pen = ImageDraw.Draw(image)
        width, height = size
        pen.line(
            [
                (width // 10, height * 3 // 4),
                (width // 2, height // 4),
                (width * 9 // 10, height // 2),
            ],
            fill=(20, 20, 60, 255),
            width=4,
        )
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def data_url(raw: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(raw).decode('ascii')}"


def signature_url() -> str:
    """A tiny, valid drawn signature as the signing pad posts it."""
    return data_url(png_bytes())


def sign_input(text_hash: str, *, image: str | None = None, agree: bool = True) -> SignInput:
    return SignInput(
        text_sha256=text_hash,
        agree=agree,
        image_data_url=image if image is not None else signature_url(),
    )


# --- drafting steps, each its own transaction ----------------------------------------------


async def open_draft(env: Env, session_id: int, username: str = "officer") -> AgreementDraft:
    async with transaction(env.factory) as db:
        ctx = await service.open_draft(db, env.actor(username), session_id)
    return ctx.draft


async def save(
    env: Env,
    draft_id: int,
    base_version: int,
    content: DraftContent,
    username: str = "officer",
) -> AgreementDraft:
    async with transaction(env.factory) as db:
        ctx = await service.save(
            db, env.actor(username), draft_id, DraftEdit(base_version=base_version, content=content)
        )
    return ctx.draft


async def freeze(
    env: Env, draft_id: int, base_version: int, username: str = "officer"
) -> tuple[AgreementDraft, list[service.IssuedLink]]:
    async with transaction(env.factory) as db:
        ctx, issued = await service.freeze(
            db,
            env.actor(username),
            draft_id,
            base_version,
            vault=env.vault,
            tz=env.tz,
            link_days=env.config.agreement_link_days,
        )
    return ctx.draft, issued


async def unfreeze(
    env: Env, draft_id: int, base_version: int, reason: str = "修改赔偿金额"
) -> AgreementDraft:
    async with transaction(env.factory) as db:
        ctx = await service.unfreeze(db, env.actor("officer"), draft_id, base_version, reason)
    return ctx.draft


async def frozen_draft(
    env: Env, booked: Booked, content: DraftContent | None = None
) -> tuple[AgreementDraft, list[service.IssuedLink]]:
    """Open the session's draft, fill it in completely and freeze it."""
    draft = await open_draft(env, booked.session_id)
    assert draft.id is not None
    saved = await save(env, draft.id, draft.version, content or complete_content())
    return await freeze(env, draft.id, saved.version)


async def door_of(env: Env, token: str) -> signing.SigningDoor:
    async with env.factory() as db:
        door = await signing.signer_by_token(db, token)
    assert door is not None
    return door


def link_of(issued: list[service.IssuedLink], name: str) -> service.IssuedLink:
    return next(link for link in issued if link.signer.name == name)


async def sign_as(
    env: Env, token: str, text_hash: str, *, image: str | None = None, agree: bool = True
) -> Signature:
    """Open the signing link afresh and sign, as the signing page does."""
    async with transaction(env.factory) as db:
        door = await signing.signer_by_token(db, token)
        assert door is not None
        return await signing.sign(
            db,
            door,
            sign_input(text_hash, image=image, agree=agree),
            ip=IP,
            user_agent=USER_AGENT,
        )


async def current_draft(env: Env, draft_id: int) -> AgreementDraft:
    async with env.factory() as db:
        draft = await db.get(AgreementDraft, draft_id)
    assert draft is not None
    return draft


async def all_rows(env: Env, model: Any) -> list[Any]:
    async with env.factory() as db:
        return list(await db.exec(select(model)))
