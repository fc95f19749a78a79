"""The agreement in the live room: drafting it together, the live text, signing prompts.

Staff who may draft (``server.auth.roles.can_draft_agreement``) edit the draft
through the room's socket; every admitted participant reads the text as it
changes; each signer of a frozen text is prompted to sign. The domain rules
live in ``server.agreements.service`` (the draft) and ``server.agreements.signing``
(the answers): this module only calls them, inside one transaction per request,
and turns the result into notifications.

Decisions made here:

- One ``agreement_updated`` per admitted participant after any change, each cut
  for its reader from one load of the draft: those who draft get the
  structured content and what still stops freezing; parties,
  agents, guardians, police experts and staff get the text with ID numbers
  masked; those who see parties' names shortened in the room (non-police
  experts, observers) get a text with those names shortened and without
  ID numbers and addresses, as ``views.display_name`` does elsewhere. The
  room's text is for following along; the signing page shows the exact text
  whose SHA-256 the signature names.
- Broadcasts of one room are serialised (``LiveRoom.agreement_lock``) and each
  reads the draft afresh, so the last notification a reader gets is the
  latest state whatever order the changes came in.
- ``signature_requested`` goes to a waiting signer once per frozen text
  (``ParticipantSession.prompted``), and again when they come back (a reload loses the prompt).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from server.agreements import service, signing
from server.agreements.rules import DraftStatus, Problem, SignerKind, canonical_text, plan_signers
from server.agreements.schemas import DraftContent, DraftEdit
from server.auth.roles import Actor, can_draft_agreement
from server.db import SessionFactory, transaction
from server.errors import N_, NotAllowed, NotFound, ValidationFailed
from server.i18n import Catalogues
from server.live.session import ParticipantSession
from server.local_time import local_today
from server.models import AgreementDraft, Party
from server.pii import PiiVault, mask_name
from server.rooms.participant import Participant
from server.signaling import messages as m
from server.signaling import notifications as n

if TYPE_CHECKING:
    from server.live.room import LiveRoom

logger = logging.getLogger(__name__)

NOT_A_DRAFTER = N_("Only this office's staff and the clerk draft its agreements.")
NO_AGREEMENT = N_("No such agreement.")
NO_REVISION = N_("There is no such version of the draft.")
NEED_REASON = N_("Say why the text is unfrozen.")
MIN_REASON = 2

STATUS_CODES: dict[DraftStatus, n.AgreementStatus] = {
    DraftStatus.DRAFTING: "drafting",
    DraftStatus.FROZEN: "frozen",
    DraftStatus.SEALED: "sealed",
}


@dataclass(frozen=True)
class AgreementSettings:
    """What the agreement service needs from the application, given to the desk."""

    vault: PiiVault
    tz: ZoneInfo
    link_days: int
    catalogues: Catalogues


@dataclass(frozen=True)
class _SignerRow:
    name: str
    role: str
    kind: str
    party_id: int | None
    staff_id: int | None
    status: n.SignerStatus


@dataclass(frozen=True)
class _Snapshot:
    """One load of a draft, from which every reader's view is cut."""

    draft_id: int
    status: DraftStatus
    version: int
    frozen_version: int
    track: str
    office_id: int
    #: ID numbers masked: for parties, agents, guardians, police experts and staff.
    text: str
    #: Party names shortened, no ID numbers or addresses: for the other readers.
    short_text: str
    sha256: str | None
    problems: list[Problem]
    signers: list[_SignerRow]
    content: dict[str, Any]
    #: Live invitation id → the party it is for: how an invitee is matched to a signer.
    party_of_invitation: dict[int, int]


def _mask_ids(text: str, parties: Iterable[Party], vault: PiiVault) -> str:
    """The frozen text with each full ID number replaced by its masked form."""
    for party in parties:
        if party.id_number_encrypted:
            text = text.replace(vault.decrypt(party.id_number_encrypted), party.id_number_masked)
    return text


