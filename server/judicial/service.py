"""Judicial confirmation on the case: opening the window at sealing, the clock, the packet,
the filing and the court's decision.

Every change is a compare-and-set on the row's ``version`` (one statement), so
two people recording the same filing at once get one winner and a clear
refusal for the other, and a refusal changes nothing. Every change and every
packet is audited.
"""

from __future__ import annotations

import asyncio
import io
import zipfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.agreements import archived_files
from server.agreements import service as agreements
from server.agreements.document import PEOPLE
from server.agreements.rules import TITLES
from server.agreements.works import AgreementWorks
from server.audit import record
from server.auth import roles
from server.auth.roles import Actor
from server.disputes import service as disputes
from server.errors import N_, Conflict, NotAllowed, NotFound
from server.judicial import application
from server.judicial.clock import (
    STATUS_LABELS,
    Clock,
    Status,
    effective_date,
    links_valid_until,
    reminder_threshold,
    window_end,
)
from server.judicial.rules import MATERIAL_NOTES, MATERIALS, Window, check_decision, check_filing
from server.judicial.schemas import DecisionInput, FilingInput
from server.local_time import local_today
from server.models import (
    Agreement,
    AgreementDraft,
    BeatOffice,
    Dispute,
    JudicialConfirmation,
    Signer,
    utcnow,
)
from server.pii import PiiVault
from server.versioned import claim_next_version
from server.workdays import load_calendar

OBJECT = "judicial_confirmation"


@dataclass(frozen=True)
class WindowView:
    """A window and what its clock says today, for pages and the API."""

    row: JudicialConfirmation
    clock: Clock
    dispute_title: str = ""

    @property
    def status_label(self) -> str:
        """The msgid of the row's status (translated where it is shown)."""
        return STATUS_LABELS.get(self.row.status, self.row.status)


def clock_of(row: JudicialConfirmation, today: date) -> Clock:
    return Clock(row.effective_on, row.window_ends_on, today, row.status)


# --- at sealing ------------------------------------------------------------------------------


async def open_window(
    db: AsyncSession, actor: Actor, agreement: Agreement, *, tz: ZoneInfo
) -> JudicialConfirmation | None:
    """Called by ``archive.seal`` in its transaction: a people's-mediation agreement opens its
    30-day window (a correction keeps the one its draft already has), and the parties'
    personal links are kept working until the window closes."""
    if agreement.legal_track != PEOPLE:
        return None
    row = (
        await db.exec(
            select(JudicialConfirmation).where(JudicialConfirmation.draft_id == agreement.draft_id)
        )
    ).first()
    if row is None:
        office = await db.get(BeatOffice, agreement.office_id)
        effective_on = effective_date(agreement.sealed_at, tz)
        calendar = await load_calendar(db, agreement.station_id)
        row = JudicialConfirmation(
            draft_id=agreement.draft_id,
            agreement_id=agreement.id or 0,
            dispute_id=agreement.dispute_id,
            station_id=agreement.station_id,
            office_id=agreement.office_id,
            effective_on=effective_on,
            window_ends_on=window_end(effective_on, calendar),
            court_name=office.court_name if office else "",
            updated_by_id=actor.user_id,
        )
        db.add(row)
        await db.flush()
        record(
            db,
            actor,
            "judicial.open",
            object_type=OBJECT,
            object_id=row.id,
            detail={
                "case_number": agreement.case_number,
                "effective_on": row.effective_on.isoformat(),
                "ends": row.window_ends_on.isoformat(),
            },
        )
    else:
        # The newest sealed version is what goes to court; the window stays the first one's.
        row.agreement_id = agreement.id or 0
        row.updated_at = utcnow()
    await extend_party_links(db, agreement.draft_id, links_valid_until(row.window_ends_on, tz))
    return row


async def extend_party_links(db: AsyncSession, draft_id: int, until: datetime) -> int:
    """Every party signer's link works at least ``until``; never shortened. How many changed."""
    changed = 0
    signers = await db.exec(
        select(Signer).where(Signer.draft_id == draft_id, Signer.kind == "party")
    )
    for signer in signers:
        if _aware(signer.expires_at) < until:
            signer.expires_at = until
            changed += 1
    return changed


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive UTC values."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# --- reading -----------------------------------------------------------------------------


def _check_read(actor: Actor, row: JudicialConfirmation) -> None:
    if row.station_id != actor.station_id:
        raise NotFound(N_("No such judicial confirmation."))
    if not roles.can_read_archive(actor, row.office_id):
        raise NotAllowed(N_("Only this office's staff, the chief and the clerk read its records."))


