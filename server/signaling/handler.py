"""One participant's signalling session: parse, dispatch, answer, notify.

A single ``match`` over the message union maps each request to the room, the
media server or the agreement desk; domain errors become error responses with
their stable code, anything unexpected is logged and answered ``internal_error``.
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
from server.rooms.media import MediaError
from server.rooms.participant import Participant
from server.rooms.routing import routes
from server.signaling import messages as m
from server.signaling.agreement import field_messages
from server.signaling.connection import CloseReason, SignalConnection
from server.signaling.hub import Hub, Hubs

logger = logging.getLogger(__name__)

BAD_REQUEST = N_("This request is not valid.")
MEDIA_REFUSED = N_("The media description was not accepted.")
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
) -> m.Response:
    return m.Response(
        id=request_id,
        ok=False,
        error=m.ErrorBody(code=code, message=message, fields=fields or {}),
    )


def _ok(request_id: int, data: dict[str, Any] | None = None) -> m.Response:
    return m.Response(id=request_id, ok=True, data=data or {})


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
        hubs: Hubs,
        hub: Hub,
        identity: Identity,
        ice_servers: list[dict[str, Any]],
    ) -> None:
        self.conn = conn
        self.hubs = hubs
        self.hub = hub
        self.identity = identity
        self.pid = identity.candidate.id
        self.ice_servers = ice_servers
        self.joined = False
        self.generation: int | None = None

    async def run(self) -> None:
        try:
            async for frame in self.conn.frames():
                await self._one(frame)
                if self.conn.closed:
                    break
        finally:
            # aiohttp cancels the handler when the peer vanishes; leaving the room
            # must still complete, so it runs in a task of its own.
            await asyncio.shield(self.hubs.track(asyncio.create_task(self._gone())))

    async def _one(self, frame: str) -> None:
        try:
            request = m.CLIENT_ADAPTER.validate_json(frame)
        except ValidationError as exc:
            request_id = _request_id(frame)
            logger.debug("room %s: bad frame from %s: %s", self.hub.session_id, self.pid, exc)
            await self.conn.send(_error(request_id, "invalid_request", i18n.gettext(BAD_REQUEST)))
            return
        try:
            data = await self._dispatch(request)
        except NotJoined as exc:
            await self.conn.send(_error(request.id, "not_joined", _message(exc)))
        except DomainError as exc:
            await self.conn.send(_error(request.id, str(exc.code), _message(exc), _fields(exc)))
        except MediaError as exc:
            logger.info("room %s: media refused %s: %s", self.hub.session_id, self.pid, exc)
            await self.conn.send(
                _error(
                    request.id,
                    "invalid_request",
                    i18n.gettext(MEDIA_REFUSED),
                )
            )
        except Exception:
            logger.exception(
                "room %s: %s failed for %s", self.hub.session_id, request.type, self.pid
            )
            await self.conn.send(
                _error(
                    request.id,
                    "internal_error",
                    i18n.gettext(INTERNAL),
                )
            )
        else:
            if data is not None:
                await self.conn.send(_ok(request.id, data))
        if self.hub.pending_closes:
            async with self.hub.lock:
                await self.hubs.close_pending(self.hub)

    def _require_joined(self, *, admitted: bool = False) -> None:
        if not self.joined:
            raise NotJoined(N_("Join the room first."))
        person = self.hub.room.participants.get(self.pid)
        if admitted and (person is None or not person.is_admitted):
            raise NotJoined(N_("Wait until the mediator lets you in."))

    async def _apply(self, events: list[Any]) -> None:
        await self.hubs.publish(self.hub, events, actor_label=self.pid, defer_close=True)

    async def _dispatch(self, request: m.ClientMessage) -> dict[str, Any] | None:
        room = self.hub.room
        match request:
            case m.Join():
                return await self._join(request)
            case m.PublishOffer(sdp=sdp):
                self._require_joined(admitted=True)
                answer = await self.hub.media.publisher_offer(self.pid, sdp)
                return {"sdp": answer}
            case m.SubscriberAnswer(sdp=sdp):
                self._require_joined(admitted=True)
                await self.hub.media.subscriber_answer(self.pid, sdp)
                return {}
            case m.IceCandidate():
                self._require_joined(admitted=True)
                await self.hub.media.add_ice_candidate(
                    self.pid,
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
                await self.hub.media.restart_subscriber(self.pid)
                return {}
            case m.Leave():
                self._require_joined()
                async with self.hub.lock:
                    await self._apply(room.leave(self.pid))
                await self.conn.send(_ok(request.id))
                self.hub.connections.pop(self.pid, None)
                await self.hub.media.close_participant(self.pid)
                await self.conn.close(CloseReason.LEFT)
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
                return await self.hubs.agreements.handle(self.hub, self.identity.actor, request)
            case _:
                pass
        self._require_joined()
        async with self.hub.lock:
            events = self._room_action(request)
            await self._apply(events)
            extra: dict[str, Any] = {}
            if isinstance(request, m.OpenCaucus):
                extra["caucus_id"] = room.caucus_of(self.pid)
            return extra

    def _room_action(self, request: m.ClientMessage) -> list[Any]:
        room, me = self.hub.room, self.pid
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
                | m.Leave()
                | m.OpenAgreement()
                | m.SaveAgreement()
                | m.FreezeAgreement()
                | m.UnfreezeAgreement()
                | m.ListAgreementRevisions()
                | m.ShowAgreementRevision()
            ):
                raise AssertionError("handled in _dispatch")
            case _:
                assert_never(request)

    async def _join(self, request: m.Join) -> dict[str, Any]:
        if self.joined:
            raise NotJoined(N_("You have already joined."))
        hub = self.hub
        async with hub.lock:
            previous = hub.connections.get(self.pid)
            events = hub.room.join(self.identity.candidate)
            person = hub.room.participants[self.pid]
            self.generation = person.generation
            if previous is not None and previous is not self.conn:
                # The same person again (a new tab, a reconnect before the old socket died).
                hub.connections.pop(self.pid, None)
                await previous.close(CloseReason.REPLACED)
                await hub.media.close_participant(self.pid)
            hub.connections[self.pid] = self.conn
            if self.identity.full_names:
                hub.full_names.add(self.pid)
            if self.identity.actor is not None:
                hub.actors[self.pid] = self.identity.actor
            hub.languages[self.pid] = self.identity.language
            if request.knock_message and not person.is_admitted:
                events += hub.room.knock_message(self.pid, request.knock_message)
            self.joined = True
            await self._apply(events)
            if previous is not None and previous is not self.conn:
                # The room saw no change (the person never left), but the media
                # server dropped their old connections: give it the routes again.
                await hub.media.apply_routes(routes(hub.room))
            return {
                "participant_id": self.pid,
                "protocol": m.PROTOCOL,
                "admission": person.admission.value,
                "ice_servers": self.ice_servers,
                "room": self.hubs.snapshot(hub, self.pid),
                "can_draft_agreement": self.identity.actor is not None
                and can_draft_agreement(self.identity.actor, hub.office_id),
            }

    async def _gone(self) -> None:
        if not self.joined:
            return
        hub = self.hub
        async with hub.lock:
            if hub.connections.get(self.pid) is self.conn:
                hub.connections.pop(self.pid, None)
                await hub.media.close_participant(self.pid)
            await self.hubs.publish(hub, hub.room.disconnect(self.pid, generation=self.generation))


def _request_id(frame: str) -> int | None:
    """The id of a frame that failed validation, when one can be read."""
    try:
        data = json.loads(frame)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than json recurses
        return None
    value = data.get("id") if isinstance(data, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None
