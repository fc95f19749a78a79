"""The invitations-issued page: each invitee's link, its QR code, its text, the printable sheet.

Tokens exist only in the response that issues them (the database keeps their
hash), so booking, inviting and reissuing *render* this page instead of
redirecting to it; that page is never cached. It is its own module because
both the booking form and the session page's invite and reissue forms end here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web
from markupsafe import Markup
from sqlmodel.ext.asyncio.session import AsyncSession

from server.auth.roles import Actor
from server.errors import N_
from server.http import render as r
from server.http.pages.common import _sees_phones, _staff_names
from server.http.qr import qr_svg
from server.i18n import gettext
from server.keys import CONFIG, TZ
from server.models import Dispute, Invitation, MediationSession
from server.sessions import texts
from server.sessions.invitations import Issued
from server.sessions.rules import InviteeRole
from server.staff import service as staff_service

QR_TITLE = N_("QR code of the personal link")


@dataclass(frozen=True)
class Card:
    """One invitee's link as it is handed out: on screen, by text message, on paper."""

    invitation: Invitation
    link: str
    qr: Markup
    text: str
    role_zh: str


async def _issued_context(
    request: web.Request,
    db: AsyncSession,
    actor: Actor,
    session: MediationSession,
    dispute: Dispute,
    issued: list[Issued],
) -> dict[str, Any]:
    """Everything the issued page shows; built in the transaction that made the tokens."""
    tz = request.app[TZ]
    base = request.app[CONFIG].effective_public_url
    station = await staff_service.station_of(db, actor)
    cards = []
    for item in issued:
        link = f"{base}/j/{item.token}"
        cards.append(
            Card(
                invitation=item.invitation,
                link=link,
                qr=qr_svg(link, title=gettext(QR_TITLE)),
                text=texts.invitation_text(
                    invitation=item.invitation,
                    session=session,
                    dispute=dispute,
                    station=station,
                    link=link,
                    tz=tz,
                ),
                role_zh=_role_zh(item.invitation.role),
            )
        )
    return {
        "session": session,
        "dispute": dispute,
        "station": station,
        "cards": cards,
        "when_zh": texts.when_zh(session.starts_at, tz),
        "staff_names": await _staff_names(db, actor),
        "sees_phones": _sees_phones(actor),
    }


def _role_zh(role: str) -> str:
    try:
        return texts.ROLE_WORDS[InviteeRole(role)]
    except (KeyError, ValueError):
        return "参加人员"


def _issued_response(request: web.Request, context: dict[str, Any]) -> web.Response:
    response = r.render(request, "sessions/issued.html", context)
    # The links are secrets shown once: not in any cache, not in the back button.
    response.headers["Cache-Control"] = "no-store"
    return response
