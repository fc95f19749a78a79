"""One participant's signalling session: the wire only (parse, authorise, dispatch, write).

A single ``match`` over the message union maps each request to the room (its
decision under the room's lock, published through ``server.live.rooms``),
the media server or the agreement desk; domain errors become error responses
with their stable code, anything unexpected is logged and answered
``internal_error``. The participant's presence is one ``ParticipantSession``
shared with the live room; what a decision writes to the database is done by
the live layer after the lock, and awaited before the answer goes out.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, assert_never

from pydantic import ValidationError

from server import i18n
from server.agreements.service import DraftIncomplete
from server.auth.roles import Actor, can_draft_agreement
from server.errors import N_, DomainError, ErrorCode
from server.live.room import LiveRoom
from server.live.rooms import LiveRooms
from server.live.session import EndReason, ParticipantSession
from server.rooms.codecs import decodable
from server.rooms.media import MediaError, MediaPortsExhausted, ParticipantMedia
from server.rooms.participant import Participant
from server.signaling import messages as m
from server.signaling import notifications as n
from server.signaling.agreement import AgreementDesk, field_messages
from server.signaling.connection import SignalConnection
from server.signaling.minutes import MinutesDesk
from server.signaling.views import chat_lines, room_view
from server.turn import TurnIssuer, participant_ice_servers

logger = logging.getLogger(__name__)

BAD_REQUEST = N_("This request is not valid.")
MEDIA_REFUSED = N_("The media description was not accepted.")
NO_MEDIA_PORT = N_(
    "The server has no free media connection right now (too many at once). Try again in a minute."
)
INTERNAL = N_("Something went wrong on our side. It has been logged.")


class NotJoined(DomainError):
    code = ErrorCode.INVALID_REQUEST  # rendered as "not_joined" below


@dataclass
class Identity:
    """Who this socket belongs to, established by the endpoint before the upgrade."""

    candidate: Participant
    full_names: bool
    #: The staff member's account (None for invitees): what the agreement service acts as.
    actor: Actor | None = None
    #: The page's language, for words the server sends this socket outside its own requests.
    language: str = "zh"


def _error(
    request_id: int | None, code: str, message: str, fields: dict[str, str] | None = None
) -> n.Response:
    return n.Response(
        id=request_id,
        ok=False,
        error=n.ErrorBody(code=code, message=message, fields=fields or {}),
    )


def _ok(request_id: int, data: dict[str, Any] | None = None) -> n.Response:
    return n.Response(id=request_id, ok=True, data=data or {})


def _message(error: DomainError) -> str:
    text = i18n.gettext(error.message)
    return text % error.params if error.params else text


def _fields(error: DomainError) -> dict[str, str]:
    """The fields at fault, translated (those that are msgids; pydantic's words stay)."""
    if isinstance(error, DraftIncomplete):
        return field_messages(error, i18n.gettext)
    # gettext("") is the catalogue's header: an empty value stays empty.
    return {name: i18n.gettext(text) if text else text for name, text in error.fields.items()}


class SignalSession:
    """Runs one socket until it closes."""

    def __init__(
        self,
        conn: SignalConnection,
        rooms: LiveRooms,
        live: LiveRoom,
        agreements: AgreementDesk,
        minutes: MinutesDesk,
        identity: Identity,
        ice_servers: list[dict[str, Any]],
        *,
        turn: TurnIssuer | None = None,
    ) -> None:
        self.conn = conn
        self.rooms = rooms
        self.live = live
        self.agreements = agreements
        self.minutes = minutes
        self.identity = identity
        self.pid = identity.candidate.id
        self.ice_servers = ice_servers
        #: Mints this participant's own TURN credentials at each join (server/turn.py).
        self.turn = turn
        self.joined = False
        self.session = ParticipantSession(
            pid=self.pid,
            channel=conn,
            full_names=identity.full_names,
            actor=identity.actor,
            language=identity.language,
        )

    async def run(self) -> None:
        try:
            async for frame in self.conn.frames():
                await self._one(frame)
                if self.conn.closed:
                    break
        finally:
            # aiohttp cancels the handler when the peer vanishes; leaving the room
            # must still complete, so it runs in a task of its own.
            await asyncio.shield(self.rooms.track(asyncio.create_task(self._gone())))

    async def _one(self, frame: str) -> None:
        try:
            request = m.CLIENT_ADAPTER.validate_json(frame)
        except ValidationError as exc:
            request_id = _request_id(frame)
            # Where and what was wrong, never the values: a chat line or a form field may be
            # someone's name, ID number or telephone.
            logger.debug(
                "room %s: bad frame from %s: %s", self.live.session_id, self.pid, _problems(exc)
            )
            await self._send_error(_error(request_id, "invalid_request", i18n.gettext(BAD_REQUEST)))
            return
        try:
            data = await self._dispatch(request)
        except NotJoined as exc:
            await self._send_error(_error(request.id, "not_joined", _message(exc)))
        except DomainError as exc:
            await self._send_error(_error(request.id, str(exc.code), _message(exc), _fields(exc)))
        except MediaPortsExhausted as exc:
            logger.warning("room %s: no media port for %s: %s", self.live.session_id, self.pid, exc)
            await self._send_error(
                _error(
                    request.id, str(ErrorCode.MEDIA_PORTS_EXHAUSTED), i18n.gettext(NO_MEDIA_PORT)
                )
            )
        except MediaError as exc:
            logger.info("room %s: media refused %s: %s", self.live.session_id, self.pid, exc)
            await self._send_error(
                _error(
                    request.id,
                    "invalid_request",
                    i18n.gettext(MEDIA_REFUSED),
                )
            )
        except Exception:
            logger.exception(
                "room %s: %s failed for %s", self.live.session_id, request.type, self.pid
            )
            await self._send_error(
                _error(
                    request.id,
                    "internal_error",
                    i18n.gettext(INTERNAL),
                )
            )
        else:
            # A host's "done" means done: what the request decided is in the database.
            await self.live.writes.drained()
            if data is not None:
                await self.conn.send(_ok(request.id, data))
        if self.live.pending_closes:
            async with self.live.lock:
                await self.rooms.close_pending(self.live)

    async def _send_error(self, response: n.Response) -> None:
        """Answer with an error, counted by its code for the metrics (``server.metrics``)."""
        if response.error is not None:
            self.rooms.signal_errors[response.error.code] += 1
        await self.conn.send(response)

    def _require_joined(self, *, admitted: bool = False) -> None:
        if not self.joined:
            raise NotJoined(N_("Join the room first."))
        person = self.live.room.participants.get(self.pid)
        if admitted and (person is None or not person.is_admitted):
            raise NotJoined(N_("Wait until the mediator lets you in."))

    def _media(self) -> ParticipantMedia:
        """This connection's media legs (a joined session has them until it ends)."""
        if self.session.media is None:
            raise NotJoined(N_("Join the room first."))
        return self.session.media

    async def _apply(self, events: list[Any]) -> None:
        await self.rooms.publish(self.live, events, defer_close=True)

    async def _dispatch(self, request: m.ClientMessage) -> dict[str, Any] | None:
        room = self.live.room
        match request:
            case m.Join():
                return await self._join(request)
            case m.PublishOffer(sdp=sdp):
                self._require_joined(admitted=True)
                answer = await self._media().publisher_offer(sdp)
                return {"sdp": answer}
            case m.SubscriberAnswer(sdp=sdp):
                self._require_joined(admitted=True)
                await self._media().subscriber_answer(sdp)
                return {}
            case m.IceCandidate():
                self._require_joined(admitted=True)
                await self._media().add_ice_candidate(
                    request.target,
                    {
                        "candidate": request.candidate,
                        "sdpMid": request.sdp_mid,
                        "sdpMLineIndex": request.sdp_mline_index,
                    },
                )
                return {}
            case m.RestartSubscriber():
                self._require_joined(admitted=True)
                await self._media().restart_subscriber()
                return {}
            case m.Ping():
                return {}
            case m.ChatHistory(before=before, limit=limit):
                self._require_joined(admitted=True)
                lines, more = room.chat_page(self.pid, before, limit)
                view = chat_lines(
                    room,
                    lines,
                    full_names=self.session.full_names,
                    chat_times=self.live.chat_times,
                )
                return {"lines": view, "more": more}
            case m.Leave():
                self._require_joined()
                async with self.live.lock:
                    await self._apply(room.leave(self.pid))
                await self.live.writes.drained()
                await self.conn.send(_ok(request.id))
                await self.live.drop(self.session)
                await self.conn.end(EndReason.LEFT)
                return None
            case (
                m.OpenAgreement()
                | m.SaveAgreement()
                | m.FreezeAgreement()
                | m.UnfreezeAgreement()
                | m.ListAgreementRevisions()
                | m.ShowAgreementRevision()
            ):
                self._require_joined(admitted=True)
                return await self.agreements.handle(self.live, self.identity.actor, request)
            case m.MinutesAdd() | m.MinutesEdit() | m.MinutesDelete() | m.MinutesList():
                self._require_joined(admitted=True)
                return await self.minutes.handle(self.live, self.session, request)
            case _:
                pass
        self._require_joined()
        async with self.live.lock:
            events = self._room_action(request)
            await self._apply(events)
            extra: dict[str, Any] = {}
            if isinstance(request, m.OpenCaucus):
                extra["caucus_id"] = room.caucus_of(self.pid)
            return extra

    def _room_action(self, request: m.ClientMessage) -> list[Any]:
        room, me = self.live.room, self.pid
        match request:
            case m.RaiseHand(raised=raised):
                return room.raise_hand(me, raised)
            case m.SetSelfState(muted=muted, video_off=video_off):
                return room.set_self_state(me, muted, video_off)
            case m.SetAudioOnly(on=on):
                return room.set_audio_only(me, on)
            case m.AcceptUnmute():
                return room.unmute_self(me)
            case m.SendChat(text=text, to_hosts=to_hosts):
                return room.post_chat(me, text, to_hosts)
            case m.KnockMessage(text=text):
                return room.knock_message(me, text)
            case m.Admit(participant_id=pid):
                return room.admit(me, pid)
            case m.Decline(participant_id=pid):
                return room.decline(me, pid)
            case m.AdmitAllExperts():
                return room.admit_all_experts(me)
            case m.Mute(participant_id=pid):
                return room.mute(me, pid)
            case m.RequestUnmute(participant_id=pid):
                return room.request_unmute(me, pid)
            case m.AllowAudio(participant_id=pid):
                return room.allow_audio(me, pid)
            case m.LowerHand(participant_id=pid):
                return room.lower_hand(me, pid)
            case m.StopVideo(participant_id=pid):
                return room.stop_video(me, pid)
            case m.AllowVideo(participant_id=pid):
                return room.allow_video(me, pid)
            case m.Remove(participant_id=pid, revoke_link=revoke):
                return room.remove(me, pid, revoke)
            case m.Lock(locked=locked):
                return room.lock(me, locked)
            case m.EndSession():
                return room.end(me)
            case m.OpenCaucus(participant_ids=ids, name=name):
                return room.open_caucus(me, list(ids), name)
            case m.SetCaucus(caucus_id=caucus_id, participant_ids=ids):
                return room.set_caucus_members(me, caucus_id, list(ids))
            case m.MoveTo(caucus_id=caucus_id):
                return room.move_to(me, caucus_id)
            case m.CloseCaucus(caucus_id=caucus_id):
                return room.close_caucus(me, caucus_id)
            case m.CloseAllCaucuses():
                return room.close_all_caucuses(me)
            case (
                m.Join()
                | m.PublishOffer()
                | m.SubscriberAnswer()
                | m.IceCandidate()
                | m.RestartSubscriber()
                | m.Ping()
                | m.ChatHistory()
                | m.Leave()
                | m.OpenAgreement()
                | m.SaveAgreement()
                | m.FreezeAgreement()
                | m.UnfreezeAgreement()
                | m.ListAgreementRevisions()
                | m.ShowAgreementRevision()
                | m.MinutesAdd()
                | m.MinutesEdit()
                | m.MinutesDelete()
                | m.MinutesList()
            ):
                raise AssertionError("handled in _dispatch")
            case _:
                assert_never(request)

    async def _join(self, request: m.Join) -> dict[str, Any]:
        if self.joined:
            raise NotJoined(N_("You have already joined."))
        live, me = self.live, self.session
        can_decode = decodable(request.video_codecs)
        async with live.lock:
            # Refused before anything changes: the room's media is one codec.
            video_codec = live.video_codec.choose(self.pid, can_decode)
            events = live.room.join(self.identity.candidate)
            person = live.room.participants[self.pid]
            me.generation = person.generation
            if request.knock_message and not person.is_admitted:
                events += live.room.knock_message(self.pid, request.knock_message)
            # Attached before the join's routes are applied, so they reach this
            # connection; a session the person still had (a new tab) is replaced.
            await live.enter(me, can_decode)
            if me.media is not None:
                video_codec = me.media.video_codec  # what both legs negotiate
            self.joined = True
            await self._apply(events)
            minutes = self.minutes.access(live, self.pid, self.identity.actor)
            answer: dict[str, Any] = {
                "participant_id": self.pid,
                "protocol": m.PROTOCOL,
                "admission": person.admission.value,
                "ice_servers": participant_ice_servers(self.ice_servers, self.turn, self.pid),
                "video_codec": video_codec.display_name,
                "room": room_view(
                    live.room, self.pid, full_names=me.full_names, chat_times=live.chat_times
                ),
                "can_draft_agreement": self.identity.actor is not None
                and can_draft_agreement(self.identity.actor, live.office_id),
            }
        # Read after the room's lock: no database session is opened while it is held.
        signed_off = await self.minutes.signed_off(live) if minutes.read else False
        # Whether the 笔录 panel shows, and whether it takes entries.
        answer["minutes"] = {
            "read": minutes.read,
            "write": minutes.write and not signed_off,
            "signed_off": signed_off,
        }
        return answer

    async def _gone(self) -> None:
        if not self.joined:
            return
        live = self.live
        async with live.lock:
            await live.drop(self.session)
            events = live.room.disconnect(self.pid, generation=self.session.generation)
            await self.rooms.publish(live, events)


def _problems(exc: ValidationError) -> str:
    """A validation error's places and kinds (``chat.text: string_too_long``), no input."""
    return "; ".join(
        ".".join(str(part) for part in error["loc"]) + ": " + error["type"]
        for error in exc.errors(include_input=False, include_url=False, include_context=False)
    )


def _request_id(frame: str) -> int | None:
    """The id of a frame that failed validation, when one can be read."""
    try:
        data = json.loads(frame)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than json recurses
        return None
    value = data.get("id") if isinstance(data, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None