async def get_window(db: AsyncSession, actor: Actor, window_id: int) -> JudicialConfirmation:
    row = await db.get(JudicialConfirmation, window_id)
    if row is None:
        raise NotFound(N_("No such judicial confirmation."))
    _check_read(actor, row)
    return row


async def windows_of_dispute(
    db: AsyncSession, actor: Actor, dispute_id: int, *, tz: ZoneInfo
) -> list[WindowView]:
    """The dispute's windows (one per people's-mediation agreement), oldest first."""
    dispute = await disputes.get_dispute(db, actor, dispute_id)
    rows = await db.exec(
        select(JudicialConfirmation)
        .where(JudicialConfirmation.dispute_id == dispute_id)
        .order_by(col(JudicialConfirmation.id))
    )
    today = local_today(tz)
    return [
        WindowView(row, clock_of(row, today), dispute.title)
        for row in rows
        if roles.can_read_archive(actor, row.office_id)
    ]


async def window_of_draft(
    db: AsyncSession, actor: Actor, draft_id: int, *, tz: ZoneInfo
) -> WindowView | None:
    row = (
        await db.exec(select(JudicialConfirmation).where(JudicialConfirmation.draft_id == draft_id))
    ).first()
    if row is None:
        return None
    _check_read(actor, row)
    return WindowView(row, clock_of(row, local_today(tz)))


async def reminders(
    db: AsyncSession, actor: Actor, *, tz: ZoneInfo, limit: int = 50
) -> list[WindowView]:
    """Open windows on or past day 20 and not yet closed, the soonest to close first:
    the dashboard's 司法确认期限提醒. Office staff see their office only."""
    if not roles.can_read_disputes(actor):
        return []
    today = local_today(tz)
    statement = (
        select(JudicialConfirmation, Dispute.title)
        .join(Dispute, col(Dispute.id) == col(JudicialConfirmation.dispute_id))
        .where(
            JudicialConfirmation.station_id == actor.station_id,
            JudicialConfirmation.status == Status.OPEN,
            col(JudicialConfirmation.effective_on) <= reminder_threshold(today),
            col(JudicialConfirmation.window_ends_on) >= today,
        )
        .order_by(col(JudicialConfirmation.window_ends_on), col(JudicialConfirmation.id))
        .limit(limit)
    )
    if actor.role in roles.OFFICE_ROLES:
        statement = statement.where(JudicialConfirmation.office_id == (actor.office_id or 0))
    return [WindowView(row, clock_of(row, today), title) for row, title in await db.exec(statement)]


# --- recording -------------------------------------------------------------------------------


def _window(row: JudicialConfirmation) -> Window:
    return Window(row.effective_on, row.window_ends_on, row.status, row.filed_on)


async def _writable(db: AsyncSession, actor: Actor, window_id: int) -> JudicialConfirmation:
    row = await get_window(db, actor, window_id)
    if not roles.can_record_judicial(actor, row.office_id):
        raise NotAllowed(
            N_("Only a police officer of this office or the chief records judicial confirmation.")
        )
    return row


async def _compare_and_set(
    db: AsyncSession, actor: Actor, row: JudicialConfirmation, expected: int, values: dict[str, Any]
) -> None:
    """One UPDATE ... WHERE version = expected: the first of two concurrent recorders wins."""
    changes = {"updated_at": utcnow(), "updated_by_id": actor.user_id, **values}
    if not await claim_next_version(db, row, expected, changes):
        raise Conflict(
            N_("Someone else recorded this judicial confirmation meanwhile; reload and try again.")
        )


async def _on_timeline(
    db: AsyncSession, actor: Actor, row: JudicialConfirmation, kind: str, note: str
) -> None:
    """The filing and the ruling belong on the case's timeline, not only in the audit trail."""
    dispute = await db.get(Dispute, row.dispute_id)
    assert dispute is not None
    disputes.note_on_timeline(db, actor, dispute, kind, note, link_kind="judicial", link_id=row.id)


async def record_filing(
    db: AsyncSession, actor: Actor, window_id: int, data: FilingInput, *, tz: ZoneInfo
) -> JudicialConfirmation:
    """The parties filed their joint application: when, and with which court."""
    row = await _writable(db, actor, window_id)
    if data.expected_version != row.version:
        raise Conflict(
            N_("Someone else recorded this judicial confirmation meanwhile; reload and try again.")
        )
    check_filing(_window(row), data.filed_on, local_today(tz))
    court = data.court_name or row.court_name or await _office_court(db, row)
    if not court:
        raise Conflict(
            N_("Enter the court: this office has no court configured (Administration)."),
            fields={"court_name": "missing"},
        )
    values = {"status": Status.FILED.value, "filed_on": data.filed_on, "court_name": court}
    if data.note:
        values["note"] = data.note
    await _compare_and_set(db, actor, row, data.expected_version, values)
    await _on_timeline(db, actor, row, "judicial_filed", f"{data.filed_on.isoformat()} {court}")
    record(
        db,
        actor,
        "judicial.filing",
        object_type=OBJECT,
        object_id=row.id,
        detail={"filed_on": data.filed_on.isoformat(), "court": court, "dispute": row.dispute_id},
    )
    return row


