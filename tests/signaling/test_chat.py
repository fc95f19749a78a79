"""Chat goes line by line and is paged on request; room updates stay small; limits are named."""

from __future__ import annotations

from datetime import timedelta

from server.config import Config
from server.db import SessionFactory
from server.rooms.participant import Participant
from server.rooms.roles import RoomRole
from server.rooms.room import CHAT_BURST, Room
from server.signaling import notifications as n
from server.signaling.views import room_view
from tests.conftest import Client, Seed
from tests.http.test_door import book_session
from tests.signaling.test_endpoint import connect, staff_peer

#: The target: a room update (here a raised hand) stays under this after 1,000 lines.
UPDATE_BUDGET = 2048


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_after_a_thousand_chat_lines_a_room_update_stays_under_2_kb() -> None:
    clock = Clock()
    room = Room(1, host_staff_id=1, title="邻里纠纷", clock=clock)
    room.join(Participant.for_staff(1, "王警官"))
    room.join(Participant.for_invitation(11, "张三", RoomRole.PARTY))
    room.admit("staff-1", "inv-11")
    for i in range(1000):
        clock.now += 1.0  # within the rate
        room.post_chat("inv-11", f"第{i}行：" + "很长的一句话" * 80, to_hosts=i % 7 == 0)
    room.raise_hand("inv-11", True)
    for pid in ("staff-1", "inv-11"):
        update = n.RoomUpdated(room=room_view(room, pid, full_names=True, chat_times={}))
        size = len(update.model_dump_json().encode())
        assert size < UPDATE_BUDGET, (pid, size)
    page, more = room.chat_page("staff-1", None, 100)
    assert len(page) == 100 and more
    assert [line.id for line in page] == list(range(901, 1001))


async def test_chat_history_pages_and_the_limits_have_names(
    client: Client, factory: SessionFactory, seed: Seed, config: Config
) -> None:
    booked = await book_session(factory, seed, config, starts_in=timedelta(minutes=5))
    host = await staff_peer(client, booked)
    await host.request("join")
    party = await connect(client, f"token={booked.tokens['applicant']}")
    pid = (await party.request("join"))["data"]["participant_id"]
    assert (await host.request("admit", participant_id=pid))["ok"]
    await party.note("you_were_admitted")

    for i in range(int(CHAT_BURST)):
        assert (await party.request("send_chat", text=f"第{i}行"))["ok"]
        line = await host.note("chat_posted")
        assert line["message"]["text"] == f"第{i}行"
    too_fast = await party.request("send_chat", text="再一行")
    assert too_fast["error"]["code"] == "chat_too_fast"
    too_long = await host.request("send_chat", text="长" * 501)
    assert too_long["error"]["code"] == "chat_too_long"
    assert too_long["error"]["fields"] == {"text": "too_long"}

    latest = (await host.request("chat_history", limit=4))["data"]
    assert [line["text"] for line in latest["lines"]] == [f"第{i}行" for i in range(6, 10)]
    assert latest["more"]
    older = await host.request("chat_history", before=latest["lines"][0]["id"], limit=100)
    assert [line["text"] for line in older["data"]["lines"]] == [f"第{i}行" for i in range(6)]
    assert not older["data"]["more"]
    update = await host.request("raise_hand", raised=False)
    assert update["ok"]
    assert "chat" not in (await party.note("room_updated"))["room"]
