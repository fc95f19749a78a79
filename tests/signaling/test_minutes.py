"""The minutes in the live room, over the real socket.

The clerk and the presiding officer write; the hosts read along; parties and
experts neither read nor hear of it; every refusal is named; what was written
is there after a server restart.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any, cast

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pytest_aiohttp import AiohttpClient

from server.app import create_app
from server.config import Config
from server.db import SessionFactory, transaction
from server.models import MinutesSignoff
from tests.conftest import Client, Seed, login
from tests.http.test_door import APPLICANT, RESPONDENT, Booked, book_session
from tests.signaling.test_agreement import admitted, of_type, settled
from tests.signaling.test_endpoint import Peer, connect


@pytest.fixture
async def booked(factory: SessionFactory, seed: Seed, config: Config) -> Booked:
    return await book_session(factory, seed, config, starts_in=timedelta(minutes=5))


async def staff(client: Client, booked: Booked, username: str) -> tuple[Peer, dict[str, Any]]:
    """``username`` logged in on their own client, joined; the join answer's data."""
    await login(client, username)
    peer = await connect(client, f"session={booked.session_id}")
    joined = await peer.request("join")
    assert joined["ok"], joined
    return peer, joined["data"]


@pytest.fixture
async def browser() -> AsyncIterator[Callable[[Client], Client]]:
    """Another person's browser on a running test server: a cookie jar of its own."""
    made: list[Client] = []

    def another(client: Client) -> Client:
        # The same server (and app) as ``client``: only the cookie jar is new.
        other = cast(Client, TestClient(client.server))
        made.append(other)
        return other

    yield another
    for other in made:
        await other.session.close()


def inv(booked: Booked, who: str) -> str:
    return f"inv-{booked.invitation_ids[who]}"


async def updated(peer: Peer, **match: Any) -> dict[str, Any]:
    """The next minutes_updated whose entry has these fields (or that deletes ``deleted_id``)."""
    if "deleted_id" in match:
        return await peer.note("minutes_updated", lambda n: n["deleted_id"] == match["deleted_id"])
    return await peer.note(
        "minutes_updated",
        lambda n: n["entry"] is not None and all(n["entry"][k] == v for k, v in match.items()),
    )


async def test_the_clerk_writes_the_hosts_read_parties_hear_nothing(
    aiohttp_client: AiohttpClient,
    config: Config,
    seed: Seed,
    booked: Booked,
    browser: Callable[[Client], Client],
) -> None:
    first = await aiohttp_client(create_app(config))
    clerk_client, aux_client = browser(first), browser(first)
    host, host_join = await staff(first, booked, "officer")
    clerk, clerk_join = await staff(clerk_client, booked, "clerk")
    aux, aux_join = await staff(aux_client, booked, "auxiliary")
    assert host_join["minutes"] == {"read": True, "write": True, "signed_off": False}
    assert clerk_join["minutes"] == {"read": True, "write": True, "signed_off": False}
    assert aux_join["minutes"] == {"read": True, "write": False, "signed_off": False}
    party = await admitted(first, booked, host, "applicant")
    lawyer = await admitted(first, booked, host, "lawyer")

    listing = (await clerk.request("minutes_list"))["data"]
    assert listing["entries"] == [] and listing["can_write"] is True
    speakers = {s["key"]: s for s in listing["speakers"]}
    assert speakers[f"staff-{seed.uid('officer')}"]["role"] == "host"
    assert speakers[inv(booked, "applicant")]["name"] == APPLICANT
    assert speakers[f"staff-{seed.uid('clerk')}"]["role"] == "observer", "entered: a speaker"

    # Typing starts: the entry exists at once, then is saved as it is typed.
    added = await clerk.request("minutes_add", speaker_key=inv(booked, "applicant"), text="狗")
    assert added["ok"], added
    entry = added["data"]["entry"]
    assert (entry["version"], entry["speaker_name"], entry["text"]) == (1, APPLICANT, "狗")
    edited = await clerk.request(
        "minutes_edit", entry_id=entry["id"], base_version=1, text="狗每天夜里叫"
    )
    assert edited["data"]["entry"]["version"] == 2
    for reader in (host, aux, clerk):
        assert (await updated(reader, id=entry["id"], version=2))["entry"]["text"] == "狗每天夜里叫"

    # The presiding officer writes too; entries read in time order.
    second = await host.request("minutes_add", speaker_key=inv(booked, "respondent"), text="我道歉")
    assert second["data"]["entry"]["speaker_name"] == RESPONDENT
    await updated(clerk, id=second["data"]["entry"]["id"])
    texts = [e["text"] for e in (await aux.request("minutes_list"))["data"]["entries"]]
    assert texts == ["狗每天夜里叫", "我道歉"]

    # Parties and experts neither read nor write, and were told nothing.
    for outsider in (party, lawyer):
        for type_, fields in [
            ("minutes_list", {}),
            ("minutes_add", {"speaker_key": inv(booked, "applicant"), "text": "我自己记"}),
            ("minutes_edit", {"entry_id": entry["id"], "base_version": 2, "text": "改"}),
            ("minutes_delete", {"entry_id": entry["id"], "base_version": 2}),
        ]:
            refused = await outsider.request(type_, **fields)
            assert refused["error"]["code"] == "not_allowed", refused
        await settled(outsider)
        assert of_type(outsider, "minutes_updated") == []
    # A co-host reads but does not write.
    refused = await aux.request("minutes_add", speaker_key=inv(booked, "applicant"))
    assert refused["error"]["code"] == "not_allowed"

    # Named errors, and nothing changes.
    unknown = await clerk.request("minutes_add", speaker_key="inv-999999", text="谁？")
    assert unknown["error"]["code"] == "minutes_unknown_speaker"
    assert "speaker" in unknown["error"]["fields"]
    stale = await host.request("minutes_edit", entry_id=entry["id"], base_version=1, text="旧")
    assert stale["error"]["code"] == "minutes_conflict"
    too_long = await clerk.request(
        "minutes_edit", entry_id=entry["id"], base_version=2, text="长" * 2001
    )
    assert (
        too_long["error"]["code"] == "validation_failed" and "text" in too_long["error"]["fields"]
    )
    missing = await clerk.request("minutes_edit", entry_id=999999, base_version=1, text="无")
    assert missing["error"]["code"] == "not_found"

    # A deletion reaches the readers.
    gone = await clerk.request(
        "minutes_delete", entry_id=second["data"]["entry"]["id"], base_version=1
    )
    assert gone["ok"], gone
    await updated(aux, deleted_id=second["data"]["entry"]["id"])
    entries = (await host.request("minutes_list"))["data"]["entries"]
    assert [(e["text"], e["version"]) for e in entries] == [("狗每天夜里叫", 2)]


