"""Request ids: made for every request, taken from a trusted proxy only, sent back."""

from __future__ import annotations

from multidict import CIMultiDict

from server.app import create_app
from server.config import Config
from server.front import forward_headers
from server.logs.context import valid_request_id
from tests.conftest import AiohttpClient, Seed
from tests.logs.capture import captured_logs, production_client

PROXY_ID = "0123456789abcdef0123456789abcdef"  # nginx's $request_id


async def test_every_answer_carries_a_fresh_id(
    aiohttp_client: AiohttpClient, config: Config, seed: Seed
) -> None:
    client = await aiohttp_client(create_app(config))
    first = (await client.get("/login")).headers["X-Request-ID"]
    second = (await client.get("/no-such-page")).headers["X-Request-ID"]
    assert valid_request_id(first) and valid_request_id(second) and first != second


async def test_a_clients_own_id_is_ignored_without_trusted_proxies(
    aiohttp_client: AiohttpClient, config: Config, seed: Seed
) -> None:
    client = await aiohttp_client(create_app(config))
    response = await client.get("/login", headers={"X-Request-ID": PROXY_ID})
    assert response.headers["X-Request-ID"] != PROXY_ID


async def test_a_trusted_proxys_id_is_kept_and_logged(
    aiohttp_client: AiohttpClient, config: Config, seed: Seed
) -> None:
    config.trusted_proxies = ["127.0.0.1"]  # the test client's address
    with captured_logs() as logs:
        client = await production_client(aiohttp_client, create_app(config))
        response = await client.get("/login", headers={"X-Request-ID": PROXY_ID})
        assert response.headers["X-Request-ID"] == PROXY_ID
        # Well-formed only: anything else is replaced, not passed on.
        odd = await client.get("/login", headers={"X-Request-ID": "two words"})
        assert odd.headers["X-Request-ID"] != "two words"
    access = logs.where(logger="aiohttp.access", request_id=PROXY_ID)
    assert len(access) == 1 and access[0]["http"]["path"] == "/login"


async def test_a_proxy_that_is_not_trusted_cannot_name_requests(
    aiohttp_client: AiohttpClient, config: Config, seed: Seed
) -> None:
    config.trusted_proxies = ["10.0.0.0/8"]
    client = await aiohttp_client(create_app(config))
    response = await client.get("/login", headers={"X-Request-ID": PROXY_ID})
    assert response.headers["X-Request-ID"] != PROXY_ID


def test_the_front_passes_its_own_id_to_the_worker_never_the_clients() -> None:
    headers = CIMultiDict({"Host": "concord", "X-Request-ID": "forged"})
    out = forward_headers(headers, "192.0.2.7", request_id="front-made-1")
    assert out.getall("X-Request-ID") == ["front-made-1"]
