"""The room page: the invitee's way in by link, staff's from the session page.

The live room itself (the socket, the media) is tested elsewhere; here: who
gets the page, what it carries for the script, what it must not leak, and
that it stays within the Content Security Policy.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlmodel import func, select

from server.app import create_app
from server.auth.sessions import actor_for
from server.config import Config
from server.db import SessionFactory, transaction
from server.http.pages import room
from server.models import AuditEvent, Invitation, utcnow
from server.sessions import invitations
from server.sessions import service as sessions
from server.sessions.schemas import CancelInput
from tests.conftest import AiohttpClient, Client, Seed, login
from tests.http.test_door import APPLICANT, SECRETS, TITLE, Booked, book_session

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "web" / "templates" / "room" / "room.html"
SCRIPTS = [
    ROOT / "web" / "static" / "js" / "room.js",
    *sorted((ROOT / "web/static/js/room").glob("*.js")),
]

#: A <script> element without a src attribute: inline script, refused by the CSP.
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)
STYLE_ATTRIBUTE = re.compile(r"<[^>]+\sstyle\s*=", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)


async def room_client(aiohttp_client: AiohttpClient, config: Config) -> Client:
    app = create_app(config)
    if "invitee_room" not in app.router.named_resources():  # until routes.py adds room.ROUTES
        app.router.add_routes(room.ROUTES)
    return await aiohttp_client(app)


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, config: Config, seed: Seed) -> Client:
    return await room_client(aiohttp_client, config)


@pytest.fixture
async def booked(factory: SessionFactory, seed: Seed, config: Config) -> Booked:
    """A session starting in ten minutes: its room is open."""
    return await book_session(factory, seed, config, starts_in=timedelta(minutes=10))


def assert_private(headers: Mapping[str, str]) -> None:
    assert headers.get("Cache-Control") == "no-store"
    assert headers.get("Referrer-Policy") == "no-referrer"


def data_attributes(page: str) -> dict[str, str]:
    """The attributes of <main id="room">, unescaped."""
    match = re.search(r'<main id="room"([^>]*)>', page, re.DOTALL)
    assert match, "no <main id=room>"
    return {
        name: html_lib.unescape(value)
        for name, value in re.findall(r'\s(data-[a-z-]+)="([^"]*)"', match.group(1))
    }


def assert_csp_safe(page: str) -> None:
    assert INLINE_SCRIPT.search(page) is None, "inline <script> (CSP forbids it)"
    assert STYLE_ATTRIBUTE.search(page) is None, "style= attribute (CSP forbids it)"
    assert INLINE_HANDLER.search(page) is None, "on...= handler attribute (CSP forbids it)"
    tags = SCRIPT_TAG.findall(page)
    assert tags, "the page loads its scripts"
    for attributes in tags:
        assert 'src="/static/' in attributes and "defer" in attributes, attributes


async def count(factory: SessionFactory, model: Any, *where: Any) -> int:
    async with transaction(factory) as db:
        return (await db.exec(select(func.count()).select_from(model).where(*where))).one()


# --- the invitee's page ------------------------------------------------------------------


async def test_invitee_room_carries_what_the_script_needs(client: Client, booked: Booked) -> None:
    token = booked.tokens["applicant"]
    response = await client.get(f"/j/{token}/room")
    assert response.status == 200
    assert_private(response.headers)
    page = await response.text()
    data = data_attributes(page)
    assert data["data-state"] == "connecting"
    assert data["data-participant-id"] == ""
    assert data["data-ws-url"] == f"/ws/room?token={token}"
    assert data["data-title"] == TITLE
    assert data["data-self-name"] == APPLICANT
    assert data["data-self-role"] == "当事人"
    assert data["data-lang"] == "zh"
    assert data["data-entry"] == "invitee"
    assert data["data-can-host"] == "false"
    assert data["data-session-id"] == str(booked.session_id)
    assert data["data-back-url"] == f"/j/{token}"
    assert 'id="hears-you" data-ids=""' in page
    assert '<template id="labels">' in page and 'data-key="hears-nobody"' in page
    assert '<video id="self-video" playsinline muted autoplay>' in page
    assert "<video playsinline autoplay>" in page, "the remote tile template"
    assert "等待" in page or "Waiting" in page
    assert '<html lang="zh-CN">' in page
    for secret in SECRETS:
        assert secret not in page


async def test_invitee_room_is_private_and_csp_safe(client: Client, booked: Booked) -> None:
    response = await client.get(f"/j/{booked.tokens['respondent']}/room")
    assert response.status == 200
    headers = response.headers
    assert_private(headers)
    assert headers.get("X-Robots-Tag") == "noindex, nofollow"
    policy = headers["Content-Security-Policy"]
    assert "script-src" not in policy or "'unsafe-inline'" not in policy
    assert "default-src 'self'" in policy and "style-src 'self'" in policy
    assert "connect-src 'self'" in policy
    host = f"{client.server.host}:{client.server.port}"
    assert f"ws://{host}" in policy and f"wss://{host}" in policy
    page = await response.text()
    assert '<meta name="referrer" content="no-referrer">' in page
    assert_csp_safe(page)


async def test_entering_the_room_is_not_an_open(
    client: Client, booked: Booked, factory: SessionFactory
) -> None:
    before = await count(factory, AuditEvent, AuditEvent.action == "invitation.open")
    response = await client.get(f"/j/{booked.tokens['lawyer']}/room")
    assert response.status == 200
    assert await count(factory, AuditEvent, AuditEvent.action == "invitation.open") == before
    async with transaction(factory) as db:
        invitation = await db.get(Invitation, booked.invitation_ids["lawyer"])
        assert invitation is not None
        assert invitation.open_count == 0 and invitation.first_opened_at is None


async def test_an_experts_role_names_the_kind(client: Client, booked: Booked) -> None:
    page = await (await client.get(f"/j/{booked.tokens['lawyer']}/room")).text()
    assert data_attributes(page)["data-self-role"] == "调解专家（律师）"
    client.session.cookie_jar.update_cookies({"concord_lang": "en"})
    page = await (await client.get(f"/j/{booked.tokens['lawyer']}/room")).text()
    data = data_attributes(page)
    assert data["data-self-role"] == "Expert (Lawyer)" and data["data-lang"] == "en"
    assert '<html lang="en">' in page


async def test_a_wrong_link_goes_to_the_doors_refusal(client: Client) -> None:
    token = "not-a-real-token-" + "x" * 30
    response = await client.get(f"/j/{token}/room", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == f"/j/{token}"
    assert_private(response.headers)
    followed = await client.get(f"/j/{token}/room")
    assert followed.status == 404
    assert "/j/" + token in str(followed.url)
    page = await followed.text()
    assert 'id="refused"' in page
    assert token not in page


async def test_revoked_and_cancelled_links_go_to_the_refusal(
    client: Client, booked: Booked, factory: SessionFactory, seed: Seed
) -> None:
    officer = actor_for(seed.users["officer"])
    async with transaction(factory) as db:
        await invitations.revoke(db, officer, booked.invitation_ids["respondent"], "发错人了")
    response = await client.get(f"/j/{booked.tokens['respondent']}/room", allow_redirects=False)
    assert response.status == 303
    assert (await client.get(f"/j/{booked.tokens['respondent']}/room")).status == 404

    async with transaction(factory) as db:
        await sessions.cancel(db, officer, booked.session_id, CancelInput(reason="当事人已和解"))
    response = await client.get(f"/j/{booked.tokens['applicant']}/room", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == f"/j/{booked.tokens['applicant']}"


async def test_before_the_room_opens_the_door_says_when(
    client: Client, factory: SessionFactory, seed: Seed, config: Config
) -> None:
    opens = timedelta(minutes=config.room_open_minutes_before)
    later = await book_session(factory, seed, config, starts_in=opens + timedelta(minutes=5))
    token = later.tokens["applicant"]
    response = await client.get(f"/j/{token}/room", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == f"/j/{token}"
    door = await client.get(f"/j/{token}/room")
    assert door.status == 200
    assert 'id="enter-room" class="big" disabled' in await door.text()


async def test_wrong_room_links_count_against_the_address(
    aiohttp_client: AiohttpClient, config: Config, seed: Seed, factory: SessionFactory
) -> None:
    """The room page is no free oracle for guessing links: the door's limiter applies."""
    strict = config.model_copy(update={"door_max_failures": 3})
    client = await room_client(aiohttp_client, strict)
    booked = await book_session(factory, seed, strict, starts_in=timedelta(minutes=10))
    good = booked.tokens["applicant"]
    assert (await client.get(f"/j/{good}/room", allow_redirects=False)).status == 200
    for n in range(3):
        wrong = await client.get(f"/j/guess-{n}-{'y' * 30}/room", allow_redirects=False)
        assert wrong.status == 303
    blocked = await client.get(f"/j/{good}/room", allow_redirects=False)
    assert blocked.status == 303, "a blocked address gets no room, even with a good link"
    assert (await client.get(f"/j/{good}/room")).status == 429


