"""Install the log format, the context and the masking on the root logger.

Every handler on the root logger gets the redacting filter, not only ours:
one left without it (a library's, a debugging session's) would write what
the others mask. Records of every logger (``aiohttp.access``, SQLAlchemy,
aiortc) propagate to the root, so its handlers see them all.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from server.logs.formatting import ContextFilter, LogFormat, formatter_for
from server.logs.redact import RedactingFilter

#: Marks the handler this module installed, so configuring again replaces it.
_OURS = "_concord_handler"
#: Chatty at INFO and of no use to an operator unless debugging.
QUIET_LOGGERS = ("alembic",)
#: Kept at INFO even when debugging: aiosqlite's debug lines repeat every statement with
#: the values bound to it (names, telephones), past SQLAlchemy's ``hide_parameters``, and
#: SQLAlchemy's own lines already say what ran.
NO_DEBUG_LOGGERS = ("aiosqlite",)


def configure_logging(
    log_format: LogFormat = "human",
    *,
    verbose: bool = False,
    worker: int | None = None,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Log to ``stream`` (standard error) in ``log_format``; returns the handler.

    ``worker`` names the process in every line when several serve together.
    Calling it again (the settings are read after the command line) replaces
    the handler it installed before.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _OURS, False):
            root.removeHandler(handler)
            handler.close()
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _OURS, True)
    handler.setFormatter(formatter_for(log_format))
    handler.addFilter(ContextFilter(worker))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if verbose else logging.WARNING)
    for name in NO_DEBUG_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)
    protect_handlers(root)
    return handler


def protect_handlers(logger: logging.Logger) -> None:
    """Put the redacting filter on every handler of ``logger`` that has none, last."""
    for handler in logger.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
