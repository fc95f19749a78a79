"""The signalling socket over real HTTP: refusals before the upgrade, and the protocol."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType, WSServerHandshakeError

from server.config import Config
from server.db import SessionFactory
from server.signaling.messages import MAX_FRAME_BYTES, PROTOCOL
from tests.conftest import Client, Seed, login
from tests.http.test_door import Booked, book_session


@pytest.fixture
async def booked(factory: SessionFactory, seed: Seed, config: Config) -> Booked:
    return await book_session(factory, seed, config, starts_in=timedelta(minutes=5))


class Peer:
    """A scripted participant: numbered requests, collected notifications."""

    def __init__(self, ws: ClientWebSocketResponse) -> None:
        self.ws = ws
        self.next_id = 0
        self.notes: list[dict[str, Any]] = []

    async def request(self, type_: str, **fields: Any) -> dict[str, Any]:
        self.next_id += 1
        await self.ws.send_json({"type": type_, "id": self.next_id, **fields})
        return await self.response(self.next_id)

    async def response(self, request_id: int | None) -> dict[str, Any]:
        while True:
            msg = await self.ws.receive(timeout=5)
            assert msg.type == WSMsgType.TEXT, msg
            data = json.loads(msg.data)
            if data["type"] == "response" and data["id"] == request_id:
                return dict(data)
            self.notes.append(data)

    async def note(
        self, type_: str, where: Callable[[dict[str, Any]], bool] = lambda _: True
    ) -> dict[str, Any]:
        """The first notification of this type (that ``where`` accepts), waiting if need be."""
        for i, note in enumerate(self.notes):
            if note["type"] == type_ and where(note):
                return self.notes.pop(i)
        while True:
            msg = await self.ws.receive(timeout=5)
            assert msg.type == WSMsgType.TEXT, msg
            data = json.loads(msg.data)
            if data["type"] == type_ and where(data):
                return dict(data)
            self.notes.append(data)

    async def closed_with(self) -> int | None:
        while True:
            msg = await self.ws.receive(timeout=5)
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING):
                return self.ws.close_code
            if msg.type == WSMsgType.TEXT:
                self.notes.append(json.loads(msg.data))


async def connect(client: Client, query: str, **kw: Any) -> Peer:
    ws = await client.ws_connect(f"/ws/room?{query}", protocols=(PROTOCOL,), **kw)
    return Peer(ws)


async def staff_peer(client: Client, booked: Booked, username: str = "officer") -> Peer:
    await login(client, username)
    return await connect(client, f"session={booked.session_id}")


async def test_wrong_subprotocol_is_refused_before_the_upgrade(
    client: Client, booked: Booked
) -> None:
    with pytest.raises(WSServerHandshakeError) as caught:
        await client.ws_connect(f"/ws/room?token={booked.tokens['applicant']}")
    assert caught.value.status == 400
    with pytest.raises(WSServerHandshakeError) as caught:
        await client.ws_connect(
            f"/ws/room?token={booked.tokens['applicant']}", protocols=("concord.v0",)
        )
    assert caught.value.status == 400


async def test_bad_credentials_and_foreign_origins_are_refused(
    client: Client, booked: Booked
) -> None:
    for query in ("token=" + "x" * 43, "token=", "session=abc", f"session={booked.session_id}"):
        with pytest.raises(WSServerHandshakeError) as caught:
            await connect(client, query)
        assert caught.value.status == 403, query
    with pytest.raises(WSServerHandshakeError) as caught:
        await connect(
            client,
            f"token={booked.tokens['applicant']}",
            headers={"Origin": "https://evil.example"},
        )
    assert caught.value.status == 403


async def test_another_offices_officer_cannot_enter(client: Client, booked: Booked) -> None:
    await login(client, "officer_b")
    with pytest.raises(WSServerHandshakeError) as caught:
        await connect(client, f"session={booked.session_id}")
    assert caught.value.status == 403


async def test_a_room_does_not_open_hours_early(
    client: Client, factory: SessionFactory, seed: Seed, config: Config
) -> None:
    later = await book_session(factory, seed, config, starts_in=timedelta(hours=5))
    with pytest.raises(WSServerHandshakeError):
        await connect(client, f"token={later.tokens['applicant']}")


async def test_malformed_and_unknown_requests_get_error_responses(
    client: Client, booked: Booked
) -> None:
    peer = await connect(client, f"token={booked.tokens['applicant']}")
    await peer.ws.send_str("not json")
    bad = await peer.response(None)
    assert bad["ok"] is False and bad["error"]["code"] == "invalid_request"
    await peer.ws.send_json({"type": "fly_to_the_moon", "id": 9})
    unknown = await peer.response(9)
    assert unknown["error"]["code"] == "invalid_request"
    assert unknown["error"]["message"]
    early = await peer.request("raise_hand", raised=True)
    assert early["error"]["code"] == "not_joined"
    joined = await peer.request("join")
    assert joined["ok"] and joined["data"]["admission"] == "lobby"
    assert joined["data"]["protocol"] == PROTOCOL
    again = await peer.request("join")
    assert again["ok"] is False
    publish = await peer.request("publish_offer", sdp="v=0")
    assert publish["error"]["code"] == "not_joined"  # still in the lobby
    await peer.ws.close()


async def test_a_ping_is_answered_before_and_after_joining(client: Client, booked: Booked) -> None:
    """The page's probe of a socket it suspects dead: answered at once, whatever the state."""
    peer = await connect(client, f"token={booked.tokens['applicant']}")
    early = await peer.request("ping")
    assert early["ok"] is True and early["id"] == 1 and early["data"] == {}
    joined = await peer.request("join")
    assert joined["ok"] and joined["data"]["admission"] == "lobby"
    later = await peer.request("ping")
    assert later["ok"] is True and later["id"] == 3
    extra = await peer.request("ping", target="publisher")
    assert extra["error"]["code"] == "invalid_request"  # no fields
    await peer.ws.close()


