"""``/help/camera``: public, Chinese by default, English on request, LAN trust steps with a CA."""

from __future__ import annotations

import re
from html import escape

from server.config import Config
from server.db import SessionFactory
from server.http.pages.camera_help import HELP_PATH
from server.lan_cert import CA_COMMON_NAME, CA_DOWNLOAD_PATH, make_lan_certificate
from server.lan_cert_command import ANDROID_STEPS
from tests.conftest import Client, Seed
from tests.http.test_door import book_session

#: Every part the door's links point at (devicecheck.js ``helpSection``).
SECTIONS = ("help-top", "wechat", "ios", "android", "https", "busy")


def ids_in(html: str) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', html))


async def test_the_page_is_public_and_in_chinese_by_default(client: Client) -> None:
    client.session.cookie_jar.clear()
    response = await client.get(HELP_PATH)
    assert response.status == 200
    assert response.content_type == "text/html"
    html = await response.text()
    assert '<html lang="zh-CN">' in html
    assert set(SECTIONS) <= ids_in(html)
    for words in (
        "摄像头或麦克风用不了",
        "在浏览器打开",  # WeChat's menu item
        "网站设置",  # Safari's aA menu
        "“设置”→“应用”→“Chrome”→“权限”",  # Android's app permissions
        "网址必须以 https:// 开头",
        "摄像头正被其他应用占用",
    ):
        assert words in html, words
    assert "Open in Browser" not in html
    # No LAN CA was made: no link to a download that would answer 404.
    assert CA_DOWNLOAD_PATH not in html and 'id="ca-download"' not in html
    # The door's security headers apply, and nothing on it needs a login.
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["Vary"] == "Cookie"


async def test_english_from_the_link_changes_this_page_only(client: Client) -> None:
    response = await client.get(HELP_PATH, params={"lang": "en"})
    assert response.status == 200
    html = await response.text()
    assert '<html lang="en">' in html
    for words in (
        "Camera or microphone not working",
        "Open in Browser",
        "Tap Website Settings.",
        "Settings → Apps → Chrome → Permissions",
        "The address must start with https://",
        "Another app is using the camera",
    ):
        assert words in html, words
    assert "在浏览器打开" not in html
    # The switch back to Chinese returns to the page without the query.
    assert f'href="/lang/zh?next={HELP_PATH}"' in html
    # The query set no cookie: the next page is in the browser's own language again.
    assert "concord_lang" not in response.cookies
    again = await (await client.get(HELP_PATH)).text()
    assert '<html lang="zh-CN">' in again


async def test_the_language_cookie_is_kept_and_an_unknown_lang_ignored(client: Client) -> None:
    response = await client.get(f"/lang/en?next={HELP_PATH}")
    assert response.status == 200 and response.url.path == HELP_PATH
    assert "Camera or microphone not working" in await response.text()
    fallback = await (await client.get(HELP_PATH, params={"lang": "fr"})).text()
    assert '<html lang="en">' in fallback  # the cookie's language, not an error


async def test_with_a_lan_ca_the_page_gives_its_trust_steps(client: Client, config: Config) -> None:
    make_lan_certificate(config.lan_tls_dir, ["192.168.1.20"])
    html = await (await client.get(HELP_PATH, params={"lang": "en"})).text()
    assert f'id="ca-download" href="{CA_DOWNLOAD_PATH}"' in html
    assert {"trust-android", "trust-ios"} <= ids_in(html)
    assert escape(ANDROID_STEPS[1], quote=False) in html
    assert f"“{CA_COMMON_NAME}”" in html  # the iOS full-trust switch names the CA
    assert (await client.get(CA_DOWNLOAD_PATH)).status == 200
    zh = await (await client.get(HELP_PATH)).text()
    assert "下载调解室的证书" in zh and "加密与凭据" in zh


async def test_the_door_links_here_in_its_own_language(
    client: Client, factory: SessionFactory, seed: Seed, config: Config
) -> None:
    booked = await book_session(factory, seed, config)
    door = f"/j/{booked.tokens['applicant']}"
    zh = await (await client.get(door)).text()
    assert f'data-base="{HELP_PATH}?lang=zh"' in zh
    assert f'href="{HELP_PATH}?lang=zh#https"' in zh  # the insecure-page notice
    await client.get(f"/lang/en?next={door}")
    en = await (await client.get(door)).text()
    assert f'data-base="{HELP_PATH}?lang=en"' in en
    assert "How to fix this, step by step" in en
