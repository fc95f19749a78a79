"""Every room action for every role, through the real door and socket.

Roles as people arrive: a party and an expert (their links), an observer
(a link), a clerk and another officer (the session page), an invited member
of staff (co-host, a link) and the presiding officer. One source decides the
room role (``server.rooms.roles.room_role``): clerks observe, they do not
co-host.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, get_args

import pytest

from server.app import create_app
from server.config import Config
from server.db import SessionFactory
from server.signaling import messages as m
from tests.conftest import AiohttpClient, Client, Seed, login
from tests.http.test_door import Booked, book_session
from tests.signaling.test_endpoint import Peer, connect

# Each member of staff needs a cookie jar of their own: several test clients on one app,
# all started before the first socket (each start runs the app's start-up again).
pytestmark = pytest.mark.filterwarnings(
    "ignore:Changing state of started or joined application is deprecated:DeprecationWarning"
)

NOBODY = "inv-999999"
#: The room actions of the protocol, with the fields each needs (``{target}`` is the
#: applicant, ``{caucus}`` the caucus the action opened), in an order a host can run.
HOST_ACTIONS: list[tuple[str, dict[str, Any], str]] = [
    ("admit", {"participant_id": "{target}"}, "ok"),  # already in: nothing to do
    ("decline", {"participant_id": "{target}"}, "conflict"),
    ("admit_all_experts", {}, "ok"),
    ("mute", {"participant_id": "{target}"}, "ok"),
    ("request_unmute", {"participant_id": "{target}"}, "ok"),
    ("allow_audio", {"participant_id": "{target}"}, "ok"),
    ("lower_hand", {"participant_id": "{target}"}, "ok"),
    ("stop_video", {"participant_id": "{target}"}, "ok"),
    ("allow_video", {"participant_id": "{target}"}, "ok"),
    ("lock", {"locked": True}, "ok"),
    ("open_caucus", {"participant_ids": ["{target}"]}, "ok"),
    ("set_caucus", {"caucus_id": "{caucus}", "participant_ids": ["{target}"]}, "ok"),
    ("move_to", {"caucus_id": None}, "ok"),
    ("close_caucus", {"caucus_id": "{caucus}"}, "ok"),
    ("close_all_caucuses", {}, "ok"),
    ("remove", {"participant_id": NOBODY, "revoke_link": False}, "not_found"),
    ("end_session", {}, "ok"),
]
SELF_ACTIONS: list[tuple[str, dict[str, Any], str]] = [
    ("raise_hand", {"raised": True}, "ok"),
    ("set_self_state", {"muted": True, "video_off": False}, "ok"),
    ("set_audio_only", {"on": True}, "ok"),
    ("accept_unmute", {}, "ok"),
    ("send_chat", {"text": "你好", "to_hosts": False}, "ok"),
    ("knock_message", {"text": "我到了"}, "not_allowed"),  # for the lobby only
]
#: room role as the screens see it, and whether the room's controls are theirs.
EXPECTED_ROLE = {
    "party": ("party", False),
    "expert": ("expert", False),
    "observer": ("observer", False),
    "clerk": ("observer", False),
    "officer": ("cohost", True),
    "cohost": ("cohost", True),
    "presiding": ("host", True),
}


def test_the_matrix_names_every_room_action_of_the_protocol() -> None:
    media_and_agreement = {
        "join",
        "leave",
        "publish_offer",
        "subscriber_answer",
        "ice_candidate",
        "restart_subscriber",
        # Anyone may probe their own socket, joined or not (tests/signaling/test_endpoint.py).
        "ping",
        "chat_history",
        "open_agreement",
        "save_agreement",
        "freeze_agreement",
        "unfreeze_agreement",
        "list_agreement_revisions",
        "show_agreement_revision",
        # The minutes: their own desk and tests (tests/signaling/test_minutes.py).
        "minutes_add",
        "minutes_edit",
        "minutes_delete",
        "minutes_list",
    }
    members = get_args(get_args(m.ClientMessage)[0])
    union = {get_args(cls.model_fields["type"].annotation)[0] for cls in members}
    covered = {name for name, _, _ in HOST_ACTIONS + SELF_ACTIONS}
    assert union - media_and_agreement == covered


def _fill(fields: dict[str, Any], target: str, caucus: str) -> dict[str, Any]:
    def one(value: Any) -> Any:
        if isinstance(value, str):
            return value.format(target=target, caucus=caucus)
        if isinstance(value, list):
            return [one(v) for v in value]
        return value

    return {k: one(v) for k, v in fields.items()}


async def _room(staff: dict[str, Client], app_client: Client, booked: Booked) -> tuple[Peer, str]:
    """The presiding officer, and the applicant's id once admitted."""
    host = await connect(staff["presiding"], f"session={booked.session_id}")
    await host.request("join")
    applicant = await connect(app_client, f"token={booked.tokens['applicant']}")
    pid = (await applicant.request("join"))["data"]["participant_id"]
    assert (await host.request("admit", participant_id=pid))["ok"]
    await applicant.note("you_were_admitted")
    return host, pid