async def record_decision(
    db: AsyncSession, actor: Actor, window_id: int, data: DecisionInput, *, tz: ZoneInfo
) -> JudicialConfirmation:
    """The court's ruling: confirmed (enforceable from now) or not, with its number."""
    row = await _writable(db, actor, window_id)
    if data.expected_version != row.version:
        raise Conflict(
            N_("Someone else recorded this judicial confirmation meanwhile; reload and try again.")
        )
    check_decision(
        _window(row), data.decision, data.decided_on, data.ruling_number, local_today(tz)
    )
    values: dict[str, Any] = {
        "status": data.decision,
        "decided_on": data.decided_on,
        "ruling_number": data.ruling_number,
    }
    if data.note:
        values["note"] = data.note
    await _compare_and_set(db, actor, row, data.expected_version, values)
    await _on_timeline(
        db,
        actor,
        row,
        "judicial_decided",
        f"{data.decided_on.isoformat()} {data.ruling_number}",
    )
    record(
        db,
        actor,
        "judicial.decision",
        object_type=OBJECT,
        object_id=row.id,
        detail={
            "decision": data.decision,
            "decided_on": data.decided_on.isoformat(),
            "ruling_number": data.ruling_number,
            "dispute": row.dispute_id,
        },
    )
    return row


async def _office_court(db: AsyncSession, row: JudicialConfirmation) -> str:
    office = await db.get(BeatOffice, row.office_id)
    return office.court_name if office else ""


# --- the packet --------------------------------------------------------------------------


@dataclass(frozen=True)
class Packet:
    file_name: str
    data: bytes
    application_pdf: bytes


async def make_packet(
    db: AsyncSession,
    actor: Actor,
    window_id: int,
    *,
    vault: PiiVault,
    agreements_dir: Path,
    tz: ZoneInfo,
    works: AgreementWorks,
) -> Packet:
    """A ZIP of the prefilled application (full ID numbers), the sealed agreement and the
    list of materials. Only staff who may reveal ID numbers make it; each one is audited."""
    row = await get_window(db, actor, window_id)
    if not roles.can_make_judicial_packet(actor, row.office_id):
        raise NotAllowed(
            N_("Only a police officer of this office or the chief prepares the court packet.")
        )
    court = row.court_name or await _office_court(db, row)
    if not court:
        raise Conflict(
            N_("The office's court for judicial confirmation is not configured (Administration).")
        )
    agreement = await db.get(Agreement, row.agreement_id)
    draft = await db.get(AgreementDraft, row.draft_id)
    if agreement is None or draft is None:
        raise NotFound(N_("No such agreement."))
    sealed = await archived_files.read_pdf(agreements_dir, agreement)
    ctx = await agreements.load_context(db, draft)
    now = utcnow()
    doc = application.build(
        ctx,
        agreement,
        vault,
        court_name=court,
        effective_on=row.effective_on,
        window_ends_on=row.window_ends_on,
        made_on=local_today(tz, now),
        made_at_iso=now.astimezone(tz).isoformat(timespec="seconds"),
        agreement_title=TITLES[agreement.legal_track],
    )
    pdf = await works.render_court_application(doc)
    seq = f"{agreement.case_year}-{agreement.case_seq:04d}"
    materials = "\n".join(
        [f"申请司法确认需携带的材料（{agreement.case_number}）", ""]
        + [f"{n}. {item}" for n, item in enumerate(MATERIALS, 1)]
        + [""]
        + list(MATERIAL_NOTES)
    )
    files = {
        f"1-司法确认申请书-{seq}.pdf": pdf,
        f"2-人民调解协议书-{seq}-v{agreement.version}.pdf": sealed,
        "3-材料清单.txt": (materials + "\n").encode("utf-8"),
    }
    data = await asyncio.to_thread(_zip, files)
    row.packet_made_at = now
    if not row.court_name:
        row.court_name = court
    record(
        db,
        actor,
        "judicial.packet",
        object_type=OBJECT,
        object_id=row.id,
        detail={
            "case_number": agreement.case_number,
            "version": agreement.version,
            "court": court,
            "dispute": row.dispute_id,
        },
    )
    return Packet(f"judicial-{seq}.zip", data, pdf)


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as packet:
        for name, content in files.items():
            packet.writestr(name, content)
    return buffer.getvalue()
