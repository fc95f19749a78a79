"""A session's minutes as the record, the paper and the facts draft need them, loaded once.

The entries are read straight from ``MinutesEntry`` (in ``at`` order, then
``id``, so two entries of the same second keep the order they were made in).
Who spoke is resolved from the session's own people, not from the role the
entry was written with: ``inv-N`` is that invitation of this session (a
party's role, an expert's kind), ``staff-N`` the presiding officer or other
staff. So the 笔录 names each speaker as the case record does, and a speaker
key the record does not know keeps the name and role the entry carries.
Empty entries (a line started and never typed) are not part of the record.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.agreements.rules import PARTY_ROLES_ZH, PRESIDING_LABELS
from server.agreements.service import EXPERT_KIND_ZH, session_time
from server.auth.roles import Actor
from server.errors import N_, NotFound
from server.minutes import service as minutes
from server.minutes.facts import Side, Statement
from server.minutes.record import Header, Line, canonical_text, sha256_of
from server.models import (
    BeatOffice,
    Dispute,
    Expert,
    Invitation,
    MediationSession,
    Party,
    StaffUser,
    Station,
)
from server.models.minutes import MinutesEntry, MinutesSignoff
from server.sessions import service as sessions
from server.sessions.rules import InviteeRole

#: Labels for a role stored on an entry whose speaker the record does not know.
STORED_ROLE_ZH: dict[str, str] = {
    **PARTY_ROLES_ZH,
    "expert": "专家",
    "observer": "列席",
    "staff": "工作人员",
    "presiding": "主持人",
    "clerk": "记录人",
}
PARTY_SIDES = {"applicant": Side.APPLICANT, "respondent": Side.RESPONDENT}


@dataclass(frozen=True)
class Speaker:
    name: str
    role_label: str  # as the 笔录 prints it: 申请人 / 律师 / 主持人 …
    side: Side
    #: How the facts draft names them before the name: 申请人 / 被申请人的委托代理人 / 律师.
    facts_label: str


@dataclass(frozen=True)
class Sitting:
    """Everything about one session's minutes, in print form where it is printed."""

    session: MediationSession
    dispute: Dispute
    station: Station
    office: BeatOffice
    presiding: StaffUser | None
    entries: tuple[MinutesEntry, ...]
    speakers: dict[str, Speaker]
    signoff: MinutesSignoff | None
    header: Header
    tz: ZoneInfo

    @property
    def presiding_label(self) -> str:
        return PRESIDING_LABELS.get(self.session.legal_track, "主持人")

    def speaker_of(self, entry: MinutesEntry) -> Speaker:
        known = self.speakers.get(entry.speaker_key)
        if known is not None:
            return known
        label = STORED_ROLE_ZH.get(entry.speaker_role, entry.speaker_role)
        return Speaker(entry.speaker_name, label, Side.OTHER, label)

    @property
    def lines(self) -> tuple[Line, ...]:
        out = []
        for entry in self.entries:
            speaker = self.speaker_of(entry)
            out.append(Line(entry.at, speaker.name, speaker.role_label, entry.text))
        return tuple(out)

    @property
    def statements(self) -> tuple[Statement, ...]:
        out = []
        for entry in self.entries:
            speaker = self.speaker_of(entry)
            out.append(
                Statement(
                    entry.at,
                    entry.speaker_key,
                    speaker.facts_label,
                    speaker.name,
                    speaker.side,
                    entry.text,
                )
            )
        return tuple(out)

    @property
    def text(self) -> str:
        """The canonical text of the minutes (``record.canonical_text``)."""
        return canonical_text(self.header, self.lines, self.tz)

    @property
    def sha256(self) -> str:
        return sha256_of(self.text)


async def entries_of(db: AsyncSession, session_id: int) -> list[MinutesEntry]:
    """The session's entries with text, in the order they were said."""
    return [row for row in await minutes.list_entries(db, session_id) if row.text.strip()]


