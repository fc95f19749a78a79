"""Drafting the agreement in the live room, over the real socket.

The presiding officer drafts; parties read the live text (ID numbers masked);
non-police experts read it with parties' names shortened; the lobby hears
nothing; freezing prompts exactly the signers in the room.
"""

from __future__ import annotations

import base64
import io
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from PIL import Image, ImageDraw

from server.agreements import signing
from server.agreements.schemas import SignInput
from server.config import Config
from server.db import SessionFactory, transaction
from server.keys import HUBS
from server.models import Invitation, utcnow
from server.pii import mask_id_number, mask_name
from tests.conftest import Client, Seed
from tests.disputes.helpers import ADULT_ID
from tests.http.test_door import APPLICANT, RESPONDENT, RESPONDENT_ID, Booked, book_session
from tests.signaling.test_endpoint import Peer, connect, staff_peer


@pytest.fixture
async def booked(factory: SessionFactory, seed: Seed, config: Config) -> Booked:
    return await book_session(factory, seed, config, starts_in=timedelta(minutes=5))


def complete_content(config: Config, **overrides: Any) -> dict[str, Any]:
    """Everything the people's track needs before freezing."""
    today = utcnow().astimezone(ZoneInfo(config.timezone)).date()
    content: dict[str, Any] = {
        "facts": f"{APPLICANT}与{RESPONDENT}系邻居，因犬只夜间吠叫发生纠纷。",
        "disputed_matters": "犬只扰民及推搡造成的损失。",
        "responsibility": f"{RESPONDENT}对犬只管理不善负主要责任。",
        "terms": [f"{RESPONDENT}向{APPLICANT}赔礼道歉。", "", "赔偿医药费人民币伍佰元。"],
        "performance_manner": "当面支付现金。",
        "performance_deadline": (today + timedelta(days=7)).isoformat(),
    }
    content.update(overrides)
    return content


async def admitted(client: Client, booked: Booked, host: Peer, who: str) -> Peer:
    """An invitee who knocks and is let in by the host."""
    peer = await connect(client, f"token={booked.tokens[who]}")
    joined = await peer.request("join")
    assert joined["data"]["can_draft_agreement"] is False
    answer = await host.request("admit", participant_id=joined["data"]["participant_id"])
    assert answer["ok"], answer
    await peer.note("you_were_admitted")
    return peer


async def settled(peer: Peer) -> None:
    """Everything the server sent this peer so far has arrived (one round trip)."""
    answer = await peer.request("raise_hand", raised=False)
    assert answer["type"] == "response"  # ok in the room, refused in the lobby: either will do


def of_type(peer: Peer, type_: str) -> list[dict[str, Any]]:
    return [n for n in peer.notes if n["type"] == type_]


def signature_png() -> str:
    image = Image.new("RGBA", (200, 80), (0, 0, 0, 0))
    ImageDraw.Draw(image).line((10, 60, 190, 20), fill=(0, 0, 0, 255), width=4)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


