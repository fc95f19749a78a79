"""GET /api/v1/stats and /api/v1/stats/review: the same figures as the page, as JSON.

Labels come in the reader's language beside stable keys; the rate is a
fraction (0.5 = 50 %) or null when nothing was handled.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.http.api import PREFIX, iso, query_as, working_actor
from server.http.pages.stats import load_figures, load_review
from server.i18n import gettext
from server.stats.figures import COUNTS_ALL, DEFINITIONS, Row
from server.stats.period import StatsFilter
from server.stats.review import Review


def row_json(row: Row) -> dict[str, Any]:
    return {
        "key": row.key,
        "label": gettext(row.label) if row.translate else row.label,
        **{name: getattr(row, name) for name in COUNTS_ALL},
        "rate": row.rate,
        "median_days": row.median_days,
    }


async def stats(request: web.Request) -> web.StreamResponse:
    working_actor(request)
    result = await load_figures(request, query_as(request, StatsFilter))
    return web.json_response(
        {
            "period": {
                "from": result.period.start.isoformat(),
                "to": result.period.end.isoformat(),
            },
            "office_id": result.office_id,
            "total": row_json(result.total),
            "by": {name: [row_json(row) for row in rows] for name, rows in result.by.items()},
            "definitions": {key: gettext(text) for key, text in DEFINITIONS.items()},
        }
    )


def review_json(result: Review) -> dict[str, Any]:
    return {
        "period": {"from": result.period.start.isoformat(), "to": result.period.end.isoformat()},
        "office_id": result.office_id,
        "late_after_days": result.late_after_days,
        "late_total": result.late_total,
        "late": [
            {
                "dispute_id": d.id,
                "reference": d.reference,
                "title": d.title,
                "office_id": d.office_id,
                "status": d.status,
                "registered_at": iso(d.created_at),
                "days": d.days,
            }
            for d in result.late
        ],
        "repeats": [
            {
                "match": r.match,
                "shown": r.shown,
                "disputes": [
                    {"dispute_id": a.dispute_id, "reference": a.reference, "name": a.name}
                    for a in r.appearances
                ],
            }
            for r in result.repeats
        ],
        "reopened": [
            {
                "dispute_id": x.dispute_id,
                "reference": x.reference,
                "at": iso(x.at),
                "by": x.link_kind,
                "link_id": x.link_id,
            }
            for x in result.reopened
        ],
    }


async def stats_review(request: web.Request) -> web.StreamResponse:
    working_actor(request)
    return web.json_response(
        review_json(await load_review(request, query_as(request, StatsFilter)))
    )


ROUTES = [
    web.get(f"{PREFIX}/stats", stats),
    web.get(f"{PREFIX}/stats/review", stats_review),
]
