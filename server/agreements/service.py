"""Drafting and freezing an agreement, and who is to sign it.

The draft belongs to one session. Every save is a numbered revision (the
version history); freezing fixes the canonical text and its SHA-256, and
only a signature that names that hash counts. Unfreezing to change a word
makes a new version, so every earlier signature stops counting at once.
Freezing also settles the signers and their links; their answers are
server/agreements/signing.py's, which builds on this module (never the reverse).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.agreements import glyphs
from server.agreements.document import POLICE, PersonBlock
from server.agreements.rules import (
    PARTY_ROLES_ZH,
    DraftStatus,
    PartyFacts,
    PlannedSigner,
    Problem,
    TextHeader,
    canonical_text,
    plan_signers,
    problems_before_freeze,
    required_copies,
    signed_text,
    text_sha256,
    unprintable_problems,
    zh_date,
)
from server.agreements.schemas import DraftContent, DraftEdit
from server.audit import record
from server.auth import roles
from server.auth.roles import Actor
from server.errors import N_, Conflict, NotAllowed, NotFound, ValidationFailed
from server.experts.kinds import KIND_ALIASES
from server.local_time import local_today
from server.models import (
    AgreementDraft,
    BeatOffice,
    Dispute,
    DraftRevision,
    Expert,
    Invitation,
    MediationSession,
    Party,
    Signer,
    StaffUser,
    Station,
    utcnow,
)
from server.pii import PiiVault, age_on, birth_date_from_resident_id
from server.sessions.invitations import hash_token, new_token
from server.sessions.rules import InviteeRole, SessionStatus
from server.versioned import claim_next_version

#: The longest agreement text one may freeze, in characters of the plain text. The
#: drafting fields' own limits keep a real agreement far below it (about 43,000
#: characters of content at most); what it bounds is the paper and the signing page,
#: not the column, which is TEXT (the encrypted form's length varies, migration 0006).
MAX_FROZEN_TEXT_CHARS = 60_000
ID_LABELS_ZH = {
    "resident_id": "居民身份证",
    "passport": "护照",
    "hk_macao_taiwan": "港澳台居民往来通行证",
    "other": "证件",
}
EXPERT_KIND_ZH: dict[str, str] = {
    str(kind): alias for alias, kind in reversed(KIND_ALIASES.items())
}


class DraftIncomplete(ValidationFailed):
    """Freezing refused: the message names the first gap, ``fields`` every one."""

    def __init__(self, problems: list[Problem]) -> None:
        first = problems[0]
        super().__init__(
            first.message,
            params=first.params,
            fields={p.field: p.message % p.params if p.params else p.message for p in problems},
        )
        self.problems = problems


# --- loading and permissions -------------------------------------------------------------


@dataclass
class Context:
    """A draft with everything around it that the rules and the paper need."""

    draft: AgreementDraft
    session: MediationSession
    dispute: Dispute
    station: Station
    office: BeatOffice
    presiding: StaffUser | None
    parties: list[Party]
    invitations: list[Invitation]
    experts: dict[int, Expert] = field(default_factory=dict)

    @property
    def content(self) -> DraftContent:
        return DraftContent.model_validate_json(self.draft.content)


async def _session(db: AsyncSession, station_id: int, session_id: int) -> MediationSession:
    session = await db.get(MediationSession, session_id)
    if session is None or session.station_id != station_id:
        raise NotFound(N_("No such session."))
    return session


def _require_draft(actor: Actor, office_id: int) -> None:
    if not roles.can_draft_agreement(actor, office_id):
        raise NotAllowed(N_("Only this office's staff and the clerk draft its agreements."))


async def load_context(db: AsyncSession, draft: AgreementDraft) -> Context:
    session = await db.get(MediationSession, draft.session_id)
    dispute = await db.get(Dispute, draft.dispute_id)
    station = await db.get(Station, draft.station_id)
    office = await db.get(BeatOffice, draft.office_id)
    if session is None or dispute is None or station is None or office is None:
        raise NotFound(N_("No such agreement."))
    presiding = await db.get(StaffUser, session.presiding_officer_id)
    parties = list(
        await db.exec(select(Party).where(Party.dispute_id == dispute.id).order_by(col(Party.id)))
    )
    invites = list(
        await db.exec(
            select(Invitation)
            .where(Invitation.session_id == session.id)
            .order_by(col(Invitation.id))
        )
    )
    expert_ids = [i.expert_id for i in invites if i.expert_id is not None]
    experts = {
        e.id: e
        for e in await db.exec(select(Expert).where(col(Expert.id).in_(expert_ids)))
        if e.id is not None
    }
    return Context(draft, session, dispute, station, office, presiding, parties, invites, experts)


async def draft_of_session(db: AsyncSession, session_id: int) -> AgreementDraft | None:
    return (
        await db.exec(select(AgreementDraft).where(AgreementDraft.session_id == session_id))
    ).first()


async def open_draft(db: AsyncSession, actor: Actor, session_id: int) -> Context:
    """The session's draft, started on first use with the facts from the register."""
    session = await _session(db, actor.station_id, session_id)
    _require_draft(actor, session.office_id)
    draft = await draft_of_session(db, session_id)
    if draft is None:
        if session.status == SessionStatus.CANCELLED:
            raise Conflict(N_("The session was cancelled; it has no agreement."))
        dispute = await db.get(Dispute, session.dispute_id)
        if dispute is None:
            raise NotFound(N_("No such session."))
        content = DraftContent(facts=(dispute.description or dispute.cause)[:4000])
        draft = AgreementDraft(
            session_id=session_id,
            dispute_id=session.dispute_id,
            station_id=session.station_id,
            office_id=session.office_id,
            legal_track=session.legal_track,
            status=DraftStatus.DRAFTING,
            content=content.model_dump_json(),
            updated_by=actor.label[:80],
        )
        try:
            async with db.begin_nested():
                db.add(draft)
                await db.flush()
        except IntegrityError:
            # Two first opens at once: the other one made it; use theirs.
            existing = await draft_of_session(db, session_id)
            if existing is None:
                raise
            return await load_context(db, existing)
        add_revision(db, draft, "saved", content, actor.label, actor.user_id, "")
        record(
            db, actor, "agreement.draft_start", object_type="agreement_draft", object_id=draft.id
        )
    return await load_context(db, draft)


