"""Every route in one table."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from server import cluster
from server.http import api, api_alerts, api_followups, api_stats, health
from server.http.middlewares import client_ip
from server.http.pages import (
    admin,
    agreements,
    alerts,
    auth,
    calendar,
    camera_help,
    criminal,
    disputes,
    door,
    expert_availability,
    experts,
    followups,
    judicial,
    lan_ca,
    minutes,
    room,
    rota,
    sessions,
    signing,
    spotchecks,
    stats,
    verify,
    workdays,
)
from server.ids import parse_id
from server.keys import HUBS
from server.rooms import latency
from server.signaling.endpoint import room_socket

STATIC_DIR = Path(__file__).resolve().parent.parent.parent / "web" / "static"


def setup_routes(app: web.Application) -> None:
    app.router.add_routes(
        [
            web.get("/login", auth.login_page, name="login"),
            web.post("/login", auth.login_submit),
            web.post("/logout", auth.logout_submit, name="logout"),
            web.get("/password", auth.password_page, name="password"),
            web.post("/password", auth.password_submit),
            web.get("/lang/{lang}", auth.switch_language, name="language"),
            web.get("/", disputes.dashboard, name="dashboard"),
            web.get("/disputes", disputes.list_page, name="disputes"),
            web.get("/disputes/new", disputes.register_page, name="register"),
            web.post("/disputes/new", disputes.register_submit),
            web.get("/disputes/{id}", disputes.detail_page, name="dispute"),
            web.post("/disputes/{id}/triage", disputes.triage_submit),
            web.post("/disputes/{id}/status", disputes.transition_submit),
            web.post("/disputes/{id}/parties", disputes.party_submit),
            web.post("/disputes/{id}/parties/{party_id}/reveal", disputes.reveal_submit),
            web.get("/admin", admin.overview, name="admin"),
            web.get("/admin/offices/new", admin.office_form),
            web.post("/admin/offices/new", admin.office_submit),
            web.get("/admin/offices/{id}", admin.office_form),
            web.post("/admin/offices/{id}", admin.office_submit),
            web.get("/admin/users/new", admin.user_form),
            web.post("/admin/users/new", admin.user_submit),
            web.get("/admin/users/{id}", admin.user_form),
            web.post("/admin/users/{id}", admin.user_submit),
            web.get("/admin/seal", admin.seal_page),
            web.post("/admin/seal", admin.seal_submit),
            web.get("/admin/seal.png", admin.seal_image),
            web.get("/audit", admin.audit_page, name="audit"),
            web.get("/healthz", health.healthz),
            web.get("/readyz", health.readyz),
            web.get("/metrics", health.metrics),
            web.get("/_internal/media/latency", media_latency),
            web.get("/ws/room", room_socket, name="room_socket"),
            web.post(cluster.AGREEMENT_CHANGED_ROUTE, agreement_event),
            web.post(cluster.SIGNED_OUT_ROUTE, signed_out_event),
        ]
    )
    app.router.add_routes(expert_availability.ROUTES)
    app.router.add_routes(rota.ROUTES)
    app.router.add_routes(experts.ROUTES)
    app.router.add_routes(criminal.ROUTES)
    app.router.add_routes(stats.ROUTES)
    app.router.add_routes(calendar.ROUTES)
    app.router.add_routes(sessions.ROUTES)
    app.router.add_routes(door.ROUTES)
    app.router.add_routes(camera_help.ROUTES)
    app.router.add_routes(room.ROUTES)
    app.router.add_routes(signing.ROUTES)
    app.router.add_routes(agreements.ROUTES)
    app.router.add_routes(minutes.ROUTES)
    app.router.add_routes(verify.ROUTES)
    app.router.add_routes(judicial.ROUTES)
    app.router.add_routes(workdays.ROUTES)
    app.router.add_routes(spotchecks.ROUTES)
    app.router.add_routes(followups.ROUTES)
    app.router.add_routes(alerts.ROUTES)
    app.router.add_routes(lan_ca.ROUTES)
    app.router.add_routes(api_alerts.ROUTES)
    api.setup_api_routes(app)
    app.router.add_routes(api_followups.routes(api.PREFIX))
    app.router.add_routes(api_stats.ROUTES)
    app.router.add_static("/static", STATIC_DIR, name="static", append_version=True)


#: Who may read the latency probe: the machine itself (a benchmark beside the server).
LOOPBACK = frozenset({"127.0.0.1", "::1"})


async def media_latency(request: web.Request) -> web.Response:
    """The latency probe's figures, for a benchmark on the same machine.

    Only when ``media_latency_probe`` is on, and only to a loopback caller
    talking to this process directly (the front of ``--workers N`` keeps
    every ``/_internal/`` path to itself).
    """
    if not latency.PROBE.enabled or client_ip(request) not in LOOPBACK:
        raise web.HTTPNotFound()
    return web.json_response(latency.PROBE.snapshot(reset=request.query.get("reset") == "1"))


async def agreement_event(request: web.Request) -> web.Response:
    """Another worker says a room of ours has a changed agreement (``LiveRooms.agreement_changed``).

    Internal: only a sibling worker, over this worker's private socket and
    with the run's secret, is answered; anyone else finds nothing here.
    """
    if not cluster.internal_allowed(request):
        raise web.HTTPNotFound()
    session_id = parse_id(request.match_info["id"])
    if session_id is None:
        raise web.HTTPNotFound()
    if not request.app[cluster.WORKER].owns(session_id):
        # Never pass it on again: two workers that disagreed would bounce it for ever.
        return web.Response(status=421)
    request.app[HUBS].agreement_changed(session_id)
    return web.Response(status=204)


agreement_event.csrf_exempt = True  # type: ignore[attr-defined]


async def signed_out_event(request: web.Request) -> web.Response:
    """Another worker says a staff account signed out: end its room sockets here too.

    Internal, like ``agreement_event``; never passed on again.
    """
    if not cluster.internal_allowed(request):
        raise web.HTTPNotFound()
    raw = request.match_info["id"]
    if not raw.isdigit() or len(raw) > 12:
        raise web.HTTPNotFound()
    rooms = request.app[HUBS]
    rooms.track(asyncio.create_task(rooms.end_sessions_of(int(raw)), name=f"out-{raw}"))
    return web.Response(status=204)


signed_out_event.csrf_exempt = True  # type: ignore[attr-defined]
