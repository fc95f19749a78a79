"""The follow-up endpoints of the JSON API (docs/api.md): the list and recording a visit.

Thin, like every handler in server/http/api.py, whose request readers they use:
validate with the models the pages use, call one service in one unit of work,
and let ``error_middleware`` render every refusal in the single error shape.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web

from server.auth import roles
from server.auth.roles import Role
from server.followups import service as followups
from server.followups import views as followup_views
from server.followups.schemas import RecordInput, TaskFilter
from server.http.api import _brief, body_as, iso, query_as, working_actor
from server.http.pages.common import int_param, unit_of_work
from server.keys import CONFIG, TZ


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def followup_json(row: followup_views.TaskRow) -> dict[str, Any]:
    task = row.task
    return {
        "id": task.id,
        "dispute": _brief(row.dispute),
        "office_id": task.office_id,
        "agreement_id": task.agreement_id,
        "kind": task.kind,
        "legal_track": task.legal_track,
        "deadline": _day(task.deadline),
        "due_on": _day(task.due_on),
        "urgency": str(row.level),
        "terms": [int(n) for n in task.terms.split(",") if n],
        "assignee_id": task.assignee_id,
        "status": task.status,
        "version": task.version,
        "created_at": iso(task.created_at),
        "done_at": iso(task.done_at),
    }


async def list_followups(request: web.Request) -> web.StreamResponse:
    """The follow-up list: overdue first, then due today, then later; the page's scope."""
    actor = working_actor(request)
    roles.require(roles.can_read_disputes(actor))
    flt = query_as(request, TaskFilter)
    async with unit_of_work(request) as db:
        rows = await followup_views.list_tasks(db, actor, flt, tz=request.app[TZ])
    return web.json_response({"items": [followup_json(row) for row in rows]})


async def record_followup(request: web.Request) -> web.StreamResponse:
    actor = working_actor(request)
    task_id = int_param(request, "id")
    roles.require(actor.role in (Role.CHIEF, Role.OFFICER))
    data = await body_as(request, RecordInput)
    async with unit_of_work(request) as db:
        done = await followups.record_followup(
            db,
            actor,
            task_id,
            data,
            settings=request.app[CONFIG].followup_settings,
            tz=request.app[TZ],
        )
        results = await followup_views.get_task(db, actor, task_id)
    rec = done.record
    return web.json_response(
        {
            "id": rec.id,
            "task_id": rec.task_id,
            "dispute_id": rec.dispute_id,
            "contacted_at": iso(rec.contacted_at),
            "method": rec.method,
            "reached": rec.reached,
            "outcome": rec.outcome,
            "results": {str(n): result for n, result in results.results.items()},
            "next_step": rec.next_step,
            "next_detail": rec.next_detail,
            "note": rec.note,
            "recorded_by_id": rec.recorded_by_id,
            "recorded_at": iso(rec.recorded_at),
            "dispute_status": str(done.dispute.status),
            "next_url": done.next_url,
        },
        status=201,
    )


def routes(prefix: str) -> list[web.RouteDef]:
    return [
        web.get(f"{prefix}/followups", list_followups),
        web.post(f"{prefix}/followups/{{id}}/record", record_followup),
    ]
