"""The wire models, and that docs/protocol.md documents exactly them."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
from pydantic import ValidationError

from server.signaling import messages
from server.signaling import notifications as n
from server.signaling.connection import CloseReason, FloodGate

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def _type_names(union: typing.Any) -> set[str]:
    args = typing.get_args(union)
    if args and typing.get_origin(union) is typing.Annotated:
        args = typing.get_args(args[0])
    return {typing.get_args(m.model_fields["type"].annotation)[0] for m in args}


CLIENT_TYPES = _type_names(messages.ClientMessage)
SERVER_TYPES = _type_names(n.ServerNotification)


def documented() -> set[str]:
    return set(re.findall(r"^### `([a-z_]+)`", DOC.read_text(), flags=re.M))


def test_every_message_type_is_documented_and_nothing_else() -> None:
    assert documented() == CLIENT_TYPES | SERVER_TYPES


def test_every_close_code_is_documented() -> None:
    text = DOC.read_text()
    for reason in CloseReason:
        assert f"| {int(reason)} | `{reason.name.lower()}` |" in text, reason


def test_host_requests_exist() -> None:
    assert messages.HOST_REQUESTS <= CLIENT_TYPES


def test_a_request_parses_by_its_type() -> None:
    msg = messages.CLIENT_ADAPTER.validate_json(
        '{"type": "mute", "id": 3, "participant_id": "inv-2"}'
    )
    assert isinstance(msg, messages.Mute) and msg.participant_id == "inv-2"


@pytest.mark.parametrize(
    "raw",
    [
        '{"type": "no_such_thing", "id": 1}',
        '{"type": "mute", "id": 1}',
        '{"type": "mute", "id": "x", "participant_id": "a"}',
        '{"type": "send_chat", "id": 1, "text": ""}',
        '{"type": "send_chat", "id": 1, "text": "hi", "extra": 1}',
        '{"type": "open_caucus", "id": 1, "participant_ids": []}',
        '{"id": 1}',
        "[]",
    ],
)
def test_malformed_requests_are_refused(raw: str) -> None:
    with pytest.raises(ValidationError):
        messages.CLIENT_ADAPTER.validate_json(raw)


def test_flood_gate() -> None:
    now = [100.0]
    gate = FloodGate(rate=10, burst=5, clock=lambda: now[0])
    assert all(gate.allow() for _ in range(5))
    assert not gate.allow()
    now[0] = 100.2  # two tokens back after 0.2 s at 10/s
    assert gate.allow() and gate.allow()
    assert not gate.allow()
