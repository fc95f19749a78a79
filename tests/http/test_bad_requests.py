"""Requests aiohttp cannot parse: a 400 and one warning line each, no traceback."""

from __future__ import annotations

import logging

import pytest

from server.http.bad_requests import REASON_CHARS, BadRequestLogFilter
from tests.conftest import Client


async def test_oversized_urls_and_headers_cost_one_warning_line(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    for path, headers in (
        ("/disputes?q=" + "a" * 9000, {}),
        ("/" + "b" * 20_000, {}),
        ("/login", {"X-Padding": "c" * 9000}),
    ):
        caplog.clear()
        response = await client.get(path, headers=headers)
        assert response.status == 400
        loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(loud) == 1, [r.getMessage()[:200] for r in loud]
        line = loud[0]
        assert line.levelno == logging.WARNING and line.exc_info is None
        assert line.getMessage().startswith("refused a malformed request from 127.0.0.1: ")
        assert len(line.getMessage()) < 100 + REASON_CHARS and "\n" not in line.getMessage()
    # The server still answers properly afterwards.
    assert (await client.get("/login")).status == 200


def test_errors_from_handlers_stay_errors() -> None:
    """Only the parser's 400s are quietened: the filter leaves every other record alone."""
    try:
        raise RuntimeError("a bug")
    except RuntimeError as exc:
        record = logging.LogRecord(
            "aiohttp.server",
            logging.ERROR,
            __file__,
            1,
            "Error handling request from %s",
            ("127.0.0.1",),
            (type(exc), exc, exc.__traceback__),
        )
    assert BadRequestLogFilter().filter(record)
    assert record.levelno == logging.ERROR and record.exc_info is not None