def _short_text(ctx: service.Context, settings: AgreementSettings) -> str:
    """The text for readers who see parties' names shortened in the room."""
    content = ctx.content
    header = service.header_of(ctx, content, settings.vault, settings.tz, masked=True)
    parties = tuple(
        replace(
            block,
            name=mask_name(block.name),
            id_number="",
            address="",
            acting_for=mask_name(block.acting_for) if block.acting_for else "",
        )
        for block in header.parties
    )
    text = canonical_text(replace(header, parties=parties), content)
    # The drafter's own words name the parties too (facts, terms).
    for name in sorted({p.name for p in ctx.parties if p.name}, key=len, reverse=True):
        text = text.replace(name, mask_name(name))
    return text


def _translate(catalogues: Catalogues, lang: str) -> Callable[[str], str]:
    return catalogues.get(lang).gettext


def _problem_text(gettext: Callable[[str], str], problem: Problem) -> str:
    text = gettext(problem.message)
    return text % problem.params if problem.params else text


def field_messages(error: service.DraftIncomplete, gettext: Callable[[str], str]) -> dict[str, str]:
    """Every gap of a refused freeze, translated; gaps of one field joined."""
    fields: dict[str, str] = {}
    for problem in error.problems:
        text = _problem_text(gettext, problem)
        fields[problem.field] = (
            f"{fields[problem.field]} {text}" if problem.field in fields else text
        )
    return fields


