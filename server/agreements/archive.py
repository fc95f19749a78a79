"""Sealing a signed agreement into the archive, and reading the archive back.

Sealing runs in three steps so the slow part holds no transaction: reserve
the case number (kept on the draft, so a failed attempt never burns one),
render and seal the PDF in the worker process, then write the file and the
immutable ``Agreement`` row together. The PDF's SHA-256 is what "provably
unaltered" is checked against later.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import secrets
import zipfile
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.agreements import service, signing
from server.agreements.archived_files import read_pdf
from server.agreements.document import (
    AgreementDocument,
    EvidenceRow,
    SignatureMark,
)
from server.agreements.rules import (
    PRESIDING_LABELS,
    TITLES,
    VIA_LABELS_ZH,
    DraftStatus,
    format_case_number,
    signed_text,
    signer_label,
    zh_date,
)
from server.agreements.schemas import ArchiveQuery, DraftContent
from server.audit import record
from server.auth import roles
from server.auth.roles import Actor
from server.db import SessionFactory, transaction
from server.disputes import service as disputes
from server.disputes.lifecycle import Status
from server.errors import N_, Conflict, NotAllowed, NotFound
from server.files import write_atomically
from server.followups import tasks as followup_tasks
from server.followups.rules import Settings as FollowUpSettings
from server.judicial import service as judicial
from server.models import (
    Agreement,
    AgreementDraft,
    CaseCounter,
    ChatMessage,
    Dispute,
    Station,
    utcnow,
)
from server.pii import PiiVault

VERIFY_CODE_BYTES = 12


class Producer(Protocol):
    """Renders and seals off the event loop (``works.AgreementWorks``)."""

    async def produce(self, doc: AgreementDocument, *, reason: str, location: str) -> bytes: ...


@dataclass(frozen=True)
class Settings:
    """What sealing needs from the configuration."""

    agreements_dir: Path
    data_dir: Path
    case_number_pattern: str
    public_url: str
    tz: ZoneInfo
    #: When the follow-ups of a sealed agreement fall due (server/config.py ``followup_*``).
    followups: FollowUpSettings = FollowUpSettings()


def _year(value: datetime, tz: ZoneInfo) -> int:
    return value.astimezone(tz).year


async def _reserve_case_number(
    db: AsyncSession, draft: AgreementDraft, station: Station, settings: Settings
) -> None:
    """The next number of the station's year and kind, kept on the draft until it is used."""
    if draft.case_number:
        return
    year = _year(utcnow(), settings.tz)
    counter = await db.get(CaseCounter, (draft.station_id, year, draft.legal_track))
    if counter is None:
        counter = CaseCounter(station_id=draft.station_id, year=year, kind=draft.legal_track)
        db.add(counter)
    counter.last_seq += 1
    draft.case_year = year
    draft.case_seq = counter.last_seq
    draft.case_number = format_case_number(
        settings.case_number_pattern,
        year=year,
        station=station.short_name,
        track=draft.legal_track,
        seq=counter.last_seq,
    )


async def current_of_draft(db: AsyncSession, draft_id: int) -> Agreement | None:
    """The newest sealed version made from a draft."""
    return (
        await db.exec(
            select(Agreement)
            .where(Agreement.draft_id == draft_id)
            .order_by(col(Agreement.version).desc())
        )
    ).first()


def _evidence_time(value: datetime, tz: ZoneInfo) -> str:
    local = value.astimezone(tz)
    return f"{local:%Y-%m-%d %H:%M:%S} {local:%z}"


def _mask_ip(ip: str) -> str:
    """The evidence page is handed to every party: the last part of an address is hidden."""
    if ":" in ip:
        return ":".join(ip.split(":")[:3]) + ":…"
    parts = ip.split(".")
    return ".".join(parts[:3] + ["*"]) if len(parts) == 4 else ip


@dataclass(frozen=True)
class Prepared:
    doc: AgreementDocument
    evidence: dict[str, Any]
    party_names: str
    previous: Agreement | None


