"""The closed loop as data: the transition table and the routes."""

from __future__ import annotations

from collections import deque

import pytest

from server.disputes.lifecycle import (
    OPEN_STATUSES,
    ROUTE_FOR_RISK,
    STATUS_LABELS,
    TRANSITIONS,
    TRIAGE_FROM,
    RiskLevel,
    Route,
    Status,
    can_transition,
    route_for,
)


def _reachable(start: Status) -> set[Status]:
    seen = {start}
    queue = deque([start])
    while queue:
        current = queue.popleft()
        for nxt in TRANSITIONS[current]:
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def test_every_status_has_an_entry_in_the_table() -> None:
    assert set(TRANSITIONS) == set(Status)


def test_targets_are_statuses() -> None:
    for targets in TRANSITIONS.values():
        assert targets <= set(Status)


def test_every_status_is_reachable_from_registered() -> None:
    assert _reachable(Status.REGISTERED) == set(Status)


def test_every_open_status_can_still_reach_closed() -> None:
    for status in OPEN_STATUSES:
        assert Status.CLOSED in _reachable(status), status


def test_closed_has_no_exits() -> None:
    assert TRANSITIONS[Status.CLOSED] == frozenset()
    for status in Status:
        assert not can_transition(Status.CLOSED, status)


def test_closed_is_the_only_status_that_is_not_open() -> None:
    assert set(Status) - OPEN_STATUSES == {Status.CLOSED}


def test_closed_only_after_follow_up() -> None:
    sources = {s for s, targets in TRANSITIONS.items() if Status.CLOSED in targets}
    assert sources == {Status.FOLLOW_UP}


def test_triaged_only_via_triage() -> None:
    # The only edge into TRIAGED starts where triage may start; the service
    # refuses TRIAGED as a plain transition target.
    sources = {s for s, targets in TRANSITIONS.items() if Status.TRIAGED in targets}
    assert sources == {Status.REGISTERED}
    assert sources <= TRIAGE_FROM
    assert TRIAGE_FROM == {
        Status.REGISTERED,
        Status.TRIAGED,
        Status.IN_MEDIATION,
        Status.NO_AGREEMENT,
    }


def test_no_way_back_to_registered() -> None:
    for targets in TRANSITIONS.values():
        assert Status.REGISTERED not in targets


def test_no_status_transitions_to_itself() -> None:
    for status, targets in TRANSITIONS.items():
        assert status not in targets


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (Status.REGISTERED, Status.TRIAGED),
        (Status.REGISTERED, Status.REFERRED),
        (Status.REGISTERED, Status.WITHDRAWN),
        (Status.TRIAGED, Status.IN_MEDIATION),
        (Status.IN_MEDIATION, Status.AGREEMENT),
        (Status.IN_MEDIATION, Status.NO_AGREEMENT),
        (Status.NO_AGREEMENT, Status.IN_MEDIATION),
        (Status.AGREEMENT, Status.FOLLOW_UP),
        (Status.REFERRED, Status.FOLLOW_UP),
        (Status.WITHDRAWN, Status.FOLLOW_UP),
        (Status.FOLLOW_UP, Status.IN_MEDIATION),
        (Status.FOLLOW_UP, Status.CLOSED),
    ],
)
def test_legal_transitions(current: Status, target: Status) -> None:
    assert can_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (Status.REGISTERED, Status.IN_MEDIATION),
        (Status.REGISTERED, Status.CLOSED),
        (Status.REGISTERED, Status.AGREEMENT),
        (Status.TRIAGED, Status.AGREEMENT),
        (Status.TRIAGED, Status.CLOSED),
        (Status.AGREEMENT, Status.CLOSED),
        (Status.AGREEMENT, Status.IN_MEDIATION),
        (Status.WITHDRAWN, Status.IN_MEDIATION),
        (Status.REFERRED, Status.IN_MEDIATION),
        (Status.FOLLOW_UP, Status.TRIAGED),
        (Status.CLOSED, Status.FOLLOW_UP),
    ],
)
def test_illegal_transitions(current: Status, target: Status) -> None:
    assert not can_transition(current, target)


@pytest.mark.parametrize(
    ("risk", "route"),
    [
        (RiskLevel.HIGH, Route.DEPUTY_CHIEF),
        (RiskLevel.ATTENTION, Route.COMMUNITY_OFFICER),
        (RiskLevel.GENERAL, Route.COMMUNITY_TEAM),
    ],
)
def test_route_for_risk(risk: RiskLevel, route: Route) -> None:
    assert route_for(risk, criminal=False) == route


@pytest.mark.parametrize("risk", list(RiskLevel))
def test_criminal_goes_to_case_team_whatever_the_risk(risk: RiskLevel) -> None:
    assert route_for(risk, criminal=True) == Route.CASE_TEAM


def test_every_risk_has_a_route() -> None:
    assert set(ROUTE_FOR_RISK) == set(RiskLevel)
    assert Route.CASE_TEAM not in ROUTE_FOR_RISK.values()


def test_every_status_has_a_label() -> None:
    assert set(STATUS_LABELS) == {s.value for s in Status}