def _speakers(
    session: MediationSession,
    presiding: StaffUser | None,
    invitations: list[Invitation],
    parties: dict[int, Party],
    experts: dict[int, Expert],
) -> dict[str, Speaker]:
    speakers: dict[str, Speaker] = {}
    for invitation in invitations:
        key = f"inv-{invitation.id}"
        name = invitation.display_name
        if invitation.party_id is not None and invitation.party_id in parties:
            party = parties[invitation.party_id]
            label = PARTY_ROLES_ZH.get(party.role, "当事人")
            side = PARTY_SIDES.get(party.role, Side.OTHER)
            facts_label = label
            principal = parties.get(party.represents_id or 0)
            if principal is not None and principal.role in PARTY_SIDES:
                side = PARTY_SIDES[principal.role]
                facts_label = f"{PARTY_ROLES_ZH[principal.role]}{principal.name}的{label}"
            speakers[key] = Speaker(party.name, label, side, facts_label)
        elif invitation.role == InviteeRole.EXPERT:
            expert = experts.get(invitation.expert_id or 0)
            kind = EXPERT_KIND_ZH.get(expert.kind, "专家") if expert else "专家"
            speakers[key] = Speaker(name, kind, Side.EXPERT, kind)
        else:
            speakers[key] = Speaker(name, "列席", Side.OTHER, "列席")
    if presiding is not None:
        label = PRESIDING_LABELS.get(session.legal_track, "主持人")
        speakers[f"staff-{presiding.id}"] = Speaker(
            presiding.display_name, label, Side.OTHER, label
        )
    return speakers


def _participants(
    session: MediationSession, invitations: list[Invitation], speakers: dict[str, Speaker]
) -> tuple[str, ...]:
    """Everyone invited (links not revoked), as 王丽华（申请人）; ID numbers never."""
    out: list[str] = []
    for invitation in invitations:
        if invitation.revoked_at is not None:
            continue
        speaker = speakers[f"inv-{invitation.id}"]
        out.append(f"{speaker.name}（{speaker.role_label}）")
    return tuple(out)


async def load(db: AsyncSession, actor: Actor, session_id: int, *, tz: ZoneInfo) -> Sitting:
    """The session's minutes, if the actor may read the case (another office's: refused)."""
    session, dispute = await sessions.get_session(db, actor, session_id)
    station = await db.get(Station, session.station_id)
    office = await db.get(BeatOffice, session.office_id)
    if station is None or office is None:
        raise NotFound(N_("No such session."))
    presiding = await db.get(StaffUser, session.presiding_officer_id)
    invitations = list(
        await db.exec(
            select(Invitation)
            .where(Invitation.session_id == session_id)
            .order_by(col(Invitation.id))
        )
    )
    parties = {
        p.id: p
        for p in await db.exec(select(Party).where(Party.dispute_id == dispute.id))
        if p.id is not None
    }
    expert_ids = [i.expert_id for i in invitations if i.expert_id is not None]
    experts = {
        e.id: e
        for e in await db.exec(select(Expert).where(col(Expert.id).in_(expert_ids)))
        if e.id is not None
    }
    entries = tuple(await entries_of(db, session_id))
    speakers = _speakers(session, presiding, invitations, parties, experts)
    clerks = tuple(dict.fromkeys(e.author_name for e in entries if e.author_name))
    header = Header(
        # Only what is fixed once the session is held: the agreement's case number,
        # given at sealing, would change the text (and its hash) after the sign-off.
        case_reference=dispute.reference,
        dispute_title=dispute.title,
        session_time=session_time(session, tz),
        place=f"线上视频调解（{station.name}{office.name}）",
        presiding_label=PRESIDING_LABELS.get(session.legal_track, "主持人"),
        presiding_name=presiding.display_name if presiding else "",
        clerks=clerks,
        participants=_participants(session, invitations, speakers),
    )
    return Sitting(
        session=session,
        dispute=dispute,
        station=station,
        office=office,
        presiding=presiding,
        entries=entries,
        speakers=speakers,
        signoff=await db.get(MinutesSignoff, session_id),
        header=header,
        tz=tz,
    )