async def _prepare(
    db: AsyncSession,
    actor: Actor,
    draft_id: int,
    *,
    vault: PiiVault,
    settings: Settings,
    verify_code: str,
) -> Prepared:
    ctx = await service.get_draft(db, actor, draft_id)
    draft = ctx.draft
    if not roles.can_seal_agreement(actor, draft.office_id):
        raise NotAllowed(N_("Only a police officer of this office applies the station's seal."))
    if draft.status == DraftStatus.SEALED:
        raise Conflict(N_("The agreement is already sealed."))
    if draft.status != DraftStatus.FROZEN:
        raise Conflict(N_("Freeze the text and collect the signatures before sealing."))
    states = await signing.signer_states(db, draft)
    refused = [s.signer.name for s in states if s.refused]
    if refused:
        raise Conflict(
            N_("%(names)s refused to sign; the agreement cannot be sealed."),
            params={"names": "、".join(refused)},
        )
    waiting = [s.signer.name for s in states if not s.signed]
    if waiting:
        raise Conflict(
            N_("Still waiting for signatures from %(names)s."),
            params={"names": "、".join(waiting)},
        )
    if not ctx.station.seal_file:
        raise Conflict(N_("The station's seal image has not been uploaded (Administration)."))
    content = ctx.content
    header = service.header_of(ctx, content, vault, settings.tz)
    # The paper is laid out from this structure; it must be the very text that
    # was frozen and signed. If the record changed since (a party's address, the
    # presiding officer, the session's time), printing it would put words on
    # the paper that nobody signed.
    body = signed_text(header, content)
    if body.plain != draft.frozen_text:
        raise Conflict(
            N_(
                "The case record changed after the text was frozen, so the paper would "
                "not say what was signed. Unfreeze the text and sign again."
            )
        )
    seal_path = settings.data_dir / ctx.station.seal_file
    seal_png = await asyncio.to_thread(seal_path.read_bytes)
    await _reserve_case_number(db, draft, ctx.station, settings)
    previous = await current_of_draft(db, draft.id or 0)
    tz = settings.tz
    now = utcnow()
    track = draft.legal_track
    marks: list[SignatureMark] = []
    rows: list[EvidenceRow] = []
    evidence_signers: list[dict[str, Any]] = []
    for state in states:
        signer, answer = state.signer, state.answer
        assert answer is not None and answer.image_png is not None
        role_label = signer_label(signer.kind, signer.role, track)
        marks.append(
            SignatureMark(
                role_label=role_label,
                name=signer.name,
                signed_at=f"{zh_date(answer.at.astimezone(tz))}",
                image_png=answer.image_png,
            )
        )
        rows.append(
            EvidenceRow(
                role_label=role_label,
                name=signer.name,
                outcome="已签名",
                at=_evidence_time(answer.at, tz),
                ip=_mask_ip(answer.ip),
                user_agent=answer.user_agent[:120],
                via=VIA_LABELS_ZH.get(answer.via, answer.via),
                text_sha256=answer.text_sha256,
                image_sha256=answer.image_sha256,
                audit_ref=f"#{answer.audit_event_id}" if answer.audit_event_id else "",
            )
        )
        evidence_signers.append(
            {
                "signer_id": signer.id,
                "name": signer.name,
                "role": signer.role,
                "kind": signer.kind,
                "outcome": answer.outcome,
                "at": answer.at.isoformat(),
                "ip": answer.ip,
                "user_agent": answer.user_agent,
                "via": answer.via,
                "version": answer.version,
                "text_sha256": answer.text_sha256,
                "image_sha256": answer.image_sha256,
                "audit_event_id": answer.audit_event_id,
            }
        )
    version = (previous.version + 1) if previous else 1
    doc = AgreementDocument(
        track=track,
        title=TITLES[track],
        case_number=draft.case_number,
        version=version,
        correction_reason=draft.correction_reason if previous else "",
        station_name=ctx.station.name,
        station_address=ctx.station.address,
        station_phone=ctx.station.phone,
        mediating_body=header.mediating_body,
        office_name=ctx.office.name,
        presiding_label=PRESIDING_LABELS[track],
        presiding_name=header.presiding_name,
        dispute_reference=ctx.dispute.reference,
        body=body,
        signatures=tuple(marks),
        sealed_on=zh_date(now.astimezone(tz)),
        sealed_at_iso=now.astimezone(tz).isoformat(timespec="seconds"),
        seal_image_png=seal_png,
        seal_is_sample=ctx.station.seal_is_sample,
        text_sha256=draft.frozen_sha256,
        canonical_text=draft.frozen_text,
        verify_url=f"{settings.public_url}/verify/{verify_code}",
        evidence=tuple(rows),
        audit_refs=tuple(r.audit_ref for r in rows if r.audit_ref),
    )
    evidence = {
        "case_number": draft.case_number,
        "version": version,
        "legal_track": track,
        "dispute_reference": ctx.dispute.reference,
        "session_id": draft.session_id,
        "draft_id": draft.id,
        "draft_version": draft.frozen_version,
        "text_sha256": draft.frozen_sha256,
        "frozen_at": draft.frozen_at.isoformat() if draft.frozen_at else None,
        "signers": evidence_signers,
        "correction_reason": doc.correction_reason,
        "verify_code": verify_code,
    }
    party_names = " ".join(p.name for p in ctx.parties)
    return Prepared(doc, evidence, party_names, previous)


