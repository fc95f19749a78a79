"""Every ``web.AppKey`` in one place, typed."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from server.agreements.works import AgreementWorks
from server.config import Config
from server.db import SessionFactory
from server.http.csrf import CsrfGuard
from server.i18n import Catalogues
from server.live.rooms import LiveRooms
from server.metrics import AppMetrics
from server.pii import PiiVault
from server.signaling.agreement import AgreementDesk
from server.signaling.connection import SignalConnection
from server.signaling.minutes import MinutesDesk
from server.turn import TurnIssuer

CONFIG = web.AppKey("config", Config)
ENGINE = web.AppKey("engine", AsyncEngine)
SESSIONS = web.AppKey("session_factory", SessionFactory)
VAULT = web.AppKey("pii_vault", PiiVault)
CSRF = web.AppKey("csrf_guard", CsrfGuard)
JINJA = web.AppKey("jinja", jinja2.Environment)
CATALOGUES = web.AppKey("catalogues", Catalogues)
TZ = web.AppKey("timezone", ZoneInfo)
#: The live rooms of this process (``server.live.rooms``).
HUBS = web.AppKey("room_hubs", LiveRooms)
AGREEMENT_DESK = web.AppKey("agreement_desk", AgreementDesk)
MINUTES_DESK = web.AppKey("minutes_desk", MinutesDesk)
#: Every open room socket, joined or not: told 1001 when the server stops.
ROOM_SOCKETS = web.AppKey[set[SignalConnection]]("room_sockets")
WORKS = web.AppKey("agreement_works", AgreementWorks)
#: Mints each participant's TURN credentials; None when no TURN server is configured.
TURN = web.AppKey[TurnIssuer | None]("turn_issuer")
#: This app's Prometheus registry and what feeds it (``server.metrics``).
METRICS = web.AppKey("metrics", AppMetrics)
#: The migration head this code expects (checked at start-up and by /readyz).
SCHEMA_HEAD = web.AppKey[str | None]("schema_head")