# --- staff's page ---------------------------------------------------------------------------


async def test_the_presiding_officer_gets_the_room(client: Client, booked: Booked) -> None:
    await login(client, "officer")
    response = await client.get(f"/sessions/{booked.session_id}/room")
    assert response.status == 200
    assert response.headers.get("Cache-Control") == "no-store"
    page = await response.text()
    data = data_attributes(page)
    assert data["data-ws-url"] == f"/ws/room?session={booked.session_id}"
    assert data["data-entry"] == "staff"
    assert data["data-can-host"] == "true"
    assert data["data-title"] == TITLE
    assert data["data-self-name"] == "测试officer"
    assert data["data-self-role"] == "主持人"
    assert data["data-back-url"] == f"/sessions/{booked.session_id}"
    assert_csp_safe(page)
    for secret in SECRETS:
        assert secret not in page


@pytest.mark.parametrize(
    ("username", "status", "can_host", "role"),
    [
        ("auxiliary", 200, "true", "协助主持人"),  # same office: a co-host
        ("chief", 200, "true", "协助主持人"),  # station-wide
        ("clerk", 200, "false", "内勤"),  # reads the station's records, does not book
        ("officer_b", 403, None, None),  # another beat office of the same station
        ("admin", 403, None, None),  # manages accounts, reads no case files
        ("officer_c", 404, None, None),  # another station: not even found
        ("outsider", 404, None, None),
    ],
)
async def test_who_may_open_the_staff_room(
    client: Client,
    booked: Booked,
    username: str,
    status: int,
    can_host: str | None,
    role: str | None,
) -> None:
    await login(client, username)
    response = await client.get(f"/sessions/{booked.session_id}/room")
    assert response.status == status
    page = await response.text()
    if can_host is None:
        assert 'id="room"' not in page
        return
    data = data_attributes(page)
    assert data["data-can-host"] == can_host
    assert data["data-self-role"] == role


