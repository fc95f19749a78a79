"""Signing an agreement: reaching a signer, and recording their answer.

A frozen draft (server/agreements/service.py, which drafts, freezes and
unfreezes it and keeps its signers) is answered here: a signer is reached by
their link, their room invitation or their staff login, and their answer (a
drawn signature or a refusal) is bound to the frozen text's hash with
who/when/where evidence. Only an answer naming the current frozen version
counts. This module builds on the draft's; the draft's never imports this one.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.agreements.rules import DraftStatus, Outcome, Via
from server.agreements.schemas import RefuseInput, SignInput
from server.agreements.service import draft_of_session, signers_of
from server.audit import record
from server.auth.roles import Actor
from server.errors import N_, Conflict, NotAllowed, NotFound, ValidationFailed
from server.models import AgreementDraft, Invitation, Signature, Signer, utcnow
from server.sessions.invitations import hash_token

MAX_SIGNATURE_BYTES = 400_000
MAX_SIGNATURE_SIDE = 2400


async def answers_of(db: AsyncSession, draft_id: int) -> list[Signature]:
    return list(
        await db.exec(
            select(Signature).where(Signature.draft_id == draft_id).order_by(col(Signature.id))
        )
    )


@dataclass(frozen=True)
class SignerState:
    signer: Signer
    answer: Signature | None  # for the frozen version, if any

    @property
    def signed(self) -> bool:
        return self.answer is not None and self.answer.outcome == Outcome.SIGNED

    @property
    def refused(self) -> bool:
        return self.answer is not None and self.answer.outcome == Outcome.REFUSED


async def signer_states(db: AsyncSession, draft: AgreementDraft) -> list[SignerState]:
    """Each active signer with their answer to the current frozen text (None: not yet)."""
    signers = await signers_of(db, draft.id or 0)
    answers = await answers_of(db, draft.id or 0)
    # While the text is being changed again, nothing given so far counts.
    counting = draft.status in (DraftStatus.FROZEN, DraftStatus.SEALED)
    current = {
        a.signer_id: a
        for a in answers
        if counting
        and draft.frozen_version is not None
        and a.version == draft.frozen_version
        and a.text_sha256 == draft.frozen_sha256
    }
    return [SignerState(s, current.get(s.id or 0)) for s in signers]


@dataclass(frozen=True)
class SigningDoor:
    """A signer reached by their link or their room invitation."""

    signer: Signer
    draft: AgreementDraft
    via: Via


async def signer_by_token(
    db: AsyncSession, token: str, *, now: datetime | None = None
) -> SigningDoor | None:
    """None for unknown, expired or retired links: callers show one refusal for all."""
    if not token or len(token) > 100:
        return None
    now = now or utcnow()
    signer = (await db.exec(select(Signer).where(Signer.token_hash == hash_token(token)))).first()
    if signer is None or not signer.active or signer.expires_at <= now:
        return None
    draft = await db.get(AgreementDraft, signer.draft_id)
    if draft is None:
        return None
    return SigningDoor(signer, draft, Via.SIGNING_LINK)


async def signer_for_invitation(db: AsyncSession, invitation: Invitation) -> SigningDoor | None:
    """The signer an invitee is, in their session's agreement, if they sign at all."""
    if invitation.party_id is None:
        return None
    draft = await draft_of_session(db, invitation.session_id)
    if draft is None:
        return None
    for signer in await signers_of(db, draft.id or 0):
        if signer.party_id == invitation.party_id:
            return SigningDoor(signer, draft, Via.INVITATION)
    return None


async def signer_for_staff(db: AsyncSession, actor: Actor, draft_id: int) -> SigningDoor:
    draft = await db.get(AgreementDraft, draft_id)
    if draft is None or draft.station_id != actor.station_id:
        raise NotFound(N_("No such agreement."))
    for signer in await signers_of(db, draft_id):
        if signer.staff_id == actor.user_id:
            return SigningDoor(signer, draft, Via.STAFF)
    raise NotAllowed(N_("You are not a signer of this agreement."))