async def _enter(
    staff: dict[str, Client], app_client: Client, booked: Booked, host: Peer, who: str
) -> tuple[Peer, dict[str, Any]]:
    links = {"party": "respondent", "expert": "police", "observer": "observer", "cohost": "staff"}
    if who in ("clerk", "officer"):
        peer = await connect(staff[who], f"session={booked.session_id}")
    else:
        peer = await connect(app_client, f"token={booked.tokens[links[who]]}")
    joined = (await peer.request("join"))["data"]
    if joined["admission"] == "lobby":
        assert (await host.request("admit", participant_id=joined["participant_id"]))["ok"]
        await peer.note("you_were_admitted")
    if joined["admission"] != "lobby":
        return peer, joined["room"]
    update = await peer.note("room_updated", lambda n: n["room"]["admission"] == "admitted")
    return peer, update["room"]


async def _run(
    peer: Peer, actions: list[tuple[str, dict[str, Any], str]], target: str
) -> dict[str, str]:
    codes: dict[str, str] = {}
    caucus = "c1"
    for name, fields, _ in actions:
        answer = await peer.request(name, **_fill(fields, target, caucus))
        codes[name] = "ok" if answer["ok"] else answer["error"]["code"]
        if name == "open_caucus" and answer["ok"]:
            caucus = answer["data"]["caucus_id"]
    return codes


@pytest.fixture
async def sessions(factory: SessionFactory, seed: Seed, config: Config) -> list[Booked]:
    """Three sessions of the same people, open now: each host role ends one."""
    config.room_open_minutes_before = 6 * 60
    return [
        await book_session(factory, seed, config, starts_in=timedelta(minutes=5 + 120 * i))
        for i in range(3)
    ]


async def test_every_role_may_do_what_its_role_allows_and_nothing_else(
    aiohttp_client: AiohttpClient, config: Config, sessions: list[Booked]
) -> None:
    app_client = await aiohttp_client(create_app(config))
    staff: dict[str, Client] = {}
    # The matrix's "officer" is one who does not preside: the station's chief.
    for who, username in (("presiding", "officer"), ("clerk", "clerk"), ("officer", "chief")):
        staff[who] = await aiohttp_client(app_client.app)
        await login(staff[who], username)
    refused = {name: "not_allowed" for name, _, _ in HOST_ACTIONS}
    allowed = {name: code for name, _, code in HOST_ACTIONS}
    own = {name: code for name, _, code in SELF_ACTIONS}
    first, second, third = sessions
    host, first_target = await _room(staff, app_client, first)
    target = first_target
    for who in ("party", "expert", "observer", "clerk"):
        peer, room = await _enter(staff, app_client, first, host, who)
        me = next(p for p in room["participants"] if p["id"] == room["you"])
        assert (me["role"], room["you_are_host"]) == EXPECTED_ROLE[who], who
        assert await _run(peer, HOST_ACTIONS, target) == refused, who
        assert await _run(peer, SELF_ACTIONS, target) == own, who
    # Each host role ends a session of its own.
    for who, booked in (("officer", second), ("cohost", third)):
        room_host, target = await _room(staff, app_client, booked)
        peer, room = await _enter(staff, app_client, booked, room_host, who)
        me = next(p for p in room["participants"] if p["id"] == room["you"])
        assert (me["role"], room["you_are_host"]) == EXPECTED_ROLE[who], who
        assert await _run(peer, SELF_ACTIONS, target) == own, who
        assert await _run(peer, HOST_ACTIONS, target) == allowed, who
    target = first_target
    assert await _run(host, SELF_ACTIONS, target) == own
    room = (await host.note("room_updated"))["room"]
    me = next(p for p in room["participants"] if p["id"] == room["you"])
    assert (me["role"], room["you_are_host"]) == EXPECTED_ROLE["presiding"]
    assert await _run(host, HOST_ACTIONS, target) == allowed