def _relative_file(doc: AgreementDocument, draft: AgreementDraft, digest: str) -> str:
    name = f"{draft.legal_track}-{draft.case_seq:05d}-v{doc.version}-{digest[:12]}.pdf"
    return f"{draft.station_id}/{draft.case_year}/{name}"


async def seal(
    factory: SessionFactory,
    actor: Actor,
    draft_id: int,
    *,
    producer: Producer,
    vault: PiiVault,
    settings: Settings,
) -> Agreement:
    """Render, seal, store and archive a fully signed agreement."""
    verify_code = secrets.token_urlsafe(VERIFY_CODE_BYTES)
    async with transaction(factory) as db:
        prepared = await _prepare(
            db, actor, draft_id, vault=vault, settings=settings, verify_code=verify_code
        )
    doc = prepared.doc
    pdf = await producer.produce(
        doc, reason=f"{doc.title} {doc.case_number}", location=doc.station_name
    )
    digest = hashlib.sha256(pdf).hexdigest()
    async with transaction(factory) as db:
        draft = await db.get(AgreementDraft, draft_id)
        if draft is None or draft.status != DraftStatus.FROZEN:
            raise Conflict(N_("The agreement changed while it was being sealed; try again."))
        relative = _relative_file(doc, draft, digest)
        path = settings.agreements_dir / relative
        await asyncio.to_thread(write_atomically, path, pdf)
        try:
            agreement = Agreement(
                draft_id=draft_id,
                session_id=draft.session_id,
                dispute_id=draft.dispute_id,
                station_id=draft.station_id,
                office_id=draft.office_id,
                legal_track=draft.legal_track,
                case_number=draft.case_number,
                case_year=draft.case_year or 0,
                case_seq=draft.case_seq or 0,
                version=doc.version,
                supersedes_id=prepared.previous.id if prepared.previous else None,
                correction_reason=doc.correction_reason,
                text_sha256=draft.frozen_sha256,
                pdf_sha256=digest,
                pdf_size=len(pdf),
                file_name=relative,
                verify_code=verify_code,
                party_names=prepared.party_names,
                evidence=json.dumps(prepared.evidence, ensure_ascii=False),
                sealed_by_id=actor.user_id,
            )
            db.add(agreement)
            await service.claim_version(db, draft, draft.version)
            draft.status = DraftStatus.SEALED
            await db.flush()
            record(
                db,
                actor,
                "agreement.seal",
                object_type="agreement",
                object_id=agreement.id,
                detail={
                    "case_number": draft.case_number,
                    "version": doc.version,
                    "sha256": digest,
                },
            )
            dispute = await db.get(Dispute, draft.dispute_id)
            if dispute is not None and dispute.status == Status.IN_MEDIATION:
                await disputes.transition_internal(
                    db, actor, dispute, Status.AGREEMENT, f"{doc.title} {draft.case_number}"
                )
            await judicial.open_window(db, actor, agreement, tz=settings.tz)
            # The visits that check performance, in this same transaction: an archived
            # agreement never lacks its follow-ups, and a failed seal leaves none behind.
            await followup_tasks.create_for_agreement(
                db,
                actor,
                agreement,
                DraftContent.model_validate_json(draft.content),
                settings=settings.followups,
                tz=settings.tz,
            )
            await db.flush()
        except BaseException:
            await asyncio.to_thread(path.unlink, True)
            raise
    return agreement