async def get_draft(db: AsyncSession, actor: Actor, draft_id: int) -> Context:
    draft = await db.get(AgreementDraft, draft_id)
    if draft is None or draft.station_id != actor.station_id:
        raise NotFound(N_("No such agreement."))
    if not (
        roles.can_draft_agreement(actor, draft.office_id)
        or roles.can_read_archive(actor, draft.office_id)
    ):
        raise NotAllowed(N_("Only this office's staff and the clerk draft its agreements."))
    return await load_context(db, draft)


# --- what the rules see ------------------------------------------------------------------


def _is_minor(party: Party, vault: PiiVault, today: date) -> bool:
    if party.minor:
        return True
    if party.id_type == "resident_id" and party.id_number_encrypted:
        birth = birth_date_from_resident_id(vault.decrypt(party.id_number_encrypted))
        if birth is not None:
            return age_on(birth, today) < 18
    return False


def party_facts(ctx: Context, vault: PiiVault, today: date) -> list[PartyFacts]:
    invited = {i.party_id for i in ctx.invitations if i.party_id is not None and not i.revoked_at}
    return [
        PartyFacts(
            id=p.id or 0,
            name=p.name,
            role=p.role,
            represents_id=p.represents_id,
            minor=p.role in ("applicant", "respondent") and _is_minor(p, vault, today),
            invited=p.id in invited,
        )
        for p in ctx.parties
    ]


def presiding_of(ctx: Context) -> tuple[int, str] | None:
    officer = ctx.presiding
    if officer is None or not officer.active or officer.id is None:
        return None
    return (officer.id, officer.display_name)


