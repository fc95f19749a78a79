"""A participant made of a signalling socket and two aiortc connections, like a browser."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

from aiohttp import ClientSession, ClientWebSocketResponse, WSMsgType

from server.rooms.codecs import VideoCodec
from server.signaling.messages import PROTOCOL
from tests.conftest import Client
from tests.rooms.media_clients import HEIGHT, WIDTH, MediaClient


async def wait_until(
    check: Callable[[], bool],
    within: float = 20.0,
    what: str = "",
    report: Callable[[], object] | None = None,
) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            seen = f" ({report()})" if report is not None else ""
            raise AssertionError(f"timed out waiting for {what or check}{seen}")
        await asyncio.sleep(0.05)


class RoomClient:
    """Speaks concord.v1 over a real WebSocket and carries real media.

    ``client`` is a test client of an app in this process, or a session with
    the ``base_url`` of a server running in a process of its own.
    """

    def __init__(self, client: Client | ClientSession, query: str) -> None:
        self.client = client
        self.query = query
        self.ws: ClientWebSocketResponse | None = None
        self.pid = ""
        self.media: MediaClient | None = None
        #: What this participant's camera sends (heavier for bandwidth tests).
        self.video_size: tuple[int, int] = (WIDTH, HEIGHT)
        self.noisy = False
        #: What the join declares this participant decodes (None: nothing, as older pages).
        self.video_codecs: list[str] | None = None
        #: The room's video codec, from the join's reply: what the media client sends.
        self.video_codec = VideoCodec.VP8
        self.next_id = 0
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.notes: list[dict[str, Any]] = []
        self.room: dict[str, Any] = {}
        self.close_code: int | None = None
        self._reader: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def connect(self) -> dict[str, Any]:
        joined = await self.try_connect()
        assert joined["ok"], joined
        return dict(joined["data"])

    async def try_connect(self) -> dict[str, Any]:
        """Open the socket and join; the response, whether the join succeeded or not."""
        self.ws = await self.client.ws_connect(f"/ws/room?{self.query}", protocols=(PROTOCOL,))
        self.close_code = None
        self._reader = asyncio.create_task(self._read())
        declared = {} if self.video_codecs is None else {"video_codecs": self.video_codecs}
        joined = await self.request("join", **declared)
        if not joined["ok"]:
            return joined
        self.pid = joined["data"]["participant_id"]
        self.room = joined["data"]["room"]
        codec = VideoCodec(joined["data"]["video_codec"].lower())
        if self.media is None or codec is not self.video_codec:
            if self.media is not None:
                await self.media.close()
            self.media = MediaClient(self.pid, self.video_size, self.noisy, codec)
        self.video_codec = codec
        return joined

    async def request(self, type_: str, **fields: Any) -> dict[str, Any]:
        assert self.ws is not None
        self.next_id += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = future
        await self.ws.send_json({"type": type_, "id": self.next_id, **fields})
        async with asyncio.timeout(10):
            return await future

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type != WSMsgType.TEXT:
                break
            data = json.loads(msg.data)
            if data["type"] == "response":
                future = self.pending.pop(data["id"], None)
                if future is not None and not future.done():
                    future.set_result(data)
                continue
            self.notes.append(data)
            if data["type"] == "room_updated":
                self.room = data["room"]
            elif data["type"] == "subscriber_offered":
                task = asyncio.create_task(self._answer(data["sdp"], data["connection"]))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        self.close_code = self.ws.close_code

    async def _answer(self, sdp: str, connection: int) -> None:
        assert self.media is not None
        answer = await self.media.subscriber.handle_offer(sdp, connection)
        with contextlib.suppress(Exception):
            await self.request("subscriber_answer", sdp=answer)

    async def publish(self) -> None:
        assert self.media is not None
        offer = await self.media.publisher.offer()
        answered = await self.request("publish_offer", sdp=offer)
        assert answered["ok"], answered
        await self.media.publisher.accept(answered["data"]["sdp"])

    def got(self, type_: str) -> bool:
        return any(n["type"] == type_ for n in self.notes)

    def sees(self, source: RoomClient, kind: str, frames: int) -> bool:
        return self.count(source, kind) >= frames

    def count(self, source: RoomClient, kind: str) -> int:
        return self.count_from(source.pid, kind)

    def count_from(self, pid: str, kind: str) -> int:
        """Frames decoded from participant ``pid`` (who may be in another process)."""
        assert self.media is not None
        return self.media.count(pid, kind)

    async def drop(self) -> None:
        """The network goes away: the socket dies without a goodbye, media stops."""
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await self._reader
        if self.media is not None:
            await self.media.close()
            self.media = MediaClient(self.pid, self.video_size, self.noisy, self.video_codec)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self.ws is not None and not self.ws.closed:
            await self.ws.close()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await self._reader
        if self.media is not None:
            await self.media.close()