async def start_correction(
    db: AsyncSession, actor: Actor, agreement_id: int, reason: str
) -> AgreementDraft:
    """Reopen a sealed agreement's draft: the corrected text is signed and sealed anew."""
    agreement = await get_agreement(db, actor, agreement_id)
    if not roles.can_seal_agreement(actor, agreement.office_id):
        raise NotAllowed(N_("Only a police officer of this office applies the station's seal."))
    newest = await current_of_draft(db, agreement.draft_id)
    if newest is None or newest.id != agreement.id:
        raise Conflict(N_("Only the newest version of an agreement can be corrected."))
    draft = await db.get(AgreementDraft, agreement.draft_id)
    if draft is None or draft.status != DraftStatus.SEALED:
        raise Conflict(N_("A correction of this agreement is already under way."))
    await service.claim_version(db, draft, draft.version)
    draft.status = DraftStatus.DRAFTING
    draft.correction_of_id = agreement.id
    draft.correction_reason = reason
    draft.updated_by = actor.label[:80]
    service.add_revision(
        db,
        draft,
        "correction",
        DraftContent.model_validate_json(draft.content),
        actor.label,
        actor.user_id,
        reason,
    )
    record(
        db,
        actor,
        "agreement.correction_start",
        object_type="agreement",
        object_id=agreement.id,
        detail={"reason": reason},
    )
    return draft


# --- the archive -------------------------------------------------------------------------


async def get_agreement(db: AsyncSession, actor: Actor, agreement_id: int) -> Agreement:
    agreement = await db.get(Agreement, agreement_id)
    if agreement is None or agreement.station_id != actor.station_id:
        raise NotFound(N_("No such agreement."))
    if not roles.can_read_archive(actor, agreement.office_id):
        raise NotAllowed(N_("Only this office's staff, the chief and the clerk read its records."))
    return agreement


async def search(
    db: AsyncSession, actor: Actor, query: ArchiveQuery, *, tz: ZoneInfo, limit: int = 200
) -> list[Agreement]:
    """Case records by number, party name, date and office, newest first."""
    if not roles.can_read_disputes(actor):
        raise NotAllowed(N_("Only this office's staff, the chief and the clerk read its records."))
    statement = select(Agreement).where(Agreement.station_id == actor.station_id)
    if actor.role in roles.OFFICE_ROLES:
        statement = statement.where(Agreement.office_id == (actor.office_id or 0))
    if query.office_id is not None:
        statement = statement.where(Agreement.office_id == query.office_id)
    if query.case_number:
        statement = statement.where(col(Agreement.case_number).contains(query.case_number))
    if query.party_name:
        statement = statement.where(col(Agreement.party_names).contains(query.party_name))
    if query.date_from is not None:
        start = datetime.combine(query.date_from, time.min, tzinfo=tz)
        statement = statement.where(col(Agreement.sealed_at) >= start)
    if query.date_to is not None:
        end = datetime.combine(query.date_to + timedelta(days=1), time.min, tzinfo=tz)
        statement = statement.where(col(Agreement.sealed_at) < end)
    statement = statement.order_by(col(Agreement.sealed_at).desc(), col(Agreement.id).desc())
    return list(await db.exec(statement.limit(limit)))


