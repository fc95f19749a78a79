"""Slot allocation, reuse and liveness (``server.rooms.media.slots``), without aiortc.

The rules are tested one by one, then over random sequences of route changes
and offer/answer rounds driven the way the subscriber negotiation drives
them, against a model of what the browser was told.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from server.rooms.media import slots
from server.rooms.media.slots import NO_STREAM, UNSET, SlotState, allocate, fresh_slots
from server.rooms.routing import Route


def sources_of(states: tuple[SlotState, ...]) -> list[str | None]:
    return [s.source for s in states]


def offer(states: tuple[SlotState, ...]) -> tuple[SlotState, ...]:
    return tuple(s.offering() for s in states)


def answer(states: tuple[SlotState, ...]) -> tuple[SlotState, ...]:
    """The browser accepts the offer in flight for every slot it described."""
    return tuple(
        (s.answered(s.in_flight) if s.in_flight is not UNSET else s).settled() for s in states
    )


def negotiated(states: tuple[SlotState, ...]) -> tuple[SlotState, ...]:
    return answer(offer(states))


# --- the rules, one by one -----------------------------------------------------------


def test_each_source_gets_a_slot_in_sorted_order() -> None:
    states = allocate((), {"c", "a", "b"})
    assert sources_of(states) == ["a", "b", "c"]
    assert [s.index for s in states] == [0, 1, 2]
    assert all(s.negotiated is UNSET and s.in_flight is UNSET for s in states)


def test_nothing_changes_when_the_sources_do_not() -> None:
    states = negotiated(allocate((), {"a", "b"}))
    assert allocate(states, {"a", "b"}) == states


def test_an_unrouted_source_leaves_its_slot_inactive_and_the_slot_stays() -> None:
    states = negotiated(allocate((), {"a", "b"}))
    after = allocate(states, {"b"})
    assert sources_of(after) == [None, "b"]
    assert after[0].stream_id == NO_STREAM
    assert after[0].needs_offer
    assert not after[1].needs_offer


def test_a_slot_is_not_reused_before_the_browser_answered_it_inactive() -> None:
    states = negotiated(allocate((), {"a"}))
    gone = allocate(states, set())
    # Offered inactive, answer not back yet: another source gets a new slot.
    in_flight = offer(gone)
    assert not in_flight[0].reusable
    assert sources_of(allocate(in_flight, {"b"})) == [None, "b"]
    # Not offered at all yet: the same.
    assert not gone[0].reusable
    assert sources_of(allocate(gone, {"b"})) == [None, "b"]
    # Once answered inactive, the slot is reused.
    answered = answer(in_flight)
    assert answered[0].reusable
    assert sources_of(allocate(answered, {"b"})) == ["b"]


def test_a_returning_source_takes_its_old_slot_even_before_the_inactive_answer() -> None:
    states = negotiated(allocate((), {"a", "b"}))
    gone = offer(allocate(states, {"b"}))
    back = allocate(gone, {"a", "b"})
    assert sources_of(back) == ["a", "b"]
    assert back[0].last_source == "a"


def test_a_returning_source_prefers_its_old_slot_over_an_earlier_reusable_one() -> None:
    states = negotiated(allocate((), {"a", "b"}))
    both_gone = negotiated(allocate(states, set()))
    assert both_gone[0].reusable and both_gone[1].reusable
    assert sources_of(allocate(both_gone, {"b"})) == [None, "b"]
    # A newcomer takes the first reusable slot.
    assert sources_of(allocate(both_gone, {"c"})) == ["c", None]


def test_live_only_once_the_browser_has_the_slot_on_its_source() -> None:
    new = allocate((), {"a"})
    assert not new[0].live  # never offered
    in_flight = offer(new)
    assert not in_flight[0].live  # offered, not answered
    live = answer(in_flight)
    assert live[0].live
    # Re-offered unchanged (another slot changed): stays live meanwhile.
    assert offer(live)[0].live
    # Unrouted: not live at once, before any offer.
    gone = allocate(live, set())
    assert not gone[0].live
    # Back while the offer making it inactive is in flight: not live until
    # the next offer has it on again and is answered.
    back = allocate(offer(gone), {"a"})
    assert not back[0].live
    after = answer(back)  # the inactive offer is answered
    assert after[0].negotiated == NO_STREAM and not after[0].live
    assert after[0].needs_offer
    assert negotiated(after)[0].live


def test_fresh_slots_keep_the_active_sources_in_order_none_offered() -> None:
    states = negotiated(allocate((), {"a", "b", "c"}))
    states = allocate(states, {"a", "c"})
    fresh = fresh_slots(states)
    assert [(s.index, s.source) for s in fresh] == [(0, "a"), (1, "c")]
    assert all(s.negotiated is UNSET and not s.live for s in fresh)
    assert slots.needs_offer(fresh)
    assert not slots.needs_offer(negotiated(fresh))


def test_wanted_sources_leave_out_own_media_and_group_kinds() -> None:
    routes = {
        Route("a", "audio", "b"),
        Route("a", "video", "b"),
        Route("c", "audio", "b"),
        Route("b", "audio", "a"),
        Route("a", "audio", "a"),
    }
    assert slots.wanted_by_receiver(routes) == {
        "b": {"a": {"audio", "video"}, "c": {"audio"}},
        "a": {"b": {"audio"}},
    }
    assert slots.wanted_by(routes, "b") == {"a": {"audio", "video"}, "c": {"audio"}}
    assert slots.wanted_by(routes, "z") == {}


def test_the_slot_rules_import_neither_aiortc_nor_asyncio() -> None:
    tree = ast.parse(Path(slots.__file__).read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    outside = {
        name
        for name in imported
        if name.split(".")[0] not in sys.stdlib_module_names and name != "server.rooms.routing"
    }
    assert outside == set()
    assert "asyncio" not in imported


# --- random sequences ----------------------------------------------------------------

PIDS = ["a", "b", "c", "d", "e"]

Step = tuple[str, frozenset[str]]
steps = st.lists(
    st.one_of(
        st.tuples(st.just("route"), st.frozensets(st.sampled_from(PIDS))),
        st.tuples(st.sampled_from(["offer", "answer", "drop", "restart"]), st.just(frozenset())),
    ),
    max_size=40,
)


@dataclass
class Browser:
    """What the browser was told, kept apart from the slots' own bookkeeping."""

    enabled: dict[int, str] = field(default_factory=dict)  # slot index -> last answered stream id
    in_flight: dict[int, str] | None = None  # the offer awaiting its answer
    history: dict[int, list[str]] = field(default_factory=dict)  # answered stream ids per slot


