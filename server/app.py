"""create_app(config): wiring only."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from zoneinfo import ZoneInfo

from aiohttp import web

from server import cluster, migrate
from server.agreements.settings import SealerSettings
from server.agreements.works import AgreementWorks
from server.config import Config
from server.db import make_engine, make_session_factory
from server.http import middlewares, request_id
from server.http.bad_requests import quiet_bad_requests
from server.http.csrf import CsrfGuard
from server.http.pages import door, experts, verify
from server.http.routes import setup_routes
from server.http.templating import make_environment
from server.i18n import Catalogues
from server.keys import (
    AGREEMENT_DESK,
    CATALOGUES,
    CONFIG,
    CSRF,
    ENGINE,
    HUBS,
    JINJA,
    METRICS,
    MINUTES_DESK,
    ROOM_SOCKETS,
    SCHEMA_HEAD,
    SESSIONS,
    TURN,
    TZ,
    VAULT,
    WORKS,
)
from server.live.rooms import LiveRooms
from server.metrics import AppMetrics
from server.pii import PiiVault
from server.rooms import latency
from server.rooms.codecs import VideoCodec
from server.rooms.media import MediaConfig, PortRange
from server.signaling.agreement import AgreementDesk, AgreementSettings
from server.signaling.endpoint import close_room_sockets
from server.signaling.minutes import MinutesDesk
from server.signaling.notify import WireNotifier
from server.turn import TurnIssuer

logger = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 2 * 1024 * 1024


class SchemaOutOfDate(RuntimeError):
    """The database is not at the code's migration head."""


async def _database(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    engine = make_engine(config.effective_database_url)
    current = await migrate.current_revision(engine)
    head = migrate.head_revision()
    if current != head:
        await engine.dispose()
        raise SchemaOutOfDate(
            f"database is at revision {current!r}, code expects {head!r}: run `concord migrate`"
        )
    app[ENGINE] = engine
    app[SCHEMA_HEAD] = head
    app[SESSIONS] = make_session_factory(engine, vault=app[VAULT])
    yield
    await engine.dispose()


async def _rooms(app: web.Application) -> AsyncIterator[None]:
    """Live rooms need the database; they close (and say so to every socket) before it."""
    config = app[CONFIG]
    worker = app.get(cluster.WORKER)
    desk = AgreementDesk(
        app[SESSIONS],
        AgreementSettings(
            vault=app[VAULT],
            tz=app[TZ],
            link_days=config.agreement_link_days,
            catalogues=app[CATALOGUES],
        ),
    )
    hubs = LiveRooms(
        app[SESSIONS],
        MediaConfig(
            ice_servers=list(config.ice_servers),
            host_addresses=config.ice_host_addresses,
            port_range=PortRange(*config.media_ports) if config.media_ports else None,
        ),
        WireNotifier(desk),
        grace=float(config.room_grace_seconds),
        peers=cluster.Peers(worker) if worker is not None else None,
        video_codec=VideoCodec(config.video_codec),
    )
    app[AGREEMENT_DESK] = desk
    app[MINUTES_DESK] = MinutesDesk(
        app[SESSIONS], app[TZ], timedelta(minutes=config.room_open_minutes_before)
    )
    app[HUBS] = hubs
    await hubs.start()
    yield
    await hubs.close()


async def _agreements(app: web.Application) -> AsyncIterator[None]:
    """The PDF worker process starts on first use and is shut down with the app."""
    works = AgreementWorks(SealerSettings.from_config(app[CONFIG]))
    app[WORKS] = works
    yield
    await works.close()


async def _metrics(app: web.Application) -> AsyncIterator[None]:
    """Feed the histograms from the rooms and the PDF worker; measure the loop while up."""
    metrics = app[METRICS]
    app[HUBS].counters.join_observer = metrics.join_seconds.observe
    app[WORKS].observer = metrics.pdf_step
    metrics.lag.start()
    yield
    await metrics.lag.stop()


def turn_issuer(config: Config) -> TurnIssuer | None:
    """Per-participant TURN credentials when a TURN server is configured (server/turn.py).

    Only browsers get them: the media server keeps ``ice_servers`` alone (see
    server/turn.py for why it needs no relay).
    """
    if not config.turn_enabled or config.turn_secret is None:
        return None
    return TurnIssuer(
        secret=config.turn_secret.get_secret_value().encode(),
        urls=tuple(config.turn_urls),
        lifetime_seconds=config.turn_credential_minutes * 60,
    )


def create_app(config: Config, *, worker: cluster.Worker | None = None) -> web.Application:
    """The whole app; ``worker`` makes it one of several behind the front (server/cluster.py)."""
    stack = [
        middlewares.headers_middleware,
        middlewares.language_middleware,
        middlewares.error_middleware,
        middlewares.session_middleware,
        middlewares.csrf_middleware,
    ]
    if worker is not None:
        # Outermost, to name the worker on every response; the 421 inside the error
        # middleware, which would turn the exception into a 500 page.
        stack.insert(0, cluster.identify_middleware)
        stack.insert(stack.index(middlewares.error_middleware) + 1, cluster.misdirected_middleware)
    # Outermost of all: every line logged about the request, and its answer, carry its id.
    stack.insert(0, request_id.request_id_middleware)
    app = web.Application(client_max_size=MAX_REQUEST_BYTES, middlewares=stack)
    request_id.setup(app)
    quiet_bad_requests()
    if worker is not None:
        app[cluster.WORKER] = worker
    secret = config.secret()
    tz = ZoneInfo(config.timezone)
    app[CONFIG] = config
    app[TZ] = tz
    app[VAULT] = PiiVault(secret)
    app[CSRF] = CsrfGuard(secret)
    app[CATALOGUES] = Catalogues()
    app[TURN] = turn_issuer(config)
    app[JINJA] = make_environment(tz)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_rooms)
    app.cleanup_ctx.append(_agreements)
    app[METRICS] = AppMetrics(rooms=lambda: app.get(HUBS), engine=lambda: app.get(ENGINE))
    app.cleanup_ctx.append(_metrics)
    # Before the server waits for its handlers: room sockets would hold it for its whole
    # shutdown timeout.
    app[ROOM_SOCKETS] = set()
    app.on_shutdown.append(close_room_sockets)
    if config.media_latency_probe:
        latency.PROBE.enable()
    door.setup(app)
    experts.setup(app, secret)
    verify.setup(app)
    setup_routes(app)
    return app
