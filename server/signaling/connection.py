"""One participant's WebSocket: size cap, flood control, heartbeat, named close codes."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from enum import IntEnum

from aiohttp import WSMsgType, web
from pydantic import BaseModel

from server.live.session import EndReason

logger = logging.getLogger(__name__)

#: Seconds between pings; a peer that misses a pong is dead and its socket closes.
HEARTBEAT_SECONDS = 15.0


class CloseReason(IntEnum):
    """Why the server closed a socket. 1xxx are the standard codes; 4xxx are ours."""

    GOING_AWAY = 1001
    UNSUPPORTED_DATA = 1003
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    REMOVED_BY_HOST = 4001
    SESSION_ENDED = 4002
    FLOODING = 4003
    REPLACED = 4004
    DECLINED = 4005
    LEFT = 4006
    SIGNED_OUT = 4007


#: The close code of each way the live layer ends a session (``server.live.session``).
CLOSE_FOR: dict[EndReason, CloseReason] = {
    EndReason.GOING_AWAY: CloseReason.GOING_AWAY,
    EndReason.REMOVED: CloseReason.REMOVED_BY_HOST,
    EndReason.SESSION_ENDED: CloseReason.SESSION_ENDED,
    EndReason.REPLACED: CloseReason.REPLACED,
    EndReason.DECLINED: CloseReason.DECLINED,
    EndReason.LEFT: CloseReason.LEFT,
    EndReason.SIGNED_OUT: CloseReason.SIGNED_OUT,
}


class FloodGate:
    """A token bucket: ``rate`` messages a second on average, bursts up to ``burst``.

    Joining trickles a burst of ICE candidates; a script that sends more than
    this for seconds on end is not a browser.
    """

    def __init__(
        self,
        rate: float = 20.0,
        burst: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = burst
        self._stamp = clock()

    def allow(self) -> bool:
        now = self._clock()
        elapsed = max(0.0, now - self._stamp)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        self._stamp = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class SignalConnection:
    """Sends models as JSON and yields incoming text frames; closes on abuse.

    The live layer's ``Channel`` of one participant session: ``end`` closes
    with the code of the live layer's reason.
    """

    def __init__(self, ws: web.WebSocketResponse, *, gate: FloodGate | None = None) -> None:
        self.ws = ws
        self.gate = gate or FloodGate()
        self.close_reason: CloseReason | None = None

    @property
    def closed(self) -> bool:
        return self.ws.closed

    async def send(self, message: BaseModel) -> None:
        if self.ws.closed:
            return
        try:
            await self.ws.send_str(message.model_dump_json())
        except (ConnectionResetError, RuntimeError):
            # The peer vanished between our check and the write: the receive loop ends it.
            logger.debug("send on a closing socket dropped")

    async def close(self, reason: CloseReason) -> None:
        if self.close_reason is None:
            self.close_reason = reason
        if not self.ws.closed:
            await self.ws.close(code=int(reason), message=reason.name.lower().encode())

    async def end(self, reason: EndReason) -> None:
        await self.close(CLOSE_FOR[reason])

    async def frames(self) -> AsyncIterator[str]:
        """Text frames until the socket closes; binary frames and floods close it."""
        async for msg in self.ws:
            if msg.type == WSMsgType.TEXT:
                if not self.gate.allow():
                    await self.close(CloseReason.FLOODING)
                    return
                yield msg.data
            elif msg.type == WSMsgType.BINARY:
                await self.close(CloseReason.UNSUPPORTED_DATA)
                return
            elif msg.type == WSMsgType.ERROR:
                # aiohttp closes with 1009 itself when a frame exceeds max_msg_size.
                logger.info("signalling socket error: %s", self.ws.exception())
                return
