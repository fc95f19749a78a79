"""The access log: one line per request, with its id, on ``aiohttp.access``.

aiohttp's own ``AccessLogger`` writes the Referer and User-Agent too, and its
fields as free text; this one writes what an operator needs (client, method,
path, status, size, duration), also as fields (``http``) for JSON lines. The
path carries invitation and signing tokens (``/j/<token>``, ``?token=``): the
redacting filter every handler has (server/logs/redact.py) masks them in the
line and in the fields alike, one rule for every line.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest

from server.http.middlewares import client_ip
from server.http.request_id import REQUEST_ID
from server.keys import CONFIG

LOGGER_NAME = "aiohttp.access"


class AccessLog(AbstractAccessLogger):
    """``<client> "<method> <path>" <status> <bytes> <ms>ms``, fields also under ``http``."""

    def log(self, request: BaseRequest, response: web.StreamResponse, time: float) -> None:
        path = request.rel_url.raw_path_qs
        client = _client(request)
        duration_ms = round(time * 1000, 1)
        size = response.body_length
        fields: dict[str, Any] = {
            "client": client,
            "method": request.method,
            "path": path,
            "status": response.status,
            "bytes": size,
            "duration_ms": duration_ms,
        }
        request_id = request.get(REQUEST_ID) if isinstance(request, web.Request) else None
        self.logger.info(
            '%s "%s %s" %d %d %.1fms',
            client,
            request.method,
            path,
            response.status,
            size,
            duration_ms,
            extra={"request_id": request_id, "http": fields},
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


def _client(request: BaseRequest) -> str:
    """The client's address as the app sees it (behind trusted proxies, the client's own)."""
    if isinstance(request, web.Request) and CONFIG in request.config_dict:
        return client_ip(request) or "-"
    return "-"


def runner_options() -> dict[str, Any]:
    """What ``web.run_app`` or ``web.AppRunner`` take to write this access log."""
    return {"access_log": logging.getLogger(LOGGER_NAME), "access_log_class": AccessLog}