async def test_a_deeply_nested_frame_is_an_invalid_request_and_the_socket_stays(
    client: Client, booked: Booked
) -> None:
    """Nesting deeper than any parser recurses (well within the size cap) is bad input too."""
    peer = await connect(client, f"token={booked.tokens['applicant']}")
    for frame in (
        "[" * 30_000 + "]" * 30_000,
        '{"type": "join", "id": 4, "x": ' + "[" * 30_000 + "]" * 30_000 + "}",
        '{"a":' * 10_000 + "1" + "}" * 10_000,
    ):
        assert len(frame) < MAX_FRAME_BYTES
        await peer.ws.send_str(frame)
        refused = await peer.response(None)
        assert refused["ok"] is False and refused["error"]["code"] == "invalid_request"
    assert (await peer.request("join"))["ok"]  # the same socket, still open
    await peer.ws.close()


async def test_a_party_cannot_use_host_controls(client: Client, booked: Booked) -> None:
    party = await connect(client, f"token={booked.tokens['applicant']}")
    await party.request("join")
    attempts: list[tuple[str, dict[str, Any]]] = [
        ("admit", {"participant_id": "inv-1"}),
        ("mute", {"participant_id": "inv-1"}),
        ("remove", {"participant_id": "inv-1"}),
        ("lock", {"locked": True}),
        ("end_session", {}),
        ("open_caucus", {"participant_ids": ["inv-1"]}),
        ("close_all_caucuses", {}),
    ]
    for type_, fields in attempts:
        answer = await party.request(type_, **fields)
        assert answer["ok"] is False
        assert answer["error"]["code"] in ("not_allowed", "not_joined"), answer
    await party.ws.close()


async def test_lobby_admission_chat_and_end(client: Client, booked: Booked) -> None:
    host = await staff_peer(client, booked)
    hello = await host.request("join")
    assert hello["data"]["admission"] == "admitted"
    assert hello["data"]["room"]["you_are_host"] is True

    party = await connect(client, f"token={booked.tokens['applicant']}")
    knocked = await party.request("join", knock_message="我是申请人")
    me = knocked["data"]["participant_id"]
    assert knocked["data"]["admission"] == "lobby"

    def in_lobby(note: dict[str, Any]) -> list[tuple[str, str]]:
        people = note["room"]["participants"]
        return [(p["id"], p["knock_message"]) for p in people if p["admission"] == "lobby"]

    update = await host.note("room_updated", lambda n: bool(in_lobby(n)))
    assert in_lobby(update) == [(me, "我是申请人")]

    admitted = await host.request("admit", participant_id=me)
    assert admitted["ok"], admitted
    await party.note("you_were_admitted")
    said = await party.request("send_chat", text="大家好")
    assert said["ok"]
    heard = await host.note("chat_posted")
    assert heard["message"]["text"] == "大家好"

    ended = await host.request("end_session")
    assert ended["ok"]
    assert await party.closed_with() == 4002
    assert await host.closed_with() == 4002


async def test_a_flood_closes_the_socket(client: Client, booked: Booked) -> None:
    peer = await connect(client, f"token={booked.tokens['applicant']}")
    for i in range(200):
        await peer.ws.send_json({"type": "raise_hand", "id": i, "raised": True})
    assert await peer.closed_with() == 4003


async def test_an_oversize_frame_closes_the_socket(client: Client, booked: Booked) -> None:
    peer = await connect(client, f"token={booked.tokens['applicant']}")
    await peer.ws.send_str("x" * (70 * 1024))
    assert await peer.closed_with() == 1009


async def test_binary_frames_close_the_socket(client: Client, booked: Booked) -> None:
    peer = await connect(client, f"token={booked.tokens['applicant']}")
    await peer.ws.send_bytes(b"\x00\x01")
    assert await peer.closed_with() == 1003
