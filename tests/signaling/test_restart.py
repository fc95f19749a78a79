"""After a server restart, admission, chat and the live state are there when people rejoin."""

from __future__ import annotations

import traceback
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from server.app import create_app
from server.config import Config
from server.db import SessionFactory
from server.keys import HUBS, SESSIONS
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
        history = (await again.request("chat_history"))["data"]
        lines = [m["text"] for m in history["lines"]]
        assert lines == ["我同意赔偿方案", "只给主持人"]
        await login(second, "officer")
        host_again = await connect(second, f"session={booked.session_id}")
        await host_again.request("join")
        seen = (await host_again.request("chat_history"))["data"]["lines"]
        assert [m["text"] for m in seen] == lines
        assert all(m["at"] for m in seen)
    finally:
        await second.close()


async def test_caucus_lock_mutes_and_hands_survive_a_restart(
    factory: SessionFactory, seed: Seed, config: Config
) -> None:
    booked = await book_session(factory, seed, config, starts_in=timedelta(minutes=5))
    first = TestClient(TestServer(create_app(config)))
    await first.start_server()
    try:
        await login(first, "officer")
        host = await connect(first, f"session={booked.session_id}")
        pids = {"host": (await host.request("join"))["data"]["participant_id"]}
        for key in ("applicant", "respondent"):
            party = await connect(first, f"token={booked.tokens[key]}")
            pids[key] = (await party.request("join"))["data"]["participant_id"]
            assert (await host.request("admit", participant_id=pids[key]))["ok"]
            await party.note("you_were_admitted")
            if key == "respondent":
                assert (await party.request("raise_hand", raised=True))["ok"]
        opened = await host.request(
            "open_caucus", participant_ids=[pids["applicant"]], name="背对背"
        )
        assert opened["ok"]
        assert (await host.request("lock", locked=True))["ok"]
        assert (await host.request("mute", participant_id=pids["respondent"]))["ok"]
        assert (await host.request("stop_video", participant_id=pids["respondent"]))["ok"]
    finally:
        await first.close()

    second = TestClient(TestServer(create_app(config)))
    await second.start_server()
    try:
        respondent = await connect(second, f"token={booked.tokens['respondent']}")
        room = (await respondent.request("join"))["data"]["room"]
        assert room["locked"]
        assert room["your_caucus"] is None
        assert room["private_talk"] is None, "the mediator is not back: nobody to name"
        me = next(p for p in room["participants"] if p["id"] == pids["respondent"])
        assert me["muted_by_host"] and me["video_stopped_by_host"] and me["hand_raised"]
        await login(second, "officer")
        host_again = await connect(second, f"session={booked.session_id}")
        seen = (await host_again.request("join"))["data"]["room"]
        assert [(c["name"], c["members"]) for c in seen["caucuses"]] == [
            ("背对背", sorted([pids["applicant"], pids["host"]]))
        ]
        assert seen["your_caucus"] == seen["caucuses"][0]["id"]
        assert (await host_again.request("close_all_caucuses"))["ok"]
        assert (await respondent.note("room_updated"))["room"]["caucuses"] == []
    finally:
        await second.close()


async def test_no_database_session_is_opened_while_a_room_lock_is_held(
    factory: SessionFactory, seed: Seed, config: Config
) -> None:
    """Decide under the lock, write after it: the room's lock never waits for the disk."""
    booked = await book_session(factory, seed, config, starts_in=timedelta(minutes=5))
    app = create_app(config)
    opened_under_lock: list[str] = []

    class Checked(async_sessionmaker[AsyncSession]):
        """The app's session factory, noting every session opened under a room's lock."""

        def __call__(self, **local_kw: Any) -> AsyncSession:
            hub = app[HUBS].get(booked.session_id) if HUBS in app else None
            if hub is not None and hub.lock.held_here():
                opened_under_lock.append("".join(traceback.format_stack(limit=8)))
            return super().__call__(**local_kw)

    async def guard(app: web.Application) -> AsyncIterator[None]:
        inner = app[SESSIONS]
        app[SESSIONS] = Checked(class_=inner.class_, **inner.kw)
        yield

    app.cleanup_ctx.insert(1, guard)  # after the database, before the rooms
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        await login(client, "officer")
        host = await connect(client, f"session={booked.session_id}")
        await host.request("join")
        party = await connect(client, f"token={booked.tokens['applicant']}")
        pid = (await party.request("join"))["data"]["participant_id"]
        assert (await host.request("admit", participant_id=pid))["ok"]
        await party.note("you_were_admitted")
        assert (await party.request("send_chat", text="你好"))["ok"]
        assert (await host.request("open_caucus", participant_ids=[pid]))["ok"]
        assert (await host.request("mute", participant_id=pid))["ok"]
        assert (await host.request("lock", locked=True))["ok"]
        assert (await host.request("remove", participant_id=pid, revoke_link=True))["ok"]
        assert (await host.request("end_session"))["ok"]
    finally:
        await client.close()
    assert opened_under_lock == [], opened_under_lock[0]