async def test_drafting_reading_freezing_and_signing_in_the_room(
    client: Client, booked: Booked, config: Config, factory: SessionFactory
) -> None:
    host = await staff_peer(client, booked)
    hello = await host.request("join")
    assert hello["data"]["can_draft_agreement"] is True

    # Someone waits in the lobby the whole time: they hear nothing of the agreement.
    lobby = await connect(client, f"token={booked.tokens['cadre']}")
    assert (await lobby.request("join"))["data"]["admission"] == "lobby"

    opened = await host.request("open_agreement")
    assert opened["ok"], opened
    draft_id, version = opened["data"]["draft_id"], opened["data"]["version"]
    mine = await host.note("agreement_updated")
    assert mine["editable"] is True and mine["status"] == "drafting"
    assert mine["content"]["facts"] and "minutes" not in mine
    assert {p["field"] for p in mine["problems"]} >= {"terms", "performance_deadline"}

    party = await admitted(client, booked, host, "applicant")
    first = await party.note("agreement_updated")
    assert first["draft_id"] == draft_id and first["version"] == version
    assert first["editable"] is False and first["content"] is None
    assert first["problems"] == []

    saved = await host.request(
        "save_agreement",
        base_version=version,
        content=complete_content(config, performance_deadline=None),
    )
    assert saved["ok"], saved
    version = saved["data"]["version"]
    live = await party.note("agreement_updated", lambda n: n["version"] == version)
    text = live["text"]
    assert "赔礼道歉" in text and APPLICANT in text and RESPONDENT in text
    assert mask_id_number(ADULT_ID) in text and mask_id_number(RESPONDENT_ID) in text
    assert ADULT_ID not in text and RESPONDENT_ID not in text
    assert live["sha256"] is None and live["your_signature"] is None
    assert [s["role"] for s in live["signers"]] == ["applicant", "respondent", "presiding"]
    assert {s["status"] for s in live["signers"]} == {"waiting"}
    editor = await host.note("agreement_updated", lambda n: n["version"] == version)
    assert "minutes" not in editor  # the minutes are entries of their own now
    assert editor["content"]["terms"] == [
        f"{RESPONDENT}向{APPLICANT}赔礼道歉。",
        "赔偿医药费人民币伍佰元。",
    ]

    # Invitees never draft; a stale version is a conflict; a gap is named.
    refused = await party.request("save_agreement", base_version=version, content={})
    assert refused["error"]["code"] == "not_allowed"
    stale = await host.request(
        "save_agreement", base_version=version - 1, content=complete_content(config)
    )
    assert stale["error"]["code"] == "conflict"
    gap = await host.request("freeze_agreement", base_version=version)
    assert gap["error"]["code"] == "validation_failed"
    assert "performance_deadline" in gap["error"]["fields"]
    assert gap["error"]["message"]
    bad = await host.request(
        "save_agreement",
        base_version=version,
        content=complete_content(config, performance_deadline="next week"),
    )
    assert bad["error"]["code"] == "validation_failed"
    assert "performance_deadline" in bad["error"]["fields"]

    # Experts come in now: the police expert reads names in full, the lawyer shortened.
    police = await admitted(client, booked, host, "police")
    lawyer = await admitted(client, booked, host, "lawyer")
    lawyer_view = await lawyer.note("agreement_updated")
    short = lawyer_view["text"]
    assert APPLICANT not in short and mask_name(APPLICANT) in short
    assert mask_id_number(ADULT_ID) not in short and "赔礼道歉" in short
    assert mask_name(APPLICANT) in {s["name"] for s in lawyer_view["signers"]}
    assert APPLICANT in (await police.note("agreement_updated"))["text"]

    complete = await host.request(
        "save_agreement", base_version=version, content=complete_content(config)
    )
    version = complete["data"]["version"]
    frozen = await host.request("freeze_agreement", base_version=version)
    assert frozen["ok"], frozen
    sha = frozen["data"]["sha256"]
    version = frozen["data"]["version"]
    for peer in (host, party, police, lawyer):
        update = await peer.note("agreement_updated", lambda n: n["version"] == version)
        assert update["status"] == "frozen" and update["sha256"] == sha
    asked = await party.note("signature_requested")
    assert asked == {
        "type": "signature_requested",
        "draft_id": draft_id,
        "version": version,
        "sha256": sha,
    }
    presiding = await host.note("signature_requested")
    assert presiding["sha256"] == sha
    for peer in (police, lawyer, lobby):
        await settled(peer)
        assert of_type(peer, "signature_requested") == []
    await settled(lobby)
    assert of_type(lobby, "agreement_updated") == []

    # A frozen text is not edited; the party signs on a page; the room hears of it.
    locked = await host.request(
        "save_agreement", base_version=version, content=complete_content(config)
    )
    assert locked["error"]["code"] == "conflict"
    async with transaction(factory) as db:
        invitation = await db.get(Invitation, booked.invitation_ids["applicant"])
        assert invitation is not None
        door = await signing.signer_for_invitation(db, invitation)
        assert door is not None
        await signing.sign(
            db,
            door,
            SignInput(text_sha256=sha, agree=True, image_data_url=signature_png()),
            ip="127.0.0.1",
            user_agent="pytest",
        )
    client.app[HUBS].agreement_changed(booked.session_id)
    signed = await party.note("agreement_updated", lambda n: n["your_signature"] == "signed")
    assert [s["status"] for s in signed["signers"]] == ["signed", "waiting", "waiting"]

    # Unfreezing needs a reason, and a new freeze asks the signers again.
    no_reason = await host.request("unfreeze_agreement", base_version=version, reason=" ")
    assert no_reason["error"]["code"] == "validation_failed"
    assert "reason" in no_reason["error"]["fields"]
    thawed = await host.request("unfreeze_agreement", base_version=version, reason="改一个字")
    assert thawed["ok"], thawed
    version = thawed["data"]["version"]
    drafting = await party.note("agreement_updated", lambda n: n["version"] == version)
    assert drafting["status"] == "drafting" and drafting["sha256"] is None
    assert drafting["your_signature"] is None
    again = await host.request("freeze_agreement", base_version=version)
    assert again["data"]["sha256"] == sha, "the same words give the same hash"
    asked_again = await party.note("signature_requested")
    assert asked_again["version"] == again["data"]["version"]

    # The history, newest first, and one old version's text.
    history = await host.request("list_agreement_revisions")
    revisions = history["data"]["revisions"]
    assert [r["number"] for r in revisions] == list(range(again["data"]["version"], 0, -1))
    assert [r["kind"] for r in revisions[:3]] == ["frozen", "unfrozen", "frozen"]
    assert revisions[1]["note"] == "改一个字" and revisions[0]["sha256"] == sha
    first_text = await host.request("show_agreement_revision", number=1)
    assert first_text["data"]["kind"] == "saved" and "人民调解协议书" in first_text["data"]["text"]
    assert "赔礼道歉" not in first_text["data"]["text"]
    missing = await host.request("show_agreement_revision", number=999)
    assert missing["error"]["code"] == "not_found"
    not_theirs = await party.request("list_agreement_revisions")
    assert not_theirs["error"]["code"] == "not_allowed"

    for peer in (host, party, police, lawyer, lobby):
        await peer.ws.close()


