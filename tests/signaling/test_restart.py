"""After a server restart, admission and chat are still there when people rejoin."""

from __future__ import annotations

from datetime import timedelta

from aiohttp.test_utils import TestClient, TestServer

from server.app import create_app
from server.config import Config
from server.db import SessionFactory
from tests.conftest import Seed, login
from tests.http.test_door import book_session
from tests.signaling.test_endpoint import Peer, connect


async def test_admission_and_chat_survive_a_restart(
    factory: SessionFactory, seed: Seed, config: Config
) -> None:
    booked = await book_session(factory, seed, config, starts_in=timedelta(minutes=5))

    first = TestClient(TestServer(create_app(config)))
    await first.start_server()
    try:
        await login(first, "officer")
        host = await connect(first, f"session={booked.session_id}")
        await host.request("join")
        party = await connect(first, f"token={booked.tokens['applicant']}")
        joined = await party.request("join")
        pid = joined["data"]["participant_id"]
        assert (await host.request("admit", participant_id=pid))["ok"]
        await party.note("you_were_admitted")
        assert (await party.request("send_chat", text="我同意赔偿方案"))["ok"]
        assert (await party.request("send_chat", text="只给主持人", to_hosts=True))["ok"]
    finally:
        await first.close()  # the server goes away: sockets close with going_away

    second = TestClient(TestServer(create_app(config)))
    await second.start_server()
    try:
        again: Peer = await connect(second, f"token={booked.tokens['applicant']}")
        rejoined = await again.request("join")
        assert rejoined["data"]["admission"] == "admitted", "no knocking again"
        lines = [m["text"] for m in rejoined["data"]["room"]["chat"]]
        assert lines == ["我同意赔偿方案", "只给主持人"]
        await login(second, "officer")
        host_again = await connect(second, f"session={booked.session_id}")
        hello = await host_again.request("join")
        assert [m["text"] for m in hello["data"]["room"]["chat"]] == lines
        assert all(m["at"] for m in hello["data"]["room"]["chat"])
    finally:
        await second.close()