def person_blocks(ctx: Context, vault: PiiVault, *, masked: bool) -> tuple[PersonBlock, ...]:
    """Parties as the agreement lists them: principals first, then those acting for them."""
    names = {p.id: p.name for p in ctx.parties}
    order = {"applicant": 0, "respondent": 1, "agent": 2, "guardian": 2}
    blocks = []
    for party in sorted(ctx.parties, key=lambda p: (order.get(p.role, 3), p.id or 0)):
        if masked:
            number = party.id_number_masked
        else:
            number = vault.decrypt(party.id_number_encrypted) if party.id_number_encrypted else ""
        blocks.append(
            PersonBlock(
                role_label=PARTY_ROLES_ZH.get(party.role, party.role),
                name=party.name,
                id_label=ID_LABELS_ZH.get(party.id_type, "证件"),
                id_number=number,
                address=party.address,
                acting_for=names.get(party.represents_id, "") if party.represents_id else "",
            )
        )
    return tuple(blocks)


def others_present(ctx: Context, content: DraftContent) -> tuple[str, ...]:
    """Experts and observers invited to the session, then whoever the drafter adds."""
    people: list[str] = []
    for invitation in ctx.invitations:
        if invitation.revoked_at is not None:
            continue
        if invitation.role == InviteeRole.EXPERT:
            expert = ctx.experts.get(invitation.expert_id or 0)
            kind = EXPERT_KIND_ZH.get(expert.kind, "专家") if expert else "专家"
            people.append(f"{invitation.display_name}（{kind}）")
        elif invitation.role in (InviteeRole.OBSERVER, InviteeRole.STAFF):
            people.append(f"{invitation.display_name}（列席）")
    people.extend(
        name.strip()
        for name in content.others_present.replace("，", "、").split("、")
        if name.strip()
    )
    return tuple(people)


def mediating_body(ctx: Context) -> str:
    if ctx.draft.legal_track == POLICE:
        return ctx.station.name
    return ctx.station.mediation_committee or f"{ctx.station.short_name}人民调解委员会"


def session_time(session: MediationSession, tz: ZoneInfo) -> str:
    starts = session.starts_at.astimezone(tz)
    ends = session.ends_at.astimezone(tz)
    return f"{zh_date(starts)} {starts:%H:%M}—{ends:%H:%M}"


def header_of(
    ctx: Context, content: DraftContent, vault: PiiVault, tz: ZoneInfo, *, masked: bool = False
) -> TextHeader:
    principal_count = sum(1 for p in ctx.parties if p.role in ("applicant", "respondent"))
    copies = content.copies or required_copies(ctx.draft.legal_track, principal_count)
    presiding = ctx.presiding.display_name if ctx.presiding else ""
    return TextHeader(
        track=ctx.draft.legal_track,
        mediating_body=mediating_body(ctx),
        presiding_name=presiding,
        others_present=others_present(ctx, content),
        session_time=session_time(ctx.session, tz),
        session_place=f"远程视频调解（{ctx.station.name}{ctx.office.name}主持）",
        parties=person_blocks(ctx, vault, masked=masked),
        copies=copies,
    )


def working_text(ctx: Context, vault: PiiVault, tz: ZoneInfo, *, masked: bool = False) -> str:
    """The current draft as the canonical text (masked IDs for readers who need not see them)."""
    content = ctx.content
    return canonical_text(header_of(ctx, content, vault, tz, masked=masked), content)


def problems_of(ctx: Context, vault: PiiVault, tz: ZoneInfo) -> list[Problem]:
    today = local_today(tz)
    content = ctx.content
    return problems_before_freeze(
        ctx.draft.legal_track,
        content,
        party_facts(ctx, vault, today),
        presiding_of(ctx),
        today,
    ) + unprintable_problems(
        signed_text(header_of(ctx, content, vault, tz), content), glyphs.printable, glyphs.shown
    )


# --- editing -----------------------------------------------------------------------------


def add_revision(
    db: AsyncSession,
    draft: AgreementDraft,
    kind: str,
    content: DraftContent,
    author: str,
    staff_id: int | None,
    note: str,
    text_hash: str = "",
) -> None:
    db.add(
        DraftRevision(
            draft_id=draft.id or 0,
            number=draft.version,
            kind=kind,
            content=content.model_dump_json(),
            text_sha256=text_hash,
            author=author[:80],
            author_staff_id=staff_id,
            note=note[:500],
        )
    )


