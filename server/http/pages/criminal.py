"""The 民转刑 form on the dispute page."""

from __future__ import annotations

from aiohttp import web

from server.disputes.criminal import CriminalInput, mark_criminal
from server.http import render as r
from server.http.forms import parse
from server.http.pages.common import (
    FORM_REFUSALS,
    clean,
    form_data,
    int_param,
    redirect,
    unit_of_work,
)
from server.http.pages.disputes import _rerender
from server.keys import TZ


async def criminal_submit(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    dispute_id = int_param(request, "id")
    data = await form_data(request)
    try:
        parsed = parse(
            CriminalInput, clean(data, "criminal_on", "criminal_case_ref", "expected_version")
        )
        async with unit_of_work(request) as db:
            await mark_criminal(db, actor, dispute_id, parsed, tz=request.app[TZ])
    except FORM_REFUSALS as exc:
        return await _rerender(request, actor, dispute_id, exc, "criminal")
    raise redirect(f"/disputes/{dispute_id}?notice=criminal")


ROUTES = [web.post("/disputes/{id}/criminal", criminal_submit)]
