"""统计: the station's figures (tables, SVG charts, CSV/XLSX) and the weekly review list."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from markupsafe import Markup

from server.auth import roles
from server.config import Config
from server.errors import N_, NotAllowed, ValidationFailed
from server.http import render as r
from server.http.charts import Series, horizontal_bars
from server.http.forms import field_messages, parse
from server.http.pages.common import unit_of_work
from server.i18n import gettext
from server.keys import CONFIG, TZ
from server.local_time import local_today
from server.models import utcnow
from server.staff import service as staff_service
from server.stats import exports, figures, review
from server.stats.figures import DEFINITIONS, DIMENSION_LABELS, DIMENSIONS, Figures
from server.stats.period import StatsFilter

FILTER_FIELDS = ("date_from", "date_to", "office_id")


def stats_filter(request: web.Request) -> StatsFilter:
    """The query's filter; empty values mean "not given", other parameters are ignored."""
    query = {k: v for k, v in request.query.items() if k in FILTER_FIELDS and v != ""}
    return parse(StatsFilter, query)


async def load_figures(request: web.Request, flt: StatsFilter) -> Figures:
    tz = request.app[TZ]
    async with unit_of_work(request) as db:
        return await figures.compute(db, r.actor(request), flt, tz=tz, today=local_today(tz))


def _require_stats(request: web.Request) -> None:
    if not roles.can_read_stats(r.actor(request)):
        raise NotAllowed(N_("Your role does not allow this."))


async def _office_options(request: web.Request) -> list[tuple[int | None, str]]:
    actor = r.actor(request)
    async with unit_of_work(request) as db:
        offices = await staff_service.offices(db, actor.station_id)
    if actor.role in roles.OFFICE_ROLES:
        return [(o.id, o.name) for o in offices if o.id == actor.office_id]
    return [(o.id, o.name) for o in offices]


def charts(result: Figures) -> list[Markup]:
    months = result.by["month"]
    offices = result.by["office"]
    categories = [row for row in result.by["category"] if row.handled]
    return [
        horizontal_bars(
            gettext("Disputes by month"),
            [row.key for row in months],
            [
                Series(gettext("Disputes registered"), [row.registered for row in months]),
                Series(gettext("Resolved by mediation"), [row.resolved for row in months]),
            ],
        ),
        horizontal_bars(
            gettext("Resolution rate by beat office"),
            [exports.label_of(row, gettext) for row in offices],
            [Series(gettext("Resolution rate"), [row.rate or 0.0 for row in offices])],
            percent=True,
        ),
        horizontal_bars(
            gettext("Resolution rate by category"),
            [exports.label_of(row, gettext) for row in categories],
            [Series(gettext("Resolution rate"), [row.rate or 0.0 for row in categories])],
            percent=True,
        ),
    ]


async def stats_page(request: web.Request) -> web.StreamResponse:
    _require_stats(request)
    context: dict[str, Any] = {
        "form": {k: v for k, v in request.query.items() if k in FILTER_FIELDS},
        "office_options": await _office_options(request),
        "dimensions": DIMENSIONS,
        "dimension_labels": DIMENSION_LABELS,
        "columns": exports.COLUMNS,
        "definitions": DEFINITIONS,
        "query": request.query_string,
    }
    try:
        result = await load_figures(request, stats_filter(request))
    except ValidationFailed as exc:
        context.update(errors=field_messages(exc), error=r.message_of(exc))
        return r.render(request, "stats/figures.html", context, status=422)
    context.update(figures=result, charts=charts(result), errors={})
    # The period in effect, shown in the filter, so a changed filter starts from it.
    context["form"].setdefault("date_from", result.period.start.isoformat())
    context["form"].setdefault("date_to", result.period.end.isoformat())
    return r.render(request, "stats/figures.html", context)


def _filename(result: Figures, ext: str) -> str:
    return f"concord-stats-{result.period.start.isoformat()}-{result.period.end.isoformat()}.{ext}"


async def stats_csv(request: web.Request) -> web.StreamResponse:
    _require_stats(request)
    result = await load_figures(request, stats_filter(request))
    return web.Response(
        body=exports.to_csv(result, gettext),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{_filename(result, "csv")}"'},
    )


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def stats_xlsx(request: web.Request) -> web.StreamResponse:
    _require_stats(request)
    result = await load_figures(request, stats_filter(request))
    return web.Response(
        body=exports.to_xlsx(result, gettext),
        content_type=XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{_filename(result, "xlsx")}"'},
    )


async def load_review(request: web.Request, flt: StatsFilter) -> review.Review:
    config: Config = request.app[CONFIG]
    async with unit_of_work(request) as db:
        return await review.compute(
            db,
            r.actor(request),
            flt,
            tz=request.app[TZ],
            now=utcnow(),
            late_after_days=config.review_high_risk_days,
        )


async def review_page(request: web.Request) -> web.StreamResponse:
    _require_stats(request)
    options = await _office_options(request)
    context: dict[str, Any] = {
        "form": {k: v for k, v in request.query.items() if k in FILTER_FIELDS},
        "office_options": options,
        "office_names": dict(options),
        "match_labels": review.MATCH_LABELS,
    }
    try:
        result = await load_review(request, stats_filter(request))
    except ValidationFailed as exc:
        context.update(errors=field_messages(exc), error=r.message_of(exc))
        return r.render(request, "stats/review.html", context, status=422)
    context.update(review=result, errors={})
    context["form"].setdefault("date_from", result.period.start.isoformat())
    context["form"].setdefault("date_to", result.period.end.isoformat())
    return r.render(request, "stats/review.html", context)


ROUTES = [
    web.get("/stats", stats_page, name="stats"),
    web.get("/stats.csv", stats_csv),
    web.get("/stats.xlsx", stats_xlsx),
    web.get("/stats/review", review_page, name="stats_review"),
]
