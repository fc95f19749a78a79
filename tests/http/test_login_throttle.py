"""The login page says what is paused: the account, or the address the attempts come from."""

from __future__ import annotations

from server.app import create_app
from server.config import Config
from tests.conftest import PASSWORD, AiohttpClient, Client, Seed, csrf_from


async def _attempt(client: Client, username: str, password: str) -> str:
    token = csrf_from(await (await client.get("/login")).text())
    response = await client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        allow_redirects=False,
    )
    assert response.status != 303, "the login went through"
    return await response.text()


async def test_an_address_pause_is_not_called_an_account_lock(
    aiohttp_client: AiohttpClient, config: Config, seed: Seed
) -> None:
    config.login_ip_max_failures = 3
    client = await aiohttp_client(create_app(config))
    for name in ("a1", "b2", "c3"):
        await _attempt(client, name, "wrong-password-1")
    html = await _attempt(client, "officer", PASSWORD)
    assert "此网络地址登录失败次数过多，来自该地址的登录已暂停" in html
    assert "账号已锁定" not in html


async def test_an_account_lock_says_so(
    aiohttp_client: AiohttpClient, config: Config, seed: Seed
) -> None:
    client = await aiohttp_client(create_app(config))
    for _ in range(config.login_max_failures):
        await _attempt(client, "officer", "wrong-password-1")
    html = await _attempt(client, "officer", PASSWORD)
    assert "账号已锁定" in html and "网络地址" not in html
