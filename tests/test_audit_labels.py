"""The audit trail's codes in words: every action the code records has a label."""

from __future__ import annotations

import re
from pathlib import Path

from server.audit_labels import ACTION_LABELS, detail_items

SERVER = Path(__file__).resolve().parent.parent / "server"
#: ``record(db, actor, "dispute.register", ...)`` and ``action = "room.mute"`` alike.
ACTION = re.compile(r'record\(\s*\w+,\s*[\w.]+,\s*"([a-z_]+\.[a-z_]+)"|"((?:room)\.[a-z_]+)"')


def test_every_recorded_action_has_a_label() -> None:
    recorded = set()
    for path in SERVER.rglob("*.py"):
        for match in ACTION.finditer(path.read_text(encoding="utf-8")):
            recorded.add(match.group(1) or match.group(2))
    assert recorded, "no recorded action found: the pattern is out of date"
    assert recorded - set(ACTION_LABELS) == set()


def test_detail_values_from_label_tables_are_message_ids() -> None:
    items = detail_items('{"from": "triaged", "to": "in_mediation", "version": 2, "ok": true}')
    assert items == [
        ("From", "Triaged", True),
        ("To", "In mediation", True),
        ("Version", "2", False),
        ("ok", "yes", True),
    ]


def test_a_detail_that_is_not_an_object_is_shown_as_it_is() -> None:
    assert detail_items("not json") == [("", "not json", False)]
    assert detail_items("[1, 2]") == [("", "[1, 2]", False)]
