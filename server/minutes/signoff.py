"""The presiding officer's sign-off of the minutes: the 笔录 PDF made, sealed and kept.

After the sign-off the minutes do not change (the writing side refuses edits
once a ``MinutesSignoff`` exists) and the PDF made from them is what the case
bundle carries. Only the session's presiding officer signs off (least
privilege: the chief only when presiding; ``roles.can_sign_off_minutes``).

One winner when two try at once: the row's primary key is the session id,
the insert is made in a savepoint and the loser's file is removed again, and
the loser is told the minutes were signed off meanwhile. The entries are
read again after the insert: an entry that landed while the paper was being
rendered would be missing from it, so the sign-off is refused and nothing
stays behind.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from server.agreements import glyphs
from server.agreements.rules import zh_datetime
from server.agreements.works import AgreementWorks
from server.audit import record
from server.auth import roles
from server.auth.roles import Actor
from server.disputes import service as disputes
from server.errors import N_, Conflict, NotAllowed, NotFound, ValidationFailed
from server.files import write_atomically
from server.minutes import paper, sitting
from server.minutes.record import first_day, stamp
from server.models import StaffUser, utcnow
from server.models.minutes import MinutesSignoff
from server.sessions.rules import SessionStatus

#: Where the 笔录 PDFs lie, inside the agreements directory.
SUBDIR = "minutes"
TIMELINE_KIND = "minutes_signed_off"


@dataclass(frozen=True)
class Settings:
    """What a sign-off needs from the configuration."""

    agreements_dir: Path
    tz: ZoneInfo
    #: The agreement worker, which renders and seals (no key configured: sign-off refused).
    works: AgreementWorks


def _unprintable(s: sitting.Sitting) -> tuple[str, str] | None:
    """The first entry (its time) holding a character the paper cannot print, and that
    character: the paper would not show what the hash covers."""
    day = first_day(s.lines, s.tz)
    for line in s.lines:
        for char in line.speaker_name + line.text:
            if not glyphs.printable(char):
                return stamp(line.at, s.tz, day), glyphs.shown(char)
    return None


def relative_file(station_id: int, session_id: int, at: datetime, digest: str) -> str:
    return f"{SUBDIR}/{station_id}/{at.year}/session-{session_id:06d}-{digest[:12]}.pdf"


async def _already(db: AsyncSession, signoff: MinutesSignoff, tz: ZoneInfo) -> Conflict:
    by = await db.get(StaffUser, signoff.signed_off_by_id)
    return Conflict(
        N_("These minutes were already signed off by %(name)s at %(at)s."),
        params={
            "name": by.display_name if by else "",
            "at": zh_datetime(signoff.signed_off_at.astimezone(tz)),
        },
    )


async def sign_off(
    db: AsyncSession,
    actor: Actor,
    session_id: int,
    *,
    settings: Settings,
    expected_sha256: str = "",
) -> MinutesSignoff:
    """Confirm the session's minutes: the sealed 笔录 PDF written, the row, audit, timeline.

    ``expected_sha256`` is the hash of the minutes as the confirming page showed them:
    when given, minutes that changed since (an entry added or corrected) are refused,
    so nobody confirms text they have not read.
    """
    tz = settings.tz
    s = await sitting.load(db, actor, session_id, tz=tz)
    session = s.session
    if not roles.can_sign_off_minutes(actor, session.office_id, session.presiding_officer_id):
        raise NotAllowed(N_("Only the presiding officer of this session signs off its minutes."))
    if s.signoff is not None:
        raise await _already(db, s.signoff, tz)
    if session.status == SessionStatus.CANCELLED:
        raise Conflict(N_("The session was cancelled; its minutes cannot be signed off."))
    if not s.entries:
        raise Conflict(N_("There are no minutes entries to sign off yet."))
    if expected_sha256 and expected_sha256 != s.sha256:
        raise Conflict(
            N_("The minutes changed after you opened them; check them again before confirming.")
        )
    bad = _unprintable(s)
    if bad is not None:
        raise ValidationFailed(
            N_(
                "The entry at %(time)s holds a character the paper cannot print: %(char)s. "
                "Correct the entry first."
            ),
            params={"time": bad[0], "char": bad[1]},
        )
    now = utcnow()
    by_name = s.presiding.display_name if s.presiding else actor.label
    sheet = paper.paper_for(s, signed_off_by=by_name, signed_off_at=now)
    pdf = await settings.works.produce_minutes(sheet)
    digest = hashlib.sha256(pdf).hexdigest()
    relative = relative_file(session.station_id, session_id, now.astimezone(tz), digest)
    path = settings.agreements_dir / relative
    await asyncio.to_thread(write_atomically, path, pdf)
    try:
        signoff = MinutesSignoff(
            session_id=session_id,
            signed_off_by_id=actor.user_id,
            signed_off_at=now,
            entry_count=len(s.entries),
            entries_sha256=sheet.entries_sha256,
            pdf_sha256=digest,
            pdf_size=len(pdf),
            file_name=relative,
        )
        try:
            async with db.begin_nested():
                db.add(signoff)
                await db.flush()
        except IntegrityError:
            raise Conflict(
                N_("Someone else signed off these minutes meanwhile; reload the page.")
            ) from None
        again = await sitting.load(db, actor, session_id, tz=tz)
        if again.sha256 != sheet.entries_sha256:
            raise Conflict(
                N_("The minutes changed while they were being signed off; check and try again.")
            )
        record(
            db,
            actor,
            "minutes.sign_off",
            object_type="session",
            object_id=session_id,
            detail={
                "entries": len(s.entries),
                "entries_sha256": sheet.entries_sha256,
                "pdf_sha256": digest,
            },
        )
        disputes.note_on_timeline(
            db,
            actor,
            s.dispute,
            TIMELINE_KIND,
            f"{len(s.entries)}条记录",
            link_kind="minutes",
            link_id=session_id,
        )
        await db.flush()
    except BaseException:
        await asyncio.to_thread(path.unlink, True)
        raise
    return signoff


def pdf_path(agreements_dir: Path, signoff: MinutesSignoff) -> Path:
    path = (agreements_dir / signoff.file_name).resolve()
    if agreements_dir.resolve() not in path.parents:
        raise NotFound(N_("The minutes have not been signed off."))
    return path


async def read_pdf(agreements_dir: Path, signoff: MinutesSignoff) -> bytes:
    """The kept 笔录 PDF, refused if it no longer matches the recorded hash."""
    try:
        data = await asyncio.to_thread(pdf_path(agreements_dir, signoff).read_bytes)
    except FileNotFoundError:
        raise Conflict(
            N_("The signed-off minutes file is missing from the archive; tell the admin.")
        ) from None
    if hashlib.sha256(data).hexdigest() != signoff.pdf_sha256:
        raise Conflict(N_("The archived file does not match its recorded hash; tell the admin."))
    return data


async def signed_off_pdf(
    db: AsyncSession, actor: Actor, session_id: int, *, agreements_dir: Path, tz: ZoneInfo
) -> tuple[MinutesSignoff, bytes]:
    """The signed-off PDF for someone who may read the case; the download is audited."""
    s = await sitting.load(db, actor, session_id, tz=tz)
    if s.signoff is None:
        raise NotFound(N_("The minutes have not been signed off."))
    data = await read_pdf(agreements_dir, s.signoff)
    record(db, actor, "minutes.download", object_type="session", object_id=session_id)
    return s.signoff, data
