"""The room store: a room's live state is written as a whole and read back as it was."""

from __future__ import annotations

from datetime import timedelta

from server.config import Config
from server.db import SessionFactory
from server.live.store import RoomStore
from server.rooms.state import CaucusState, Controls, LiveState
from tests.conftest import Seed
from tests.http.test_door import book_session


async def test_the_live_state_is_replaced_as_a_whole_and_read_back(
    factory: SessionFactory, seed: Seed, config: Config
) -> None:
    booked = await book_session(factory, seed, config, starts_in=timedelta(minutes=5))
    store = RoomStore(factory)
    sid = booked.session_id
    assert (await store.load(sid)).state is None, "a room never opened has no state"
    first = LiveState(
        locked=True,
        next_caucus=3,
        caucuses=(
            CaucusState("c1", "与申请人", "staff-1", frozenset({"staff-1", "inv-1"})),
            CaucusState("c2", "", "staff-2", frozenset({"staff-2", "inv-2", "inv-3"})),
        ),
        controls=(
            ("inv-1", Controls(muted_by_host=True)),
            ("inv-2", Controls(video_stopped_by_host=True, hand_raised=True)),
        ),
    )
    assert await store.save_state(sid, first, 1)
    restored = await store.load(sid)
    assert (restored.state, restored.revision) == (first, 1)

    later = LiveState(locked=False, next_caucus=3)
    assert await store.save_state(sid, later, 2)
    assert not await store.save_state(sid, first, 2), "a replayed write is refused"
    assert not await store.save_state(sid, first, 1)
    restored = await store.load(sid)
    assert (restored.state, restored.revision) == (later, 2)
