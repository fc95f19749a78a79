"""Logs in use: JSON lines with the request and the room, and no personal data in any line.

The flow of the last test is what a station does every day (register a
dispute with the parties' ID numbers and telephones, book, invite, open the
link, enter the room) with every logger at DEBUG, the access log included,
and the JSON format an operator would collect.
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
from aiohttp import WSServerHandshakeError

from server.app import create_app
from server.config import Config
from server.db import SessionFactory
from server.logs.redact import TOKEN_MASK, RedactingFilter
from server.sessions.invitations import new_token
from tests.conftest import AiohttpClient, Client, Seed, login
from tests.disputes.helpers import resident_id
from tests.http.test_door import (
    APPLICANT_PHONE,
    EXPERTS,
    RESPONDENT_ID,
    RESPONDENT_PHONE,
    Booked,
    book_session,
)
from tests.http.test_pages import register_form
from tests.logs.capture import Captured, captured_logs, production_client
from tests.signaling.test_endpoint import connect

FORM_APPLICANT_ID = resident_id(date(1977, 7, 7))
#: Ends in the check character X.
FORM_RESPONDENT_ID = resident_id(date(1968, 2, 29), seq="005")
FORM_APPLICANT_PHONE = "13612345678"
FORM_RESPONDENT_PHONE = "15987654321"


async def logged_client(aiohttp_client: AiohttpClient, config: Config) -> Client:
    """The app served as ``concord serve`` serves it: with the access log."""
    return await production_client(aiohttp_client, create_app(config))


async def wait_for(logs: Captured, **fields: object) -> list[dict[str, object]]:
    """Lines written after an answer (the access log of a socket) take a moment."""
    for _ in range(100):
        found = [line for line in logs.lines() if _matches(line, fields)]
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"no line with {fields}")


def _matches(line: dict[str, object], fields: dict[str, object]) -> bool:
    for key, value in fields.items():
        if key == "path":
            http = line.get("http")
            if not isinstance(http, dict) or not str(http.get("path", "")).startswith(str(value)):
                return False
        elif line.get(key) != value:
            return False
    return True


async def test_a_page_request_is_json_lines_with_its_id(
    aiohttp_client: AiohttpClient, config: Config, seed: Seed
) -> None:
    with captured_logs() as logs:
        client = await logged_client(aiohttp_client, config)
        response = await client.get("/login")
        request_id = response.headers["X-Request-ID"]
        access = await wait_for(logs, logger="aiohttp.access", path="/login")
    assert access[0]["request_id"] == request_id
    assert access[0]["http"] == {
        **access[0]["http"],  # type: ignore[dict-item]
        "method": "GET",
        "status": 200,
        "client": "127.0.0.1",
    }
    for line in logs.lines():
        assert {"time", "level", "logger", "message", "request_id", "session_id"} <= set(line)


async def test_a_room_message_carries_the_request_and_the_room(
    aiohttp_client: AiohttpClient, factory: SessionFactory, seed: Seed, config: Config
) -> None:
    booked = await book_session(factory, seed, config, starts_in=timedelta(minutes=5))
    with captured_logs() as logs:
        client = await logged_client(aiohttp_client, config)
        peer = await connect(client, f"token={booked.tokens['applicant']}")
        joined = await peer.request("join")
        assert joined["ok"]
        await peer.ws.close()
        access = await wait_for(logs, logger="aiohttp.access", path="/ws/room")
    socket_id = access[0]["request_id"]
    assert socket_id and access[0]["session_id"] == booked.session_id
    joins = [
        line
        for line in logs.where(logger="server.rooms.room")
        if " join -> " in str(line["message"])
    ]
    assert joins, logs.text
    assert all(
        line["request_id"] == socket_id and line["session_id"] == booked.session_id
        for line in joins
    )
    # The room's own writes, done by its queue's task, still name the room and the socket.
    writes = [line for line in logs.where(logger="sqlalchemy.engine.Engine") if line["session_id"]]
    assert writes and all(line["session_id"] == booked.session_id for line in writes)


async def drive_a_day(
    aiohttp_client: AiohttpClient, factory: SessionFactory, seed: Seed, config: Config
) -> list[str]:
    """Register, book, open links (good and bad), enter the room; returns what must not leak."""
    client = await logged_client(aiohttp_client, config)
    csrf = await login(client, "officer")
    form = register_form(
        csrf,
        **{
            "parties.0.id_number": FORM_APPLICANT_ID,
            "parties.0.phone": FORM_APPLICANT_PHONE,
            "parties.1.id_number": FORM_RESPONDENT_ID,
            "parties.1.phone": FORM_RESPONDENT_PHONE,
        },
    )
    registered = await client.post("/disputes/new", data=form, allow_redirects=False)
    assert registered.status == 303, await registered.text()
    assert (await client.get(registered.headers["Location"])).status == 200
    # A form sent back with an error still holds the ID number it was typed with.
    refused = await client.post("/disputes/new", data={**form, "title": ""})
    assert refused.status == 422
    booked: Booked = await book_session(factory, seed, config, starts_in=timedelta(minutes=5))
    token = booked.tokens["applicant"]
    assert (await client.get(f"/j/{token}")).status == 200
    assert (await client.get(f"/j/{token}/ping")).status == 200
    assert (await client.get(f"/j/{token}/room")).status == 200
    bad_token = new_token()
    assert (await client.get(f"/j/{bad_token}")).status == 404
    assert (await client.get(f"/sign/{bad_token}")).status == 404
    with pytest.raises(WSServerHandshakeError):
        await connect(client, f"token={bad_token}")
    peer = await connect(client, f"token={token}")
    assert (await peer.request("join"))["ok"]
    # A malformed request full of personal data: logged as a bad frame, without its values.
    await peer.ws.send_json(
        {"type": "send_chat", "id": 99, "text": 7, "id_number": FORM_APPLICANT_ID}
    )
    assert (await peer.response(99))["ok"] is False
    await peer.ws.close()
    host = await connect(client, f"session={booked.session_id}")
    assert (await host.request("join"))["ok"]
    await host.ws.close()
    session_cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))
    return [
        FORM_APPLICANT_ID,
        FORM_RESPONDENT_ID,
        RESPONDENT_ID,
        FORM_APPLICANT_PHONE,
        FORM_RESPONDENT_PHONE,
        APPLICANT_PHONE,
        RESPONDENT_PHONE,
        *(phone for _name, _kind, phone in EXPERTS.values()),
        *booked.tokens.values(),
        bad_token,
        session_cookie["concord_session"].value,
    ]


@pytest.mark.parametrize("masking", [True, False], ids=["masked", "filter-disabled"])
async def test_no_id_number_phone_or_token_in_any_line(
    aiohttp_client: AiohttpClient,
    factory: SessionFactory,
    seed: Seed,
    config: Config,
    monkeypatch: pytest.MonkeyPatch,
    masking: bool,
) -> None:
    if not masking:
        # The same flow without the filter must show what it would leak: else this
        # test could pass with a filter that masks nothing.
        monkeypatch.setattr(RedactingFilter, "filter", lambda self, record: True)
    with captured_logs() as logs:
        secrets = await drive_a_day(aiohttp_client, factory, seed, config)
        await wait_for(logs, logger="aiohttp.access", path="/ws/room?session=")
    text = logs.text
    # The capture saw the whole flow: pages, links, the room, the database.
    paths = [str(line["http"]["path"]) for line in logs.where(logger="aiohttp.access")]
    for path in ("/disputes/new", "/j/", "/sign/", "/ws/room?token="):
        assert any(logged.startswith(path) for logged in paths), path
    assert logs.where(logger="sqlalchemy.engine.Engine")
    leaked = [secret for secret in secrets if secret in text]
    if masking:
        assert leaked == [], leaked
        assert f"/j/{TOKEN_MASK}" in text
    else:
        assert leaked, "the flow logged nothing the filter would have to mask"
