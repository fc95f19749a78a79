"""What the live layer's events mean on the wire: notifications, views, offers, agreement.

The ``Notifier`` of ``server.live.rooms``: the live layer decides and
persists, this module words it for each connected participant (their
language, whether they see full names) and writes it to their channel.
"""

from __future__ import annotations

from pydantic import BaseModel

from server.live.room import LiveRoom
from server.rooms import events as ev
from server.signaling import notifications as n
from server.signaling.agreement import AgreementDesk
from server.signaling.views import chat_view, display_name, room_view


class WireNotifier:
    """Turns room events into concord.v1 notifications."""

    def __init__(self, agreements: AgreementDesk) -> None:
        self.agreements = agreements

    async def events(self, live: LiveRoom, events: list[ev.Event]) -> None:
        for event in events:
            match event:
                case ev.ParticipantAdmitted(pid=pid):
                    await self._tell(live, pid, n.YouWereAdmitted())
                case ev.ParticipantDeclined(pid=pid):
                    await self._tell(live, pid, n.YouWereDeclined())
                case ev.ParticipantRemoved(pid=pid):
                    await self._tell(live, pid, n.YouWereRemoved())
                case ev.AudioMuted(by=by, target=target):
                    await self._tell(live, target, n.YouWereMuted(by=_name(live, by)))
                case ev.UnmuteRequested(by=by, target=target):
                    await self._tell(live, target, n.UnmuteRequested(by=_name(live, by)))
                case ev.VideoStopped(by=by, target=target):
                    await self._tell(live, target, n.YourVideoWasStopped(by=_name(live, by)))
                case ev.ChatPosted(message=message):
                    await self._chat(live, message)
                case ev.RoomEnded():
                    for pid in list(live.sessions):
                        await self._tell(live, pid, n.SessionEnded())
                case _:
                    pass

    async def views(self, live: LiveRoom) -> None:
        for pid, session in list(live.sessions.items()):
            if pid in live.room.participants:
                view = room_view(
                    live.room, pid, full_names=session.full_names, chat_times=live.chat_times
                )
                await session.channel.send(n.RoomUpdated(room=view))

    async def subscriber_offer(self, live: LiveRoom, pid: str, sdp: str) -> None:
        session = live.sessions.get(pid)
        if session is None or session.media is None:
            return
        offer = session.media.subscriber_offer()
        await session.channel.send(
            n.SubscriberOffered(
                sdp=sdp,
                sources=offer.sources if offer else {},
                connection=offer.connection if offer else 0,
            )
        )

    async def agreement(self, live: LiveRoom, pids: list[str] | None) -> None:
        if pids is None:
            await self.agreements.broadcast(live)
        else:
            await self.agreements.send_state(live, pids)

    async def _chat(self, live: LiveRoom, message: ev.ChatMessage) -> None:
        """Each reader gets the new line alone, the sender named as they may see them."""
        sender = live.room.participants.get(message.sender_id)
        for pid in live.room.chat_recipients(message):
            session = live.sessions.get(pid)
            if session is None:
                continue
            name = message.sender_name
            if sender is not None:
                name = display_name(sender, full_names=session.full_names)
            line = chat_view(message, live.chat_times.get(message.id), sender_name=name)
            await session.channel.send(n.ChatPosted(message=line))

    @staticmethod
    async def _tell(live: LiveRoom, pid: str, message: BaseModel) -> None:
        session = live.sessions.get(pid)
        if session is not None:
            await session.channel.send(message)


def _name(live: LiveRoom, pid: str) -> str:
    person = live.room.participants.get(pid)
    return person.name if person else ""
