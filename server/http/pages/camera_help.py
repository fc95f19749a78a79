"""``/help/camera``: what to do when the browser gives the door no camera or microphone.

The door's device check (``web/static/js/devicecheck.js``) and the room link
here when ``getUserMedia`` is refused, finds no device, finds it busy, or is
not offered at all (a page opened over ``http://``, an in-app browser). The
page is public and holds nothing about any case: it is reached from pages
whose URL carries a token, so it must not need one.

The link carries the page's language (``?lang=``) besides the cookie: the
person often opens it in another browser than the one that set the cookie
(WeChat's, then the system one), and the steps must stay in the words they
were reading. The query changes this response only, never the cookie.

When ``concord lan-cert`` has made a CA for a trial on the office network,
the page also says how to trust it and links to ``/ca.crt``; without one that
link would lead to a 404, so the part is left out.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiohttp import web

from server import i18n
from server.config import LAN_CA_CERT_FILE
from server.http import render as r
from server.keys import CATALOGUES, CONFIG
from server.lan_cert import CA_COMMON_NAME, CA_DOWNLOAD_PATH, ca_certificate_der
from server.lan_cert_command import ANDROID_STEPS, IOS_STEPS

HELP_PATH = "/help/camera"
#: The page says the same to everyone and changes only with a release or a new LAN CA.
CACHE_CONTROL = "no-cache"


@dataclass(frozen=True)
class TrustSteps:
    """The steps ``concord lan-cert`` prints for each phone, as this page can say them.

    The printout's first step (scan the QR code) and last (open the site) are
    for someone holding the QR code; on this page the phone is already here,
    so those two are the template's own words and only the steps in between
    are the printout's, translated once for both.
    """

    download_url: str
    android: tuple[str, ...]
    ios: tuple[str, ...]


def language_of(request: web.Request) -> str | None:
    """The ``lang`` the link asked for, if it is one we have."""
    lang = request.query.get("lang", "")
    return lang if lang in i18n.LANGUAGES else None


def help_url(request: web.Request) -> str:
    """Where a page in ``request``'s language links for camera help (the language kept)."""
    return f"{HELP_PATH}?lang={request.get(r.LANG, 'zh')}"


def trust_steps() -> TrustSteps:
    """The middle steps of the LAN trust printout, in the request's language."""
    return TrustSteps(
        download_url=CA_DOWNLOAD_PATH,
        android=tuple(i18n.gettext(step) for step in ANDROID_STEPS[1:-1]),
        ios=tuple(i18n.gettext(step).format(ca=CA_COMMON_NAME) for step in IOS_STEPS[1:-1]),
    )


async def camera_help(request: web.Request) -> web.StreamResponse:
    asked = language_of(request)
    if asked is not None:
        request[r.LANG] = asked
        i18n.activate(request.app[CATALOGUES], asked)
    # The same test as /ca.crt's, so the page never links to a download that answers 404.
    ca_file = request.app[CONFIG].lan_tls_dir / LAN_CA_CERT_FILE
    has_ca = await asyncio.to_thread(ca_certificate_der, ca_file) is not None
    response = r.render(
        request,
        "door/camera_help.html",
        {"lang_next": HELP_PATH, "trust": trust_steps() if has_ca else None},
    )
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.headers["Vary"] = "Cookie"  # the language comes from the cookie when no lang= is given
    return response


ROUTES: list[web.RouteDef] = [web.get(HELP_PATH, camera_help, name="camera_help")]
