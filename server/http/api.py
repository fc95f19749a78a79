"""The JSON API under /api/v1/ (see docs/api.md)."""

from __future__ import annotations

from aiohttp import web


def setup_api_routes(app: web.Application) -> None:
    app.router.add_routes([])