async def test_after_the_sign_off_every_write_is_refused_by_name(
    aiohttp_client: AiohttpClient,
    config: Config,
    factory: SessionFactory,
    seed: Seed,
    booked: Booked,
) -> None:
    first = await aiohttp_client(create_app(config))
    clerk, _ = await staff(first, booked, "clerk")
    entry = (
        await clerk.request("minutes_add", speaker_key=inv(booked, "applicant"), text="定稿前")
    )["data"]["entry"]
    async with transaction(factory) as db:
        db.add(
            MinutesSignoff(
                session_id=booked.session_id,
                signed_off_by_id=seed.uid("officer"),
                entry_count=1,
                entries_sha256="0" * 64,
                pdf_sha256="0" * 64,
                pdf_size=1,
                file_name="minutes.pdf",
            )
        )
    for type_, fields in [
        ("minutes_add", {"speaker_key": inv(booked, "applicant"), "text": "定稿后"}),
        ("minutes_edit", {"entry_id": entry["id"], "base_version": 1, "text": "改"}),
        ("minutes_delete", {"entry_id": entry["id"], "base_version": 1}),
    ]:
        refused = await clerk.request(type_, **fields)
        assert refused["error"]["code"] == "minutes_signed_off", refused
    listing = (await clerk.request("minutes_list"))["data"]
    assert listing["signed_off"] is True and listing["can_write"] is False
    assert [e["text"] for e in listing["entries"]] == ["定稿前"]
    # Coming back, the page is told at once.
    again = await connect(first, f"session={booked.session_id}")
    rejoined = (await again.request("join"))["data"]
    assert rejoined["minutes"] == {"read": True, "write": False, "signed_off": True}


async def test_the_lobby_is_not_joined(client: Client, booked: Booked) -> None:
    peer = await connect(client, f"token={booked.tokens['respondent']}")
    await peer.request("join")
    refused = await peer.request("minutes_list")
    assert refused["error"]["code"] == "not_joined"


async def test_entries_survive_a_restart(
    factory: SessionFactory, seed: Seed, config: Config, booked: Booked
) -> None:
    first = TestClient(TestServer(create_app(config)))
    await first.start_server()
    try:
        clerk, _ = await staff(first, booked, "clerk")
        said = await clerk.request("minutes_add", speaker_key=inv(booked, "applicant"), text="一")
        entry = said["data"]["entry"]
        await clerk.request("minutes_edit", entry_id=entry["id"], base_version=1, text="一二三")
        await clerk.request("minutes_add", speaker_key=inv(booked, "respondent"), text="四")
    finally:
        await first.close()  # answered means committed: nothing is waiting to be written

    second = TestClient(TestServer(create_app(config)))
    await second.start_server()
    try:
        clerk_again, joined = await staff(second, booked, "clerk")
        assert joined["minutes"]["write"] is True
        entries = (await clerk_again.request("minutes_list"))["data"]["entries"]
        assert [(e["text"], e["version"]) for e in entries] == [("一二三", 2), ("四", 1)]
        # Typing goes on from the version the page had.
        more = await clerk_again.request(
            "minutes_edit", entry_id=entry["id"], base_version=2, text="一二三，完"
        )
        assert more["data"]["entry"]["version"] == 3
    finally:
        await second.close()