async def versions_of(db: AsyncSession, agreement: Agreement) -> list[Agreement]:
    return list(
        await db.exec(
            select(Agreement)
            .where(Agreement.draft_id == agreement.draft_id)
            .order_by(col(Agreement.version))
        )
    )


async def of_dispute(db: AsyncSession, dispute_id: int) -> list[Agreement]:
    return list(
        await db.exec(
            select(Agreement)
            .where(Agreement.dispute_id == dispute_id)
            .order_by(col(Agreement.version).desc())
        )
    )


async def record_download(
    db: AsyncSession, actor: Actor | None, agreement: Agreement, *, how: str, ip: str = ""
) -> None:
    record(
        db,
        actor,
        "agreement.download",
        object_type="agreement",
        object_id=agreement.id,
        detail={"how": how},
        station_id=agreement.station_id,
        ip=ip,
    )


async def bundle(
    db: AsyncSession, actor: Actor, agreement_id: int, *, agreements_dir: Path, tz: ZoneInfo
) -> tuple[Agreement, bytes]:
    """The case bundle: the sealed PDF, the evidence, the minutes and the chat transcript."""
    agreement = await get_agreement(db, actor, agreement_id)
    pdf = await read_pdf(agreements_dir, agreement)
    draft = await db.get(AgreementDraft, agreement.draft_id)
    chat = list(
        await db.exec(
            select(ChatMessage)
            .where(ChatMessage.session_id == agreement.session_id)
            .order_by(col(ChatMessage.at), col(ChatMessage.id))
        )
    )
    transcript = []
    for line in chat:
        scope = "（仅主持人可见）" if line.private_to_hosts else ""
        if line.caucus_id:
            scope = "（背对背）"
        stamp = line.at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
        transcript.append(f"[{stamp}] {line.sender_name}{scope}：{line.text}")
    evidence = json.loads(agreement.evidence)
    evidence.update(
        {
            "pdf_sha256": agreement.pdf_sha256,
            "pdf_size": agreement.pdf_size,
            "sealed_at": agreement.sealed_at.isoformat(),
            "station_id": agreement.station_id,
        }
    )
    seq = f"{agreement.case_year}-{agreement.case_seq:05d}-v{agreement.version}"
    files = {
        f"{seq}/agreement.pdf": pdf,
        f"{seq}/evidence.json": json.dumps(evidence, ensure_ascii=False, indent=2).encode(),
        f"{seq}/chat.txt": ("\n".join(transcript) + "\n").encode(),
        f"{seq}/signed-text.txt": (draft.frozen_text if draft else "").encode(),
    }
    data = await asyncio.to_thread(_zip, files)
    record(
        db,
        actor,
        "agreement.bundle",
        object_type="agreement",
        object_id=agreement.id,
    )
    return agreement, data


def _zip(files: dict[str, bytes]) -> bytes:
    """Compressing half a megabyte takes a while: callers run this in a thread."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle_zip:
        for name, content in files.items():
            bundle_zip.writestr(name, content)
    return buffer.getvalue()


async def by_verify_code(db: AsyncSession, code: str) -> Agreement | None:
    if not code or len(code) > 40:
        return None
    return (await db.exec(select(Agreement).where(Agreement.verify_code == code))).first()


async def by_pdf_hash(db: AsyncSession, digest: str) -> Agreement | None:
    return (await db.exec(select(Agreement).where(Agreement.pdf_sha256 == digest))).first()


async def is_current(db: AsyncSession, agreement: Agreement) -> bool:
    newest = await current_of_draft(db, agreement.draft_id)
    return newest is not None and newest.id == agreement.id


async def copies_for_signer(db: AsyncSession, door: signing.SigningDoor) -> Agreement | None:
    """The newest sealed version a signer may download with their personal link."""
    if door.draft.status != DraftStatus.SEALED:
        return None
    return await current_of_draft(db, door.draft.id or 0)
