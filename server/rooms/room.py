"""The live room: who is in it, what hosts and participants may do, what follows.

A ``Room`` is plain, synchronous, in-memory state (docs/room.md). It knows no
sockets, JSON, clocks it was not given, or database: every mutating method
checks permissions, changes state, and returns the events it caused, ending
with ``RoutesChanged`` whenever ``routing.routes(self)`` moved. Refusals are
domain errors from ``server.errors`` with English msgids, translated at the
edge.

Decisions this module makes (beyond docs/room.md):

- The session's own host (``host_staff_id``) is the presiding officer
  whatever role the candidate claims; anyone else keeps the role the door
  claimed for them (staff who run rooms co-host, clerks observe), except that
  a claim to preside becomes co-host (``roles.room_role``).
- A declined participant may knock again after ``DECLINE_COOLDOWN`` seconds:
  a mistaken click must not shut someone out of their own mediation, but an
  unwanted knocker cannot flood the staff either. A removed one never may.
- A host mute is lifted by a host (``allow_audio``) or by the participant
  accepting a host's unmute request (``unmute_self``). Without a request a
  muted participant cannot lift it; a host can never open someone's
  microphone, only allow it. Mutes and video stops survive reconnects
  and restarts (``live_state`` / ``restore_state``: a restored room fails closed).
- Chat reaches the people the sender could talk to when posting (same caucus
  or main room, see ``ChatMessage``); private notes go to every host.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from server.errors import (
    N_,
    ChatTooFast,
    ChatTooLong,
    Conflict,
    LimitExceeded,
    NotAllowed,
    NotFound,
    ValidationFailed,
)
from server.rooms.caucus import Caucus, CaucusControls, caucus_of, withdraw
from server.rooms.events import (
    ChatMessage,
    ChatPosted,
    Event,
    KnockMessagePosted,
    ParticipantAdmitted,
    ParticipantConnected,
    ParticipantDeclined,
    ParticipantDisconnected,
    ParticipantKnocked,
    ParticipantLeft,
    ParticipantRemoved,
    RoomEnded,
    RoomLocked,
    RoutesChanged,
)
from server.rooms.participant import PROTECTED, Admission, MediaControls, Participant
from server.rooms.roles import RoomRole, is_host, is_protected, room_role
from server.rooms.routing import Route, receivers_of, routes
from server.rooms.state import CaucusState, Controls, LiveState

__all__ = ["ChatMessage", "Room"]

logger = logging.getLogger(__name__)

#: People present (lobby and room) before new knocks are refused; staff always get in.
MAX_PARTICIPANTS = 20
DECLINE_COOLDOWN = 60.0
MAX_CHAT_TEXT = 500
MAX_KNOCK_MESSAGE = 200
#: A runaway client must not grow a room's memory without bound.
MAX_CHAT_MESSAGES = 5000
#: Per participant: bursts of up to CHAT_BURST lines, then CHAT_RATE lines a second.
#: Faster than anyone types; slow enough that one person cannot drown a room.
CHAT_BURST = 10.0
CHAT_RATE = 1.0
#: The most lines one ``chat_page`` returns.
MAX_CHAT_PAGE = 100

ENDED = N_("This session has ended.")
HOSTS_ONLY = N_("Only the mediator can do this.")
NOT_IN_ROOM = N_("You are not in the room.")


class Room(CaucusControls, MediaControls):
    """One live session: participants, caucuses, lock, chat.

    The caucus controls (``open_caucus``, ``move_to``, ...) come from ``CaucusControls``,
    the media controls (``mute``, ``raise_hand``, ...) from ``MediaControls``.
    """

    def __init__(
        self,
        session_id: int,
        *,
        host_staff_id: int,
        title: str,
        grace_seconds: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.session_id = session_id
        self.host_staff_id = host_staff_id
        self.title = title
        self.grace_seconds = grace_seconds
        self._clock = clock
        self.participants: dict[str, Participant] = {}
        self.caucuses: dict[str, Caucus] = {}
        self.locked = False
        self.ended = False
        self.chat: list[ChatMessage] = []
        self._next_caucus = 1
        self._next_chat = 1
        # Read back from the database after a restart (see restore_admitted).
        self._restored: set[str] = set()
        self._barred: set[str] = set()
        # Controls read back for people not yet returned: applied when they join.
        self._pending_controls: dict[str, Controls] = {}
        # Per participant: (tokens left, room-clock time they were counted).
        self._chat_tokens: dict[str, tuple[float, float]] = {}

    # -- restart -------------------------------------------------------------

    def restore_admitted(self, pid: str) -> None:
        """Mark ``pid`` as admitted before a restart: their first join skips the lobby.

        The restart may have taken longer than the grace period, which is not
        the participant's fault, so the first return is always let in.
        """
        self._restored.add(pid)

    def restore_removed(self, pid: str) -> None:
        """Mark ``pid`` as removed before a restart: they still may not knock."""
        self._barred.add(pid)

    def live_state(self) -> LiveState:
        """The promises this room holds right now (``server.rooms.state``), as values.

        Controls read back for someone who has not returned yet are part of it:
        a write made before they come back must not drop their mute.
        """
        controls = dict(self._pending_controls)
        for p in self.participants.values():
            controls[p.id] = Controls(
                muted_by_host=p.audio_muted_by_host,
                video_stopped_by_host=p.video_stopped_by_host,
                hand_raised=p.hand_raised,
                unmute_requested=p.unmute_requested,
            )
        return LiveState(
            locked=self.locked,
            next_caucus=self._next_caucus,
            caucuses=tuple(
                CaucusState(c.id, c.name, c.opened_by, frozenset(c.members))
                for c in sorted(self.caucuses.values(), key=lambda c: c.id)
            ),
            controls=tuple(
                sorted(((pid, c) for pid, c in controls.items() if c.any), key=lambda x: x[0])
            ),
        )

    def restore_state(self, state: LiveState) -> None:
        """Put a state read back after a restart in place, before anyone joins.

        Fail closed: caucuses come back with their members whether or not those
        members return, so nobody hears what the state did not allow until a
        host changes it; mutes and video stops wait for their participant.
        """
        if self.participants:
            raise RuntimeError(f"room {self.session_id}: state restored after people joined")
        self.locked = state.locked
        self._next_caucus = max(self._next_caucus, state.next_caucus)
        self.caucuses = {
            c.id: Caucus(c.id, set(c.members), opened_by=c.opened_by, name=c.name)
            for c in state.caucuses
        }
        self._pending_controls = dict(state.controls)

    def restore_chat(self, messages: Iterable[ChatMessage]) -> None:
        """Put chat read back from the database in place; new ids continue after it."""
        for message in messages:
            self.chat.append(message)
            self._next_chat = max(self._next_chat, message.id + 1)

    # -- the door ------------------------------------------------------------

    def join(self, candidate: Participant) -> list[Event]:
        """A new or returning participant arrives; only ``candidate``'s identity is used.

        Hosts and staff are admitted at once. Someone admitted who is still connected (a
        second tab) or dropped within the grace period, or was admitted before
        a restart, comes back without knocking. Everyone else knocks.
        """
        if self.ended:
            raise NotAllowed(ENDED)
        now = self._clock()
        pid = candidate.id
        role = self._role_for(candidate)
        record = self.participants.get(pid)
        state = None if record is None else record.admission
        if state == Admission.REMOVED or (record is None and pid in self._barred):
            raise NotAllowed(N_("You were removed from this session."))
        stale = record is not None and self._beyond_grace(record, now)
        if stale:
            state = Admission.LEFT
        restored = pid in self._restored and state in (None, Admission.LEFT)
        # Staff from the session page are known to the office: none of them knocks.
        staff = candidate.staff_id is not None
        if is_host(role) or staff or state == Admission.ADMITTED or restored:
            outcome = "admit"
        elif state == Admission.LOBBY:
            outcome = "reconnect"
        else:
            self._check_knock(record, state, now)
            outcome = "knock"

        before = routes(self)
        events: list[Event] = []
        if record is not None and stale:
            events += self._depart(record, Admission.LEFT, timed_out=True)
        if record is None:
            record = Participant(
                id=pid,
                name=candidate.name,
                role=role,
                invitation_id=candidate.invitation_id,
                staff_id=candidate.staff_id,
            )
            self._apply_controls(record, self._pending_controls.pop(pid, None))
            self.participants[pid] = record
        else:
            record.name, record.role = candidate.name, role
            record.invitation_id, record.staff_id = candidate.invitation_id, candidate.staff_id
        record.connected = True
        record.disconnected_at = None
        record.generation += 1
        if outcome == "admit":
            returning = state == Admission.ADMITTED or restored
            if state != Admission.ADMITTED:
                record.admission = Admission.ADMITTED
                record.was_admitted = True
                record.joined_at = now
            self._restored.discard(pid)
            events.append(ParticipantAdmitted(pid, returning=returning))
        elif outcome == "reconnect":
            events.append(ParticipantConnected(pid))
        else:
            record.admission = Admission.LOBBY
            record.joined_at = now
            record.knock_message = ""
            events.append(ParticipantKnocked(pid))
        self._log(pid, f"join -> {record.admission} ({outcome})")
        return self._finish(before, events)

    @staticmethod
    def _apply_controls(record: Participant, controls: Controls | None) -> None:
        if controls is not None:
            record.audio_muted_by_host = controls.muted_by_host
            record.video_stopped_by_host = controls.video_stopped_by_host
            record.hand_raised = controls.hand_raised
            record.unmute_requested = controls.unmute_requested

    def _check_knock(self, record: Participant | None, state: Admission | None, now: float) -> None:
        """Refuse a knock the rules do not allow (cool-down, lock, capacity)."""
        if record is not None and state == Admission.DECLINED and record.declined_at is not None:
            wait = DECLINE_COOLDOWN - (now - record.declined_at)
            if wait > 0:
                raise NotAllowed(
                    N_("The mediator declined your request. You may ask again in %(seconds)d s."),
                    params={"seconds": int(wait) + 1},
                )
        if self.locked and not (record is not None and record.was_admitted):
            raise NotAllowed(N_("The room is locked."))
        present = [
            p
            for p in self.participants.values()
            if p.admission in (Admission.LOBBY, Admission.ADMITTED)
            and (record is None or p.id != record.id)
        ]
        if len(present) >= MAX_PARTICIPANTS:
            raise LimitExceeded(N_("The room is full."), params={"max": MAX_PARTICIPANTS})

    def _role_for(self, candidate: Participant) -> RoomRole:
        """The room decides who presides (``roles.room_role``): the session's host only."""
        return room_role(
            candidate.role, staff_id=candidate.staff_id, host_staff_id=self.host_staff_id
        )

    def _beyond_grace(self, p: Participant, now: float) -> bool:
        return (
            p.admission in (Admission.LOBBY, Admission.ADMITTED)
            and not p.connected
            and p.disconnected_at is not None
            and now - p.disconnected_at > self.grace_seconds
        )

    def disconnect(self, pid: str, *, generation: int | None = None) -> list[Event]:
        """The connection dropped; the participant keeps their place for the grace period.

        A report from the transport, never refused: an unknown id, or a
        ``generation`` older than the participant's latest join (the old tab's
        socket closing after the new one joined), changes nothing.
        """
        p = self.participants.get(pid)
        if p is None or not p.connected:
            return []
        if generation is not None and generation != p.generation:
            return []
        before = routes(self)
        p.connected = False
        p.disconnected_at = self._clock()
        self._log(pid, "disconnected")
        return self._finish(before, [ParticipantDisconnected(pid)])

    def leave(self, pid: str) -> list[Event]:
        """The participant leaves the lobby or the room; already gone is a no-op."""
        p = self._participant(pid)
        if p.admission not in (Admission.LOBBY, Admission.ADMITTED):
            return []
        before = routes(self)
        events = self._depart(p, Admission.LEFT, timed_out=False)
        return self._finish(before, events)

    def expire_disconnected(self) -> list[Event]:
        """Those disconnected beyond the grace period leave; call it periodically."""
        now = self._clock()
        before = routes(self)
        events: list[Event] = []
        for p in list(self.participants.values()):
            if self._beyond_grace(p, now):
                events += self._depart(p, Admission.LEFT, timed_out=True)
        return self._finish(before, events)

    def _depart(self, p: Participant, admission: Admission, *, timed_out: bool) -> list[Event]:
        """Move ``p`` out of the lobby or room; report ``ParticipantLeft`` for leaving."""
        events = withdraw(self.caucuses, [p.id])
        p.admission = admission
        p.connected = False
        p.disconnected_at = None
        p.hand_raised = False
        p.unmute_requested = False
        if admission == Admission.LEFT:
            events.append(ParticipantLeft(p.id, timed_out=timed_out))
        self._log(p.id, f"-> {admission}" + (" (timed out)" if timed_out else ""))
        return events

    # -- hosts: the door -----------------------------------------------------

    def admit(self, actor_id: str, pid: str) -> list[Event]:
        """Let a lobby participant in; already admitted (another host was quicker) is a no-op."""
        actor = self._host(actor_id)
        p = self._participant(pid)
        if p.admission == Admission.ADMITTED:
            return []
        if p.admission != Admission.LOBBY:
            raise Conflict(N_("%(name)s is not waiting in the lobby."), params={"name": p.name})
        before = routes(self)
        return self._finish(before, self._admit(p, actor.id))

    def admit_all_experts(self, actor_id: str) -> list[Event]:
        """Admit every expert waiting in the lobby (experts are vetted by the booking office)."""
        actor = self._host(actor_id)
        before = routes(self)
        events: list[Event] = []
        for p in self.lobby():
            if p.role == RoomRole.EXPERT:
                events += self._admit(p, actor.id)
        return self._finish(before, events)

    def _admit(self, p: Participant, by: str) -> list[Event]:
        p.admission = Admission.ADMITTED
        p.was_admitted = True
        self._log(p.id, f"admitted by {by}")
        return [ParticipantAdmitted(p.id, returning=False, by=by)]

    def decline(self, actor_id: str, pid: str) -> list[Event]:
        """Turn a lobby participant away; they may knock again after the cool-down."""
        actor = self._host(actor_id)
        p = self._participant(pid)
        if p.admission == Admission.DECLINED:
            return []
        if p.admission != Admission.LOBBY:
            raise Conflict(N_("%(name)s is not waiting in the lobby."), params={"name": p.name})
        p.declined_at = self._clock()
        events = self._depart(p, Admission.DECLINED, timed_out=False)
        events.append(ParticipantDeclined(pid, by=actor.id))
        return events

    def remove(self, actor_id: str, pid: str, revoke_link: bool) -> list[Event]:
        """Remove someone for good (from the lobby, the room, or after they left)."""
        actor = self._host(actor_id)
        p = self._participant(pid)
        if p.id == actor.id:
            raise NotAllowed(N_("You cannot remove yourself; leave the room instead."))
        if is_protected(p.role):
            raise NotAllowed(PROTECTED)
        if p.admission == Admission.REMOVED:
            return []
        before = routes(self)
        events = self._depart(p, Admission.REMOVED, timed_out=False)
        events.append(ParticipantRemoved(pid, by=actor.id, revoke_link=revoke_link))
        return self._finish(before, events)

    def lock(self, actor_id: str, locked: bool) -> list[Event]:
        """Lock (no new knocks) or unlock the room; those admitted before may still return."""
        actor = self._host(actor_id)
        if self.locked == locked:
            return []
        self.locked = locked
        return [RoomLocked(locked, by=actor.id)]

    def end(self, actor_id: str) -> list[Event]:
        """End the session: all media stops, and nobody may join or act any more."""
        actor = self._host(actor_id)
        before = routes(self)
        self.ended = True
        self._log(actor.id, "ended the room")
        return self._finish(before, [RoomEnded(by=actor.id)])

    # -- participants --------------------------------------------------------

    def knock_message(self, pid: str, text: str) -> list[Event]:
        """A lobby participant's short message to the staff ("I am the claimant's son")."""
        if self.ended:
            raise NotAllowed(ENDED)
        p = self.participants.get(pid)
        if p is None or p.admission != Admission.LOBBY:
            raise NotAllowed(N_("You are not waiting in the lobby."))
        text = text.strip()
        if len(text) > MAX_KNOCK_MESSAGE:
            raise ValidationFailed(
                N_("The message may have at most %(max)d characters."),
                params={"max": MAX_KNOCK_MESSAGE},
                fields={"text": "too_long"},
            )
        if text == p.knock_message:
            return []
        p.knock_message = text
        return [KnockMessagePosted(pid, text)]

    def post_chat(self, pid: str, text: str, to_hosts: bool) -> list[Event]:
        """Post to the sender's part of the room, or (non-hosts) a private note to the hosts."""
        sender = self._admitted(pid)
        text = text.strip()
        if not text:
            raise ValidationFailed(
                N_("A message needs 1 to %(max)d characters."),
                params={"max": MAX_CHAT_TEXT},
                fields={"text": "missing"},
            )
        if len(text) > MAX_CHAT_TEXT:
            raise ChatTooLong(
                N_("A message needs 1 to %(max)d characters."),
                params={"max": MAX_CHAT_TEXT},
                fields={"text": "too_long"},
            )
        if to_hosts and sender.is_host:
            raise NotAllowed(N_("Mediators post to the room, not to themselves."))
        if len(self.chat) >= MAX_CHAT_MESSAGES:
            raise LimitExceeded(N_("The chat is full."), params={"max": MAX_CHAT_MESSAGES})
        self._take_chat_token(pid)
        cid = caucus_of(self.caucuses, pid)
        audience: frozenset[str] = frozenset()
        if not to_hosts:
            audience = frozenset(
                p.id for p in self.admitted() if caucus_of(self.caucuses, p.id) == cid
            )
        message = ChatMessage(
            id=self._next_chat,
            sender_id=pid,
            sender_name=sender.name,
            text=text,
            private_to_hosts=to_hosts,
            caucus_id=cid,
            at=self._clock(),
            audience=audience,
        )
        self._next_chat += 1
        self.chat.append(message)
        return [ChatPosted(message)]

    def _take_chat_token(self, pid: str) -> None:
        """Refuse a line beyond the sender's rate (a token bucket on the room's clock)."""
        now = self._clock()
        tokens, at = self._chat_tokens.get(pid, (CHAT_BURST, now))
        tokens = min(CHAT_BURST, tokens + (now - at) * CHAT_RATE)
        if tokens < 1:
            raise ChatTooFast(
                N_("You are sending messages too fast. Wait %(seconds)d s."),
                params={"seconds": int((1 - tokens) / CHAT_RATE) + 1},
            )
        self._chat_tokens[pid] = (tokens - 1, now)

    # -- queries -------------------------------------------------------------

    def lobby(self) -> list[Participant]:
        """Those waiting, first come first served."""
        return self._in(Admission.LOBBY)

    def admitted(self) -> list[Participant]:
        """Those in the room, connected or within the grace period, in order of entry."""
        return self._in(Admission.ADMITTED)

    def _in(self, admission: Admission) -> list[Participant]:
        found = [p for p in self.participants.values() if p.admission == admission]
        return sorted(found, key=lambda p: p.joined_at)  # stable: ties keep arrival order

    def hears(self, pid: str) -> set[str]:
        """Who receives ``pid``'s audio right now ("who can hear you")."""
        return receivers_of(routes(self), pid, "audio")

    def chat_visible_to(self, pid: str) -> list[ChatMessage]:
        """The chat ``pid`` may read; nothing for someone not in the room."""
        viewer = self.participants.get(pid)
        if viewer is None or not viewer.is_admitted:
            return []
        return [m for m in self.chat if m.visible_to(viewer)]

    def chat_page(
        self, pid: str, before: int | None, limit: int = MAX_CHAT_PAGE
    ) -> tuple[list[ChatMessage], bool]:
        """Up to ``limit`` lines ``pid`` may read, older than line ``before`` (None: the
        latest), oldest first; and whether older ones remain. Chat is paged on request,
        never carried by every room update."""
        limit = max(1, min(limit, MAX_CHAT_PAGE))
        visible = [m for m in self.chat_visible_to(pid) if before is None or m.id < before]
        return visible[-limit:], len(visible) > limit

    def chat_recipients(self, message: ChatMessage) -> set[str]:
        """The admitted participants who may read ``message``: whom to push it to."""
        return {p.id for p in self.admitted() if message.visible_to(p)}

    # -- guards and plumbing -------------------------------------------------

    def _participant(self, pid: str) -> Participant:
        p = self.participants.get(pid)
        if p is None:
            raise NotFound(N_("No such participant."), params={"participant_id": pid})
        return p

    def _target(self, pid: str) -> Participant:
        """Someone a host acts on in the room: they must be admitted."""
        p = self._participant(pid)
        if not p.is_admitted:
            raise Conflict(N_("%(name)s is not in the room."), params={"name": p.name})
        return p

    def _host(self, actor_id: str) -> Participant:
        """The acting host, admitted: the room's controls are theirs alone."""
        if self.ended:
            raise NotAllowed(ENDED)
        actor = self.participants.get(actor_id)
        if actor is None or not actor.is_admitted or not actor.is_host:
            raise NotAllowed(HOSTS_ONLY)
        return actor

    def _admitted(self, pid: str) -> Participant:
        """A participant acting for themself: only those in the room may."""
        if self.ended:
            raise NotAllowed(ENDED)
        p = self.participants.get(pid)
        if p is None or not p.is_admitted:
            raise NotAllowed(NOT_IN_ROOM)
        return p

    def _find(self, pid: str) -> Participant | None:
        return self.participants.get(pid)

    def _routes(self) -> frozenset[Route]:
        return routes(self)

    def _finish(self, before: frozenset[Route], events: list[Event]) -> list[Event]:
        """Append ``RoutesChanged`` if the routing table moved since ``before``."""
        after = routes(self)
        if after != before:
            events.append(RoutesChanged(after, added=after - before, removed=before - after))
        return events

    def _log(self, pid: str, what: str) -> None:
        logger.info("room %s: %s %s", self.session_id, pid, what)
