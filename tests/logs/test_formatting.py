"""The two line formats, the context they carry, and installing them on the root logger."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from datetime import datetime

import pytest

from server.logs import context
from server.logs.formatting import ContextFilter, HumanFormatter, JsonFormatter
from server.logs.redact import PHONE_MASK, RedactingFilter
from server.logs.setup import configure_logging


def stamped(msg: str, *args: object, exc: bool = False) -> logging.LogRecord:
    info = None
    if exc:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            info = sys.exc_info()
    rec = logging.LogRecord("server.test", logging.WARNING, __file__, 1, msg, args, info)
    ContextFilter(worker=2).filter(rec)
    return rec


async def test_json_lines_carry_every_field() -> None:
    context.set_request("req-1")
    context.set_session(12)
    line = JsonFormatter().format(stamped("room %s: 会话", 12, exc=True))
    assert "\n" not in line
    fields = json.loads(line)
    assert fields["level"] == "WARNING" and fields["logger"] == "server.test"
    assert fields["message"] == "room 12: 会话"
    assert fields["request_id"] == "req-1" and fields["session_id"] == 12
    assert fields["worker"] == 2
    assert "RuntimeError: boom" in fields["exception"]
    assert fields["time"].endswith("Z")
    assert datetime.fromisoformat(fields["time"].replace("Z", "+00:00")).utcoffset() is not None


async def test_unknown_context_is_null_in_json_and_absent_in_human_lines() -> None:
    fields = json.loads(JsonFormatter().format(stamped("quiet")))
    assert fields["request_id"] is None and fields["session_id"] is None
    assert "exception" not in fields
    assert HumanFormatter().format(stamped("quiet")).endswith("[worker 2] server.test: quiet")


async def test_human_lines_say_the_same() -> None:
    context.set_request("req-2")
    context.set_session(7)
    line = HumanFormatter().format(stamped("room %s opened", 7, exc=True))
    first, _, rest = line.partition("\n")
    assert first.endswith(
        " WARNING [worker 2] server.test: room 7 opened [request=req-2 session=7]"
    )
    assert "RuntimeError: boom" in rest


async def test_a_snapshot_puts_the_context_back_around_later_work() -> None:
    context.set_request("first")
    saved = context.snapshot()
    context.set_request("second")
    with context.restored(saved):
        assert context.REQUEST_ID.get() == "first"
    assert context.REQUEST_ID.get() == "second"
    with context.room(5):
        assert context.SESSION_ID.get() == 5
    assert context.SESSION_ID.get() is None


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("0123456789abcdef0123456789abcdef", True),
        ("3f2b9c1e-4a5d-4b8e-9c1f-2a3b4c5d6e7f", True),
        ("a b", False),
        ("x" * 65, False),
        ("line\nbreak", False),
        ("", False),
    ],
)
def test_incoming_request_ids_must_be_plain(value: str, ok: bool) -> None:
    assert context.valid_request_id(value) is ok


@pytest.fixture
def root_restored() -> Iterator[None]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    filters = {h: list(h.filters) for h in handlers}
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    for handler, kept in filters.items():
        handler.filters[:] = kept
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(logging.NOTSET)


def test_configuring_twice_replaces_our_handler_and_masks_every_handler(
    root_restored: None,
) -> None:
    other = logging.StreamHandler(io.StringIO())
    logging.getLogger().addHandler(other)
    first = io.StringIO()
    configure_logging("human", stream=first)
    second = io.StringIO()
    configure_logging("json", stream=second, worker=1)
    logging.getLogger("server.test").info("call %s", "13800138001")
    assert first.getvalue() == ""
    fields = json.loads(second.getvalue())
    assert fields["message"] == f"call {PHONE_MASK}" and fields["worker"] == 1
    assert any(isinstance(f, RedactingFilter) for f in other.filters)
    assert logging.getLogger().level == logging.INFO
    assert logging.getLogger("alembic").level == logging.WARNING
