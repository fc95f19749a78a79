"""The join reply hands each participant its own short-lived TURN credentials."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import SecretStr
from pytest_aiohttp import AiohttpClient

from server.app import create_app
from server.config import Config
from server.db import SessionFactory
from server.keys import HUBS, TURN
from server.turn import TurnIssuer, credential_for
from tests.conftest import Seed, login
from tests.http.test_door import book_session
from tests.signaling.test_endpoint import connect

SECRET = "turn-secret-for-tests-0123456789abcdef"
URLS = ["turn:10.9.0.1:3478?transport=udp", "turns:10.9.0.1:443?transport=tcp"]
STUN = {"urls": ["stun:10.9.0.1:3478"]}


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def turn_entry(joined: dict[str, Any]) -> dict[str, Any]:
    servers = joined["data"]["ice_servers"]
    assert servers[0] == STUN, servers  # the static servers first, untouched
    assert len(servers) == 2, servers
    return dict(servers[1])


async def test_each_participant_gets_its_own_credentials_at_each_join(
    aiohttp_client: AiohttpClient, config: Config, factory: SessionFactory, seed: Seed
) -> None:
    turned = config.model_copy(
        update={
            "turn_secret": SecretStr(SECRET),
            "turn_urls": URLS,
            "turn_credential_minutes": 30,
            "ice_servers": [STUN],
        }
    )
    app = create_app(turned)
    minted = app[TURN]
    assert minted is not None and minted.lifetime_seconds == 30 * 60
    clock = Clock(1_765_000_000.0)
    app[TURN] = TurnIssuer(minted.secret, minted.urls, minted.lifetime_seconds, clock=clock)
    client = await aiohttp_client(app)
    booked = await book_session(factory, seed, turned, starts_in=timedelta(minutes=5))

    await login(client, "officer")
    host = await connect(client, f"session={booked.session_id}")
    party = await connect(client, f"token={booked.tokens['applicant']}")
    host_turn = turn_entry(await host.request("join"))
    party_turn = turn_entry(await party.request("join"))

    for entry in (host_turn, party_turn):
        assert entry["urls"] == URLS
        expiry, _ = entry["username"].split(":")
        assert int(expiry) == 1_765_000_000 + 30 * 60
        assert entry["credential"] == credential_for(SECRET.encode(), entry["username"])
    assert host_turn["username"] != party_turn["username"]

    # The page rejoins later (a new socket): fresh credentials, the same tag.
    await party.ws.close()
    clock.now += 600
    rejoined = await connect(client, f"token={booked.tokens['applicant']}")
    again = turn_entry(await rejoined.request("join"))
    assert int(again["username"].split(":")[0]) == 1_765_000_000 + 600 + 30 * 60
    assert again["username"].split(":")[1] == party_turn["username"].split(":")[1]

    # The media server is given the static servers only: it needs no relay.
    assert app[HUBS]._media_config.ice_servers == [STUN]


async def test_without_turn_the_join_reply_carries_the_static_servers_only(
    aiohttp_client: AiohttpClient, config: Config, factory: SessionFactory, seed: Seed
) -> None:
    app = create_app(config)
    assert app[TURN] is None
    client = await aiohttp_client(app)
    booked = await book_session(factory, seed, config, starts_in=timedelta(minutes=5))
    party = await connect(client, f"token={booked.tokens['applicant']}")
    joined = await party.request("join")
    assert joined["data"]["ice_servers"] == []