class AgreementDesk:
    """Answers the agreement requests of every room, and tells the room what changed."""

    def __init__(self, factory: SessionFactory, settings: AgreementSettings) -> None:
        self._factory = factory
        self.settings = settings

    # -- requests ---------------------------------------------------------------------------

    async def handle(
        self, hub: LiveRoom, actor: Actor | None, request: m.AgreementRequest
    ) -> dict[str, Any]:
        """One request from an admitted participant; DomainErrors go back to the handler."""
        if actor is None:
            # Invitees never draft; the service would refuse too, but it needs an actor.
            raise NotAllowed(NOT_A_DRAFTER)
        settings = self.settings
        data: dict[str, Any]
        match request:
            case m.OpenAgreement():
                async with transaction(self._factory) as db:
                    ctx = await service.open_draft(db, actor, hub.session_id)
                    data = {"draft_id": ctx.draft.id, "version": ctx.draft.version}
                await self._tell_room(hub)
                return data
            case m.SaveAgreement(base_version=base, content=raw):
                content = service.parse_content(raw)
                async with transaction(self._factory) as db:
                    draft = await self._draft(db, hub)
                    edit = DraftEdit(base_version=base, content=content)
                    ctx = await service.save(db, actor, draft.id or 0, edit)
                    data = {"draft_id": ctx.draft.id, "version": ctx.draft.version}
                await self._tell_room(hub)
                return data
            case m.FreezeAgreement(base_version=base):
                async with transaction(self._factory) as db:
                    draft = await self._draft(db, hub)
                    # The signing links issued here are not shown in the room: signers in the
                    # room sign through their invitation or login; staff can issue links later.
                    ctx, _links = await service.freeze(
                        db,
                        actor,
                        draft.id or 0,
                        base,
                        vault=settings.vault,
                        tz=settings.tz,
                        link_days=settings.link_days,
                    )
                    data = {
                        "draft_id": ctx.draft.id,
                        "version": ctx.draft.version,
                        "sha256": ctx.draft.frozen_sha256,
                    }
                await self._tell_room(hub)
                return data
            case m.UnfreezeAgreement(base_version=base, reason=reason):
                if len(reason) < MIN_REASON:
                    raise ValidationFailed(NEED_REASON, fields={"reason": NEED_REASON})
                async with transaction(self._factory) as db:
                    draft = await self._draft(db, hub)
                    ctx = await service.unfreeze(db, actor, draft.id or 0, base, reason)
                    data = {"draft_id": ctx.draft.id, "version": ctx.draft.version}
                await self._tell_room(hub)
                return data
            case m.ListAgreementRevisions():
                async with transaction(self._factory) as db:
                    ctx = await self._readable(db, hub, actor)
                    revisions = await service.revisions_of(db, ctx.draft.id or 0)
                return {
                    "revisions": [
                        {
                            "number": r.number,
                            "kind": r.kind,
                            "author": r.author,
                            "note": r.note,
                            "at": r.at.isoformat(),
                            "sha256": r.text_sha256 or None,
                        }
                        for r in revisions
                    ]
                }
            case m.ShowAgreementRevision(number=number):
                async with transaction(self._factory) as db:
                    ctx = await self._readable(db, hub, actor)
                    found = [
                        r
                        for r in await service.revisions_of(db, ctx.draft.id or 0)
                        if r.number == number
                    ]
                    if not found:
                        raise NotFound(NO_REVISION)
                    revision = found[0]
                    content = DraftContent.model_validate_json(revision.content)
                    # Today's record around the words of then: parties and time as now.
                    header = service.header_of(
                        ctx, content, settings.vault, settings.tz, masked=True
                    )
                    text = canonical_text(header, content)
                return {
                    "number": revision.number,
                    "kind": revision.kind,
                    "author": revision.author,
                    "note": revision.note,
                    "at": revision.at.isoformat(),
                    "sha256": revision.text_sha256 or None,
                    "text": text,
                }

    async def _tell_room(self, hub: LiveRoom) -> None:
        """After a committed change: a failure to notify must not turn it into an error."""
        try:
            await self.broadcast(hub)
        except Exception:
            logger.exception("room %s: agreement broadcast failed", hub.session_id)

    async def _draft(self, db: AsyncSession, hub: LiveRoom) -> AgreementDraft:
        draft = await service.draft_of_session(db, hub.session_id)
        if draft is None:
            raise NotFound(NO_AGREEMENT)
        return draft

    async def _readable(self, db: AsyncSession, hub: LiveRoom, actor: Actor) -> service.Context:
        """The draft with the service's own read check (drafters and archive readers)."""
        draft = await self._draft(db, hub)
        return await service.get_draft(db, actor, draft.id or 0)

    # -- telling the room ----------------------------------------------------------------------

    async def broadcast(self, hub: LiveRoom) -> None:
        """Every admitted participant gets the agreement as they may see it."""
        await self._deliver(hub, None)

    async def send_state(self, hub: LiveRoom, pids: Iterable[str]) -> None:
        """Those just admitted (or back) get the agreement, and their prompt again."""
        await self._deliver(hub, list(pids))

    async def _deliver(self, hub: LiveRoom, only: list[str] | None) -> None:
        async with hub.agreement_lock:
            if not hub.sessions:
                return  # nobody to tell (a page's change to a room everyone has left)
            async with self._factory() as db:
                snapshot = await self._snapshot(db, hub.session_id)
            if snapshot is None:
                return  # nothing drafted yet: nothing to say
            targets = list(hub.sessions) if only is None else only
            for pid in targets:
                session = hub.sessions.get(pid)
                person = hub.room.participants.get(pid)
                if session is None or person is None or not person.is_admitted:
                    continue  # the lobby hears nothing of the agreement
                if only is not None:
                    session.prompted = None
                mine = self._signer_of(snapshot, person)
                await session.channel.send(self._view(session, snapshot, person, mine))
                # Keyed by version too: refreezing the same words still needs new signatures.
                prompt = f"{snapshot.frozen_version}:{snapshot.sha256}"
                if (
                    snapshot.status == DraftStatus.FROZEN
                    and snapshot.sha256
                    and mine is not None
                    and mine.status == "waiting"
                    and session.prompted != prompt
                ):
                    session.prompted = prompt
                    await session.channel.send(
                        n.SignatureRequested(
                            draft_id=snapshot.draft_id,
                            version=snapshot.frozen_version,
                            sha256=snapshot.sha256,
                        )
                    )

    async def _snapshot(self, db: AsyncSession, session_id: int) -> _Snapshot | None:
        draft = await service.draft_of_session(db, session_id)
        if draft is None:
            return None
        ctx = await service.load_context(db, draft)
        vault, tz = self.settings.vault, self.settings.tz
        status = DraftStatus(draft.status)
        if status == DraftStatus.DRAFTING:
            # frozen_* keeps the last frozen text after an unfreeze: it is history, not current.
            text = service.working_text(ctx, vault, tz, masked=True)
            problems = service.problems_of(ctx, vault, tz)
            today = local_today(tz)
            planned, _ = plan_signers(
                service.party_facts(ctx, vault, today), service.presiding_of(ctx)
            )
            signers = [
                _SignerRow(p.name, p.role, p.kind, p.party_id, p.staff_id, "waiting")
                for p in planned
            ]
            sha256: str | None = None
        else:
            text = _mask_ids(draft.frozen_text, ctx.parties, vault)
            problems = []
            signers = [
                _SignerRow(
                    s.signer.name,
                    s.signer.role,
                    s.signer.kind,
                    s.signer.party_id,
                    s.signer.staff_id,
                    "signed" if s.signed else "refused" if s.refused else "waiting",
                )
                for s in await signing.signer_states(db, draft)
            ]
            sha256 = draft.frozen_sha256
        return _Snapshot(
            draft_id=draft.id or 0,
            status=status,
            version=draft.version,
            frozen_version=draft.frozen_version or draft.version,
            track=draft.legal_track,
            office_id=draft.office_id,
            text=text,
            short_text=_short_text(ctx, self.settings),
            sha256=sha256,
            problems=problems,
            signers=signers,
            content=service.content_json(ctx.content),
            party_of_invitation={
                i.id: i.party_id
                for i in ctx.invitations
                if i.id is not None and i.party_id is not None and i.revoked_at is None
            },
        )

    @staticmethod
    def _signer_of(snapshot: _Snapshot, person: Participant) -> _SignerRow | None:
        """The signer this participant is: by their invitation's party, or their staff account."""
        if person.invitation_id is not None:
            party_id = snapshot.party_of_invitation.get(person.invitation_id)
            if party_id is None:
                return None
            return next((s for s in snapshot.signers if s.party_id == party_id), None)
        if person.staff_id is not None:
            return next((s for s in snapshot.signers if s.staff_id == person.staff_id), None)
        return None

    def _view(
        self,
        session: ParticipantSession,
        snapshot: _Snapshot,
        person: Participant,
        mine: _SignerRow | None,
    ) -> n.AgreementUpdated:
        actor = session.actor
        editable = actor is not None and can_draft_agreement(actor, snapshot.office_id)
        full_names = session.full_names
        gettext = _translate(self.settings.catalogues, session.language)
        frozen = snapshot.status != DraftStatus.DRAFTING
        return n.AgreementUpdated(
            draft_id=snapshot.draft_id,
            status=STATUS_CODES[snapshot.status],
            version=snapshot.version,
            track=snapshot.track,
            text=snapshot.text if full_names else snapshot.short_text,
            sha256=snapshot.sha256,
            problems=[
                n.AgreementProblem(field=p.field, message=_problem_text(gettext, p))
                for p in (snapshot.problems if editable else [])
            ],
            signers=[
                n.AgreementSigner(
                    name=s.name
                    if full_names or s.kind == SignerKind.PRESIDING
                    else mask_name(s.name),
                    role=s.role,
                    status=s.status,
                )
                for s in snapshot.signers
            ],
            your_signature=mine.status if mine is not None and frozen else None,
            editable=editable,
            content=snapshot.content if editable else None,
        )