async def test_the_lobby_cannot_ask_and_a_returning_signer_is_asked_again(
    client: Client, booked: Booked, config: Config
) -> None:
    host = await staff_peer(client, booked)
    await host.request("join")
    waiting = await connect(client, f"token={booked.tokens['respondent']}")
    await waiting.request("join")
    early = await waiting.request("list_agreement_revisions")
    assert early["error"]["code"] == "not_joined"
    nothing = await host.request("save_agreement", base_version=1, content={})
    assert nothing["error"]["code"] == "not_found", "no draft yet"

    opened = await host.request("open_agreement")
    saved = await host.request(
        "save_agreement",
        base_version=opened["data"]["version"],
        content=complete_content(config),
    )
    frozen = await host.request("freeze_agreement", base_version=saved["data"]["version"])
    assert frozen["ok"], frozen
    await settled(waiting)
    assert of_type(waiting, "agreement_updated") == []
    assert of_type(waiting, "signature_requested") == []

    # Admitted: the state and the prompt; back on a new socket: both again.
    await host.request("admit", participant_id=f"inv-{booked.invitation_ids['respondent']}")
    state = await waiting.note("agreement_updated")
    assert state["status"] == "frozen" and state["your_signature"] == "waiting"
    await waiting.note("signature_requested")
    await waiting.ws.close()
    back = await connect(client, f"token={booked.tokens['respondent']}")
    assert (await back.request("join"))["data"]["admission"] == "admitted"
    assert (await back.note("agreement_updated"))["sha256"] == frozen["data"]["sha256"]
    assert (await back.note("signature_requested"))["sha256"] == frozen["data"]["sha256"]
    for peer in (host, back):
        await peer.ws.close()


async def test_agreement_changed_without_a_live_room_is_a_no_op(
    client: Client, booked: Booked
) -> None:
    client.app[HUBS].agreement_changed(booked.session_id)
    client.app[HUBS].agreement_changed(10_000)


async def test_a_term_deadline_set_in_the_room_is_kept_printed_and_checked(
    client: Client, booked: Booked, config: Config
) -> None:
    host = await staff_peer(client, booked)
    await host.request("join")
    opened = await host.request("open_agreement")
    version = opened["data"]["version"]
    today = utcnow().astimezone(ZoneInfo(config.timezone)).date()
    own, late = today + timedelta(days=3), today + timedelta(days=8)
    # The blank second box goes, with the date typed beside it; the third keeps its own.
    content = complete_content(config, term_deadlines=[None, late.isoformat(), own.isoformat()])
    saved = await host.request("save_agreement", base_version=version, content=content)
    assert saved["ok"], saved
    version = saved["data"]["version"]
    editor = await host.note("agreement_updated", lambda n: n["version"] == version)
    assert editor["content"]["term_deadlines"] == [None, own.isoformat()]
    assert (
        f"2. 赔偿医药费人民币伍佰元。（本项于{own.year}年{own.month}月{own.day}日前履行完毕）"
        in (editor["text"])
    )
    assert editor["problems"] == []

    # A term due after the agreement's deadline is named by its number, and stops freezing.
    content = complete_content(config, term_deadlines=[late.isoformat(), None, None])
    saved = await host.request("save_agreement", base_version=version, content=content)
    version = saved["data"]["version"]
    editor = await host.note("agreement_updated", lambda n: n["version"] == version)
    assert [p["field"] for p in editor["problems"]] == ["term_deadlines.1"]
    gap = await host.request("freeze_agreement", base_version=version)
    assert gap["error"]["code"] == "validation_failed"
    assert "term_deadlines.1" in gap["error"]["fields"]

    # A malformed date is refused whole, naming the field; the draft stays as it was.
    bad = await host.request(
        "save_agreement",
        base_version=version,
        content=complete_content(config, term_deadlines=["明天", None, None]),
    )
    assert bad["error"]["code"] == "validation_failed"
    assert "term_deadlines" in bad["error"]["fields"]