async def claim_version(db: AsyncSession, draft: AgreementDraft, expected: int) -> None:
    """Move the draft to the next version in the database itself (optimistic locking)."""
    if not await claim_next_version(db, draft, expected, {"updated_at": utcnow()}):
        raise Conflict(N_("Someone else changed the draft meanwhile; reload and try again."))


async def save(db: AsyncSession, actor: Actor, draft_id: int, edit: DraftEdit) -> Context:
    ctx = await get_draft(db, actor, draft_id)
    draft = ctx.draft
    _require_draft(actor, draft.office_id)
    if draft.status != DraftStatus.DRAFTING:
        raise Conflict(N_("The text is frozen for signing; unfreeze it to make changes."))
    if edit.base_version != draft.version:
        raise Conflict(N_("Someone else changed the draft meanwhile; reload and try again."))
    await claim_version(db, draft, edit.base_version)
    draft.content = edit.content.model_dump_json()
    draft.updated_by = actor.label[:80]
    add_revision(db, draft, "saved", edit.content, actor.label, actor.user_id, "")
    record(
        db,
        actor,
        "agreement.draft_save",
        object_type="agreement_draft",
        object_id=draft.id,
        detail={"version": draft.version},
    )
    return ctx


@dataclass(frozen=True)
class IssuedLink:
    """A signing link, shown once when it is made."""

    signer: Signer
    token: str


async def freeze(
    db: AsyncSession,
    actor: Actor,
    draft_id: int,
    base_version: int,
    *,
    vault: PiiVault,
    tz: ZoneInfo,
    link_days: int,
) -> tuple[Context, list[IssuedLink]]:
    """Fix the exact text to be signed; make a signing link for each new signer."""
    ctx = await get_draft(db, actor, draft_id)
    draft = ctx.draft
    _require_draft(actor, draft.office_id)
    if draft.status != DraftStatus.DRAFTING:
        raise Conflict(N_("The text is already frozen."))
    if base_version != draft.version:
        raise Conflict(N_("Someone else changed the draft meanwhile; reload and try again."))
    problems = problems_of(ctx, vault, tz)
    if problems:
        raise DraftIncomplete(problems)
    content = ctx.content
    text = canonical_text(header_of(ctx, content, vault, tz), content)
    if len(text) > MAX_FROZEN_TEXT_CHARS:
        raise ValidationFailed(
            N_("The agreement text is too long to be kept; shorten the facts or the terms.")
        )
    digest = text_sha256(text)
    await claim_version(db, draft, base_version)
    draft.status = DraftStatus.FROZEN
    draft.frozen_version = draft.version
    draft.frozen_text = text
    draft.frozen_sha256 = digest
    draft.frozen_at = utcnow()
    draft.frozen_by_id = actor.user_id
    draft.updated_by = actor.label[:80]
    add_revision(db, draft, "frozen", content, actor.label, actor.user_id, "", digest)
    today = local_today(tz)
    planned, _ = plan_signers(party_facts(ctx, vault, today), presiding_of(ctx))
    # Links made long after the session (a late freeze, a correction) still get their days.
    expires = max(ctx.session.ends_at, utcnow()) + timedelta(days=link_days)
    issued = await _sync_signers(db, draft, planned, expires)
    record(
        db,
        actor,
        "agreement.freeze",
        object_type="agreement_draft",
        object_id=draft.id,
        detail={"version": draft.version, "sha256": digest},
    )
    return ctx, issued


async def _sync_signers(
    db: AsyncSession, draft: AgreementDraft, planned: list[PlannedSigner], expires: datetime
) -> list[IssuedLink]:
    """Keep the signers (and their links) who still sign; add the new; retire the rest."""
    existing = await signers_of(db, draft.id or 0, include_inactive=True)
    by_key = {(s.kind, s.party_id, s.staff_id): s for s in existing}
    wanted = {p.key for p in planned}
    issued: list[IssuedLink] = []
    for position, plan in enumerate(planned):
        signer = by_key.get(plan.key)
        if signer is None:
            token = new_token()
            signer = Signer(
                draft_id=draft.id or 0,
                kind=plan.kind,
                role=plan.role,
                party_id=plan.party_id,
                principal_party_id=plan.principal_party_id,
                staff_id=plan.staff_id,
                name=plan.name[:40],
                position=position,
                token_hash=hash_token(token),
                expires_at=expires,
            )
            db.add(signer)
            issued.append(IssuedLink(signer, token))
        else:
            signer.active = True
            signer.position = position
            signer.name = plan.name[:40]
            signer.role = plan.role
            signer.principal_party_id = plan.principal_party_id
            signer.expires_at = max(signer.expires_at, expires)
    for signer in existing:
        if (signer.kind, signer.party_id, signer.staff_id) not in wanted:
            signer.active = False
    await db.flush()
    return issued