def check_allocation(before: tuple[SlotState, ...], sources: frozenset[str]) -> None:
    after = allocate(before, sources)
    active = [s.source for s in after if s.source is not None]
    assert sorted(active) == sorted(sources)  # each wanted source on exactly one slot
    assert [s.index for s in after] == list(range(len(after)))
    assert len(after) >= len(before)  # slots are never removed
    assert allocate(after, sources) == after  # stable
    for old, new in zip(before, after, strict=False):
        assert new.index == old.index
        if new.source is not None and new.source != old.source:
            # A slot changes hands only once its source is gone (possibly in
            # this same step), and only back to its last source or once the
            # browser has it inactive: a source routed and unrouted again
            # before any offer never reached the browser.
            assert old.source is None or old.source not in sources
            freed = replace(old, source=None)
            assert freed.last_source == new.source or freed.reusable
        if old.source is None and old.last_source in sources - {s.source for s in before}:
            assert new.source == old.last_source  # a returning source gets its slot back
    if len(after) > len(before):
        # A slot is added only when no free one could take the source.
        added = {s.source for s in after[len(before) :]}
        for new in after[: len(before)]:
            if new.source is None:
                assert not new.reusable
                assert new.last_source not in added


@settings(max_examples=400, deadline=None, database=None)
@given(steps)
# A source back on its freed slot, then replaced before any offer: the
# browser still has the slot inactive, so the newcomer may take it.
@example(
    [
        ("route", frozenset({"a"})),
        ("route", frozenset()),
        ("offer", frozenset()),
        ("answer", frozenset()),
        ("route", frozenset({"a"})),
        ("route", frozenset({"b"})),
    ]
)
# A newcomer sorted before a returning source must not take the slot that
# source is coming back to.
@example(
    [
        ("route", frozenset({"b"})),
        ("route", frozenset()),
        ("offer", frozenset()),
        ("answer", frozenset()),
        ("route", frozenset({"a", "b"})),
    ]
)
def test_random_route_changes_and_negotiation_rounds(sequence: list[Step]) -> None:
    states: tuple[SlotState, ...] = ()
    browser = Browser()
    for op, sources in sequence:
        if op == "route":
            check_allocation(states, sources)
            states = allocate(states, sources)
        elif op == "offer" and browser.in_flight is None and slots.needs_offer(states):
            states = offer(states)
            browser.in_flight = {s.index: s.stream_id for s in states}
        elif op == "answer" and browser.in_flight is not None:
            for index, stream_id in browser.in_flight.items():
                browser.enabled[index] = stream_id
                browser.history.setdefault(index, []).append(stream_id)
                states = tuple(s.answered(stream_id) if s.index == index else s for s in states)
            states = tuple(s.settled() for s in states)
            browser.in_flight = None
        elif op == "drop" and browser.in_flight is not None:  # timed out or superseded
            states = tuple(s.settled() for s in states)
            browser.in_flight = None
        elif op == "restart":  # a new connection: the browser starts over too
            states = tuple(s.settled() for s in states)
            states = fresh_slots(states)
            browser = Browser()
        for s in states:
            if s.live:
                # Fed only while the browser has the m-section on this source
                # and no offer awaiting its answer turns it to another.
                assert browser.enabled.get(s.index) == s.source
                assert browser.in_flight is None or browser.in_flight.get(s.index) in (
                    None,
                    s.source,
                )
    for history in browser.history.values():
        changes = [sid for i, sid in enumerate(history) if i == 0 or sid != history[i - 1]]
        for earlier, later in zip(changes, changes[1:], strict=False):
            # In the browser a new source on an m-section always follows an
            # inactive one, so each new source fires a fresh track event.
            assert earlier == NO_STREAM or later == NO_STREAM, history