async def test_staff_room_needs_a_login(client: Client, booked: Booked) -> None:
    response = await client.get(f"/sessions/{booked.session_id}/room", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"].startswith("/login?next=")


async def test_staff_room_of_a_missing_or_cancelled_session(
    client: Client, booked: Booked, factory: SessionFactory, seed: Seed
) -> None:
    await login(client, "officer")
    assert (await client.get("/sessions/999999/room")).status == 404
    assert (await client.get("/sessions/abc/room")).status == 404
    officer = actor_for(seed.users["officer"])
    async with transaction(factory) as db:
        await sessions.cancel(db, officer, booked.session_id, CancelInput(reason="当事人已和解"))
    assert (await client.get(f"/sessions/{booked.session_id}/room")).status == 409


# --- the static files and their agreement with the template --------------------------------


async def test_the_pages_scripts_and_styles_are_served(client: Client, booked: Booked) -> None:
    page = await (await client.get(f"/j/{booked.tokens['applicant']}/room")).text()
    urls = re.findall(r'(?:src|href)="(/static/[^"]+)"', page)
    assert any("room.css" in u for u in urls) and any("js/room.js" in u for u in urls)
    for url in urls:
        response = await client.get(html_lib.unescape(url))
        assert response.status == 200, url


def test_every_word_and_element_the_scripts_use_is_in_the_template() -> None:
    """A typo in a label key or an element id would show a raw key or break a button."""
    template = TEMPLATE.read_text(encoding="utf-8")
    keys = set(re.findall(r'data-key="([a-z0-9-]+)"', template))
    ids = set(re.findall(r'\sid="([A-Za-z0-9_-]+)"', template))
    used_keys: set[str] = set()
    used_ids: set[str] = set()
    for script in SCRIPTS:
        source = script.read_text(encoding="utf-8")
        used_keys |= set(re.findall(r'\b(?:L|label)\(\s*"([a-z0-9-]+)"\s*[,)]', source))
        used_ids |= set(re.findall(r'\bbyId\(\s*"([A-Za-z0-9_-]+)"\s*\)', source))
        used_ids |= set(re.findall(r'getElementById\(\s*"([A-Za-z0-9_-]+)"\s*\)', source))
        assert "innerHTML" not in source, f"{script.name}: set text, never HTML"
    assert used_keys - keys == set(), "label keys missing from <template id=labels>"
    assert used_ids - ids == set(), "element ids missing from room.html"
    for role in ("host", "cohost", "party", "agent", "guardian", "expert", "observer"):
        assert f"role-{role}" in keys


# --- when the room is open -----------------------------------------------------------------


def test_room_is_open_from_the_configured_time_until_the_grace_ends() -> None:
    now = utcnow()
    window = {"opens_before": timedelta(minutes=60), "grace": timedelta(hours=12)}

    def session(starts_in: timedelta, status: str = "scheduled") -> Any:
        starts = now + starts_in
        return SimpleNamespace(starts_at=starts, ends_at=starts + timedelta(hours=1), status=status)

    assert room.room_is_open(session(timedelta(minutes=60)), now, **window)
    assert not room.room_is_open(session(timedelta(minutes=61)), now, **window)
    assert room.room_is_open(session(-timedelta(hours=13)), now, **window)
    assert not room.room_is_open(session(-timedelta(hours=13, minutes=1)), now, **window)
    assert not room.room_is_open(session(timedelta(0), status="cancelled"), now, **window)
    assert room.room_path("a_b-c") == "/j/a_b-c/room"
    assert room.staff_room_path(7) == "/sessions/7/room"


async def test_the_doors_enter_button_leads_here(client: Client, booked: Booked) -> None:
    """The door (door.html, door.py) links to this page once the room is open."""
    token = booked.tokens["applicant"]
    door = await (await client.get(f"/j/{token}")).text()
    assert f'href="{room.room_path(token)}"' in door
    assert (await client.get(room.room_path(token))).status == 200
