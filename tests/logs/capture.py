"""Log capture for tests: the production set-up (JSON lines, all loggers at DEBUG) to a buffer."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from server.http.access_log import runner_options
from server.logs.setup import NO_DEBUG_LOGGERS, QUIET_LOGGERS, configure_logging

#: Loggers that set their own level (SQLAlchemy sets itself to WARNING on import, and
#: production keeps aiosqlite at INFO): a capture opens them all to DEBUG, the worst case.
OWN_LEVEL_LOGGERS = ("sqlalchemy", "aiohttp.access", *NO_DEBUG_LOGGERS)


class Captured:
    """What was logged so far, as text and as parsed JSON lines."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        """Every line, parsed: a line that is not one JSON object fails the test."""
        parsed = []
        for raw in self.text.splitlines():
            value = json.loads(raw)
            assert isinstance(value, dict), raw
            parsed.append(value)
        return parsed

    def where(self, **fields: Any) -> list[dict[str, Any]]:
        return [line for line in self.lines() if all(line.get(k) == v for k, v in fields.items())]


@contextmanager
def captured_logs() -> Iterator[Captured]:
    """``concord serve --log-format json -v`` into a buffer, every logger at DEBUG.

    The root logger and the levels changed are put back after.
    """
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    filters = {handler: list(handler.filters) for handler in handlers}
    levels = {name: logging.getLogger(name).level for name in OWN_LEVEL_LOGGERS}
    stream = io.StringIO()
    handler = configure_logging("json", verbose=True, stream=stream)
    for name in OWN_LEVEL_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield Captured(stream)
    finally:
        root.removeHandler(handler)
        for kept, kept_filters in filters.items():
            kept.filters[:] = kept_filters
        root.setLevel(level)
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)
        for name, kept_level in levels.items():
            logging.getLogger(name).setLevel(kept_level)


class ProductionServer(TestServer):
    """A test server whose runner is set up as ``concord serve`` sets up its own.

    With our access log, and without aiohttp's test-only handler cancellation:
    ``web.run_app`` lets a handler finish when its client goes, which is when a
    room socket's access line is written.
    """

    async def _make_runner(self, **kwargs: Any) -> web.AppRunner:
        kwargs.pop("handler_cancellation", None)
        return web.AppRunner(self.app, **kwargs, **runner_options())


async def served(app: web.Application) -> TestServer:
    """``app`` on a ``ProductionServer`` (``aiohttp_client(app, server_kwargs=...)`` does
    not pass runner options on)."""
    server = ProductionServer(app)
    await server.start_server()
    return server


async def production_client(aiohttp_client: Any, app: web.Application) -> TestClient[Any, Any]:
    """A test client of ``app`` on a ``ProductionServer``; ``aiohttp_client`` closes it."""
    client: TestClient[Any, Any] = await aiohttp_client(await served(app))
    return client
