"""/healthz, /readyz and /metrics: who may read them, and checks that really check."""

from __future__ import annotations

import asyncio
import time

import pytest

from server.app import create_app
from server.config import Config
from server.keys import ENGINE, HUBS
from server.migrate import alembic_config
from server.readiness import sqlite_file
from server.signaling.messages import PROTOCOL
from tests.conftest import AiohttpClient, Client, Seed
from tests.metrics.scrape import scrape

PROXY_CLIENT = "203.0.113.5"


async def app_client(aiohttp_client: AiohttpClient, config: Config, **update: object) -> Client:
    return await aiohttp_client(create_app(config.model_copy(update=update)))


# -- /metrics: who may read it ---------------------------------------------------------


async def test_loopback_reads_metrics_by_default(client: Client) -> None:
    metrics = await scrape(client)
    assert metrics.value("concord_rooms_open") == 0
    assert "first video keyframe" in metrics.help["concord_join_seconds"]
    assert metrics.value("concord_db_pool_checked_out") >= 0
    assert metrics.value("concord_db_pool_size") > 0


async def test_a_header_from_an_untrusted_peer_changes_nothing(client: Client) -> None:
    # No trusted proxies: the socket's peer (loopback) is the client whatever it writes.
    await scrape(client, {"X-Forwarded-For": PROXY_CLIENT})


async def test_a_client_behind_the_proxy_is_refused(
    aiohttp_client: AiohttpClient, config: Config, seed: Seed
) -> None:
    behind = await app_client(aiohttp_client, config, trusted_proxies=["127.0.0.1"])
    response = await behind.get("/metrics", headers={"X-Forwarded-For": PROXY_CLIENT})
    assert response.status == 404
    # The client wrote 127.0.0.1 itself; the proxy appended the real address.
    forged = {"X-Forwarded-For": f"127.0.0.1, {PROXY_CLIENT}"}
    assert (await behind.get("/metrics", headers=forged)).status == 404
    # The header the proxies do not write is not read at all.
    other = {"X-Forwarded-For": PROXY_CLIENT, "Forwarded": "for=127.0.0.1"}
    assert (await behind.get("/metrics", headers=other)).status == 404
    # The proxy itself (no header) is loopback: allowed.
    await scrape(behind)


async def test_allowed_networks_are_configurable(
    aiohttp_client: AiohttpClient, config: Config, seed: Seed
) -> None:
    app = await app_client(
        aiohttp_client,
        config,
        trusted_proxies=["127.0.0.1"],
        metrics_allow=["203.0.113.0/24"],
    )
    await scrape(app, {"X-Forwarded-For": PROXY_CLIENT})
    # Loopback is no longer in the list.
    assert (await app.get("/metrics")).status == 404


async def test_a_refused_room_socket_is_counted_by_code(client: Client) -> None:
    refused = await client.get(
        "/ws/room?token=no-such-link",
        headers={
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Protocol": PROTOCOL,
        },
    )
    assert refused.status == 403
    error = (await refused.json())["error"]
    assert (error["code"], error["message"]) == (
        "not_allowed",
        "this link or session does not open a room now",
    )
    metrics = await scrape(client)
    assert metrics.value("concord_signaling_errors_total", code="not_allowed") == 1


def test_metrics_allow_rejects_what_is_not_an_address(config: Config) -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        Config.model_validate(
            config.model_dump() | {"metrics_allow": ["localhost"], "secret_key": "x" * 48}
        )


# -- /healthz and /readyz --------------------------------------------------------------


async def test_healthz_answers(client: Client) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"ok": True}


async def test_ready_when_everything_is(client: Client) -> None:
    response = await client.get("/readyz")
    assert response.status == 200
    body = await response.json()
    assert body == {
        "ok": True,
        "checks": {"database": {"ok": True}, "migrations": {"ok": True}, "media": {"ok": True}},
        "failing": [],
    }


async def test_not_ready_without_the_database_file(client: Client) -> None:
    path = sqlite_file(client.app[ENGINE])
    assert path is not None and path.is_file()
    moved = path.with_suffix(".moved")
    path.rename(moved)
    try:
        response = await client.get("/readyz")
        assert response.status == 503
        body = await response.json()
        assert body["failing"] == ["database", "migrations"]
        assert "is missing" in body["checks"]["database"]["detail"]  # loopback sees details
        assert body["checks"]["media"] == {"ok": True}
    finally:
        moved.rename(path)
    assert (await client.get("/readyz")).status == 200


async def test_not_ready_when_the_database_is_migrated_down(client: Client, config: Config) -> None:
    from alembic import command

    await asyncio.to_thread(command.downgrade, alembic_config(config.effective_database_url), "-1")
    response = await client.get("/readyz")
    assert response.status == 503
    body = await response.json()
    assert body["failing"] == ["migrations"]
    assert "the database is at" in body["checks"]["migrations"]["detail"]


async def test_not_ready_once_the_rooms_are_closed(client: Client) -> None:
    await client.app[HUBS].close()
    response = await client.get("/readyz")
    assert response.status == 503
    assert (await response.json())["failing"] == ["media"]


async def test_readyz_details_are_for_operators_only(
    aiohttp_client: AiohttpClient, config: Config, seed: Seed
) -> None:
    behind = await app_client(aiohttp_client, config, trusted_proxies=["127.0.0.1"])
    await behind.app[HUBS].close()
    outsider = await behind.get("/readyz", headers={"X-Forwarded-For": PROXY_CLIENT})
    assert outsider.status == 503
    assert (await outsider.json())["checks"]["media"] == {"ok": False}
    operator = await behind.get("/readyz")
    assert "housekeeping" in (await operator.json())["checks"]["media"]["detail"]


# -- event-loop lag --------------------------------------------------------------------


async def test_the_lag_gauge_sees_a_blocked_loop(client: Client) -> None:
    before = await scrape(client)
    slow_before = before.value("concord_event_loop_tick_lag_seconds_count") - before.value(
        "concord_event_loop_tick_lag_seconds_bucket", le="0.5"
    )
    # The probe was due at most 0.25 s (its interval) into the block: it runs >= 0.75 s late.
    time.sleep(1.0)  # noqa: ASYNC251  (the point: hold the loop)
    await asyncio.sleep(0.6)  # the next probes run
    after = await scrape(client)
    assert after.value("concord_event_loop_lag_max_seconds") >= 0.7
    slow_after = after.value("concord_event_loop_tick_lag_seconds_count") - after.value(
        "concord_event_loop_tick_lag_seconds_bucket", le="0.5"
    )
    assert slow_after >= slow_before + 1