async def unfreeze(
    db: AsyncSession, actor: Actor, draft_id: int, base_version: int, reason: str
) -> Context:
    """Back to drafting: a new version, so every signature given so far stops counting."""
    ctx = await get_draft(db, actor, draft_id)
    draft = ctx.draft
    _require_draft(actor, draft.office_id)
    if draft.status != DraftStatus.FROZEN:
        raise Conflict(N_("The text is not frozen."))
    if base_version != draft.version:
        raise Conflict(N_("Someone else changed the draft meanwhile; reload and try again."))
    await claim_version(db, draft, base_version)
    draft.status = DraftStatus.DRAFTING
    draft.updated_by = actor.label[:80]
    add_revision(db, draft, "unfrozen", ctx.content, actor.label, actor.user_id, reason)
    record(
        db,
        actor,
        "agreement.unfreeze",
        object_type="agreement_draft",
        object_id=draft.id,
        detail={"version": draft.version, "reason": reason},
    )
    return ctx


async def reissue_link(
    db: AsyncSession, actor: Actor, session_id: int, signer_id: int, *, link_days: int
) -> IssuedLink:
    """A fresh personal signing link; the old one stops working now.

    Only for a signer of this session's agreement (the page then shows this
    session's workspace), and only until it is sealed: a sealed agreement's
    links hand out the sealed copy, which a new link must not extend to.
    """
    signer = await db.get(Signer, signer_id)
    draft = await db.get(AgreementDraft, signer.draft_id) if signer else None
    if (
        signer is None
        or draft is None
        or draft.station_id != actor.station_id
        or draft.session_id != session_id
    ):
        raise NotFound(N_("No such signer."))
    _require_draft(actor, draft.office_id)
    if draft.status == DraftStatus.SEALED:
        raise Conflict(N_("The agreement is sealed; signing links can no longer be reissued."))
    if not signer.active:
        raise Conflict(N_("This person no longer signs this agreement."))
    session = await db.get(MediationSession, draft.session_id)
    token = new_token()
    signer.token_hash = hash_token(token)
    if session is not None:
        signer.expires_at = max(
            session.ends_at + timedelta(days=link_days), utcnow() + timedelta(days=link_days)
        )
    record(db, actor, "agreement.link_reissue", object_type="agreement_signer", object_id=signer.id)
    return IssuedLink(signer, token)


# --- signers -----------------------------------------------------------------------------


async def signers_of(
    db: AsyncSession, draft_id: int, *, include_inactive: bool = False
) -> list[Signer]:
    query = select(Signer).where(Signer.draft_id == draft_id)
    if not include_inactive:
        query = query.where(col(Signer.active).is_(True))
    return list(await db.exec(query.order_by(col(Signer.position), col(Signer.id))))


async def revisions_of(db: AsyncSession, draft_id: int) -> list[DraftRevision]:
    return list(
        await db.exec(
            select(DraftRevision)
            .where(DraftRevision.draft_id == draft_id)
            .order_by(col(DraftRevision.number).desc())
        )
    )


def parse_content(raw: dict[str, object]) -> DraftContent:
    """A posted draft, or a refusal that names the first bad field."""
    try:
        return DraftContent.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "content"
        raise ValidationFailed(
            N_("Please check the field “%(field)s”."),
            params={"field": name},
            fields={name: first["msg"]},
        ) from exc


def content_json(content: DraftContent) -> dict[str, object]:
    data: dict[str, object] = json.loads(content.model_dump_json())
    return data
