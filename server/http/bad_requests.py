"""Requests too broken to reach a handler cost one warning line, not a traceback.

aiohttp answers a request line or header over 8 KB, or a request that is not
HTTP, with 400 itself, and logs it on ``aiohttp.server`` as an error with the
parser's traceback. Anyone can send such requests, so each becomes a single
warning line naming the address and what was wrong (cut short: the reason
quotes the client's bytes).
"""

from __future__ import annotations

import logging

from aiohttp.http_exceptions import HttpProcessingError

#: The logger aiohttp's request handler reports to.
SERVER_LOGGER = "aiohttp.server"
#: How much of the parser's reason goes into the line.
REASON_CHARS = 120


class BadRequestLogFilter(logging.Filter):
    """Rewrites aiohttp's "Error handling request" records for unparsable requests."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) and exc.code == 400:
            remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            reason = " ".join(str(exc.message).split())
            record.msg = "refused a malformed request from %s: %s"
            record.args = (remote, reason[:REASON_CHARS])
            record.exc_info = None
            record.exc_text = None
            record.levelno = logging.WARNING
            record.levelname = logging.getLevelName(logging.WARNING)
        return True


def quiet_bad_requests() -> None:
    """Install the filter once per process (every app and the front share the logger)."""
    logger = logging.getLogger(SERVER_LOGGER)
    if not any(isinstance(f, BadRequestLogFilter) for f in logger.filters):
        logger.addFilter(BadRequestLogFilter())
