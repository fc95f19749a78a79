"""Log records as lines: human by default, JSON lines on request.

Both carry the same fields (time in UTC, level, logger, message, the request
id, the room's session id, the worker, any traceback): the human line for a
terminal or journald, the JSON line for a log collector that indexes fields
(one object per line, so a line is never split by a traceback).

The standard library's ``logging`` is enough: a filter adds the context, a
formatter writes the line. python-json-logger would write the JSON half only,
and neither half is more than a dictionary and ``json.dumps``.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any, Literal

from server.logs import context

LogFormat = Literal["human", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("human", "json")


class ContextFilter(logging.Filter):
    """Stamps each record with the request, the room and the worker it belongs to.

    Values already on the record win: the access log names the request it
    logs itself (aiohttp writes that line after the handler has returned).
    """

    def __init__(self, worker: int | None = None) -> None:
        super().__init__()
        self.worker = worker

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = context.REQUEST_ID.get()
        if getattr(record, "session_id", None) is None:
            record.session_id = context.SESSION_ID.get()
        record.worker = self.worker
        return True


def utc_time(record: logging.LogRecord) -> str:
    """ISO 8601 in UTC to the millisecond: ``2026-12-08T01:55:14.123Z``."""
    when = datetime.fromtimestamp(record.created, tz=UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def fields_of(record: logging.LogRecord, exception: str | None) -> dict[str, Any]:
    """The fields every line has, in order; the optional ones only when known."""
    fields: dict[str, Any] = {
        "time": utc_time(record),
        "level": record.levelname,
        "logger": record.name,
        "message": record.getMessage(),
        "request_id": getattr(record, "request_id", None),
        "session_id": getattr(record, "session_id", None),
    }
    worker = getattr(record, "worker", None)
    if worker is not None:
        fields["worker"] = worker
    http = getattr(record, "http", None)
    if isinstance(http, dict):
        fields["http"] = http
    if exception:
        fields["exception"] = exception
    return fields


class _Formatter(logging.Formatter):
    def exception_text(self, record: logging.LogRecord) -> str | None:
        """The traceback and stack, formatted once and kept (the redacting filter's copy)."""
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        parts = [part for part in (record.exc_text, record.stack_info) if part]
        return "\n".join(parts) or None


class JsonFormatter(_Formatter):
    """One JSON object per line; Chinese stays readable (no ``\\u`` escapes)."""

    def format(self, record: logging.LogRecord) -> str:
        fields = fields_of(record, self.exception_text(record))
        return json.dumps(fields, ensure_ascii=False, default=str)


class HumanFormatter(_Formatter):
    """``<time> INFO [worker 1] server.live.rooms: room 12: opened [request=… session=12]``."""

    def format(self, record: logging.LogRecord) -> str:
        fields = fields_of(record, self.exception_text(record))
        worker = f" [worker {fields['worker']}]" if "worker" in fields else ""
        tags = [
            f"{name}={fields[key]}"
            for key, name in (("request_id", "request"), ("session_id", "session"))
            if fields[key] is not None
        ]
        line = f"{fields['time']} {fields['level']}{worker} {fields['logger']}: {fields['message']}"
        if tags:
            line += f" [{' '.join(tags)}]"
        if "exception" in fields:
            line += "\n" + fields["exception"]
        return line


def formatter_for(log_format: LogFormat) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else HumanFormatter()