def decode_signature(data_url: str) -> bytes:
    """The drawn signature as PNG bytes, checked: a real, non-blank, bounded image.

    Re-encoded by Pillow so nothing but pixels is kept (no metadata, no tricks).
    """
    from PIL import Image, UnidentifiedImageError

    prefix = "data:image/png;base64,"
    if not data_url.startswith(prefix):
        raise ValidationFailed(N_("The signature must be drawn on the pad."))
    try:
        raw = base64.b64decode(data_url[len(prefix) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationFailed(N_("The signature could not be read; please sign again.")) from exc
    if len(raw) > MAX_SIGNATURE_BYTES:
        raise ValidationFailed(N_("The signature image is too large."))
    try:
        with Image.open(io.BytesIO(raw)) as image:
            if image.format != "PNG":
                raise ValidationFailed(N_("The signature must be drawn on the pad."))
            if max(image.size) > MAX_SIGNATURE_SIDE or min(image.size) < 20:
                raise ValidationFailed(N_("The signature image has an unusable size."))
            rgba = image.convert("RGBA")
    except (UnidentifiedImageError, OSError) as exc:
        raise ValidationFailed(N_("The signature could not be read; please sign again.")) from exc
    if rgba.getchannel("A").getbbox() is None:
        raise ValidationFailed(N_("The signature pad is empty; please sign with your finger."))
    out = io.BytesIO()
    rgba.save(out, format="PNG")
    return out.getvalue()


async def _check_answerable(db: AsyncSession, door: SigningDoor, text_hash: str) -> None:
    draft = door.draft
    if draft.status == DraftStatus.SEALED:
        raise Conflict(N_("The agreement is already sealed."))
    if draft.status != DraftStatus.FROZEN or text_hash != draft.frozen_sha256:
        raise Conflict(
            N_("The text you read has been superseded by a new version; read it again and sign.")
        )
    for state in await signer_states(db, draft):
        if state.signer.id == door.signer.id and state.answer is not None:
            raise Conflict(N_("You have already answered for this version."))


async def _add_answer(db: AsyncSession, signature: Signature) -> None:
    """One answer per signer and version, enforced by the database for simultaneous posts."""
    try:
        async with db.begin_nested():
            db.add(signature)
            await db.flush()
    except IntegrityError as exc:
        raise Conflict(N_("You have already answered for this version.")) from exc


async def sign(
    db: AsyncSession,
    door: SigningDoor,
    data: SignInput,
    *,
    ip: str,
    user_agent: str,
    actor: Actor | None = None,
) -> Signature:
    """Bind a drawn signature to the frozen text's hash, with who/when/where evidence."""
    if not data.agree:
        raise ValidationFailed(
            N_("Tick “I have read and agree” before signing."), fields={"agree": "required"}
        )
    await _check_answerable(db, door, data.text_sha256)
    # Decoding and re-encoding a phone-sized PNG takes tens of milliseconds: not on the loop.
    image = await asyncio.to_thread(decode_signature, data.image_data_url)
    image_hash = hashlib.sha256(image).hexdigest()
    answer = Signature(
        outcome=Outcome.SIGNED, image_png=image, image_sha256=image_hash, **_answer_base(door)
    )
    detail = {"sha256": data.text_sha256, "image": image_hash}
    return await _record_answer(db, door, answer, detail, actor, ip, user_agent)


async def refuse(
    db: AsyncSession,
    door: SigningDoor,
    data: RefuseInput,
    *,
    ip: str,
    user_agent: str,
    actor: Actor | None = None,
) -> Signature:
    """A refusal to sign is evidence too: recorded against the same text."""
    await _check_answerable(db, door, data.text_sha256)
    answer = Signature(outcome=Outcome.REFUSED, reason=data.reason, **_answer_base(door))
    detail = {"sha256": data.text_sha256, "reason": data.reason}
    return await _record_answer(db, door, answer, detail, actor, ip, user_agent)


def _answer_base(door: SigningDoor) -> dict[str, Any]:
    return {
        "signer_id": door.signer.id or 0,
        "draft_id": door.draft.id or 0,
        "version": door.draft.frozen_version or 0,
        "text_sha256": door.draft.frozen_sha256,
        "via": door.via,
    }


async def _record_answer(
    db: AsyncSession,
    door: SigningDoor,
    answer: Signature,
    detail: Mapping[str, object],
    actor: Actor | None,
    ip: str,
    user_agent: str,
) -> Signature:
    """The answer with its evidence: the audit entry first, so the answer can name it."""
    action = "agreement.sign" if answer.outcome == Outcome.SIGNED else "agreement.refuse"
    event = record(
        db,
        actor,
        action,
        object_type="agreement_signer",
        object_id=door.signer.id,
        detail={"draft": door.draft.id, "via": door.via.value, "version": answer.version, **detail},
        station_id=door.draft.station_id,
        ip=ip,
        user_agent=user_agent,
    )
    await db.flush()
    answer.audit_event_id = event.id
    answer.ip = ip[:64]
    answer.user_agent = user_agent[:300]
    await _add_answer(db, answer)
    return answer
