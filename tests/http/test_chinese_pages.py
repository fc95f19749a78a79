"""Every page, rendered in Chinese, shows no English message that has a translation.

A template that prints a message id without ``_()`` (a verifier's reason, a
timeline note, an audit code) passes every other test: the page renders and
the English words are right. Here the demo station (``concord demo``: disputes
with timelines, booked sessions, a sealed agreement, an audit trail) is loaded
and every GET route of the router that answers HTML is fetched in zh-CN by the
staff who may see it; the page's visible words are searched for each English
message id that the Chinese catalogue translates. A new page route that this
test cannot fill in fails it too, so the list stays complete.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData
from babel.messages.pofile import read_po
from sqlmodel import col, select

from server.app import create_app
from server.config import Config
from server.demo import DemoResult, seed_demo
from server.keys import SESSIONS
from server.models import (
    Agreement,
    AgreementDraft,
    BeatOffice,
    Dispute,
    Expert,
    ExpertRelation,
    FollowUpTask,
    MediationSession,
    SpotCheck,
    SpotCheckDraw,
    StaffUser,
)
from tests.conftest import AiohttpClient, Client, csrf_from

ZH_PO = (
    Path(__file__).resolve().parents[2] / "web" / "locale" / "zh" / "LC_MESSAGES" / "messages.po"
)
PLACEHOLDER = re.compile(r"%\(\w+\)[-#0 +]*\d*(?:\.\d+)?[a-zA-Z]|%%")

#: Routes that answer something other than a page (files, JSON, sockets, redirects).
NOT_PAGES = {
    "/lang/{lang}",
    "/admin/seal.png",
    "/healthz",
    "/readyz",
    "/metrics",
    "/_internal/media/latency",
    "/ws/room",
    "/experts/import/template.csv",
    "/experts/export.csv",
    "/experts/export.xlsx",
    "/j/{token}/ping",
    "/j/{token}/probe",
    "/sign/{token}/copy.pdf",
    "/agreements/{id}/pdf",
    "/agreements/{id}/bundle.zip",
    "/sessions/{id}/minutes.pdf",
    "/stats.csv",
    "/stats.xlsx",
    "/ca.crt",
}
#: English that a Chinese page shows on purpose, each for a reason:
#: the link to the English pages is written in English for those who need it, and the
#: product's name is a name.
LEGITIMATE = {"English", "Concord"}
#: Ids this short are words (``PDF``, ``New``) that also occur inside names and codes.
MIN_LENGTH = 4


class VisibleText(HTMLParser):
    """What a reader sees: text outside scripts and styles, plus placeholders and titles."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "template"):
            self._skip += 1
        for name, value in attrs:
            if name in ("placeholder", "title", "aria-label", "alt") and value:
                self.parts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "template") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def visible(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    return re.sub(r"\s+", " ", " ".join(parser.parts))


def translated_english() -> list[tuple[str, re.Pattern[str]]]:
    """Each translated id, as a pattern for its longest literal run (placeholders vary)."""
    with ZH_PO.open("rb") as handle:
        catalog = read_po(handle, locale="zh")
    found = []
    for message in catalog:
        ids = tuple(message.id) if isinstance(message.id, tuple | list) else (str(message.id),)
        raw = message.string
        strings = tuple(raw) if isinstance(raw, tuple | list) else (str(raw or ""),)
        if not message.id or not any(strings) or strings == ids:
            # Untranslated, or translated as itself (``PDF SHA-256``): nothing to find.
            continue
        for msgid in ids:
            if msgid in LEGITIMATE or not re.search(r"[A-Za-z]{2}", msgid):
                continue
            run = max((p.strip() for p in PLACEHOLDER.split(msgid)), key=len)
            if len(run) < MIN_LENGTH or not re.search(r"[A-Za-z]", run):
                continue
            words = re.escape(run)
            found.append((msgid, re.compile(rf"(?<![A-Za-z]){words}(?![A-Za-z])")))
    return found


async def first_id(client: Client, model: type[Any], *where: Any) -> int:
    async with client.app[SESSIONS]() as db:
        row = (await db.exec(select(model).where(*where).order_by(col(model.id)))).first()
    assert row is not None, f"the demo has no {model.__name__}"
    return int(row.id)


async def log_in(client: Client, demo: DemoResult, username: str) -> str:
    password = next(p for u, p, _label in demo.logins if u == username)
    client.session.cookie_jar.clear()
    client.session.cookie_jar.update_cookies({"concord_lang": "zh"})
    token = csrf_from(await (await client.get("/login")).text())
    response = await client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    return csrf_from(await (await client.get("/password")).text())


@pytest.fixture
async def demo(config: Config) -> DemoResult:
    return await seed_demo(config)


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, config: Config, demo: DemoResult) -> Client:
    return await aiohttp_client(create_app(config))


async def page_urls(client: Client, demo: DemoResult) -> dict[str, list[tuple[str, str]]]:
    """For each page route: (who, url) pairs to fetch, with the demo's own records."""
    session_id = await first_id(
        client, MediationSession, col(MediationSession.status) == "scheduled"
    )
    booked_dispute = await first_id(
        client, Dispute, col(Dispute.id).in_(select(MediationSession.dispute_id))
    )
    agreement = await first_id(client, Agreement)
    draft = await first_id(client, AgreementDraft)
    async with client.app[SESSIONS]() as db:
        sealed = (await db.exec(select(Agreement))).first()
        assert sealed is not None
        sealed_session = sealed.session_id
        sealed_dispute = sealed.dispute_id
        verify_code = sealed.verify_code
        # A spot check of the sealed case, drawn as the chief would (the draw's own rules
        # are tested in tests/spotchecks), so its page has a check form and a finding.
        chief = (await db.exec(select(StaffUser).where(StaffUser.role == "chief"))).first()
        assert chief is not None and chief.id is not None
        today = sealed.sealed_at.date()
        draw = SpotCheckDraw(
            station_id=sealed.station_id,
            period_start=today,
            period_end=today,
            mode="percent",
            amount=100,
            seed="0" * 32,
            population=f'{{"{sealed.office_id}": [{sealed_dispute}]}}',
            drawn_by_id=chief.id,
        )
        db.add(draw)
        await db.flush()
        assert draw.id is not None
        db.add(SpotCheck(draw_id=draw.id, dispute_id=sealed_dispute, office_id=sealed.office_id))
        await db.commit()
        spot_draw = draw.id
    # The demo's expert with a declared relation, so the page lists one.
    related_expert = await first_id(
        client, Expert, col(Expert.id).in_(select(ExpertRelation.expert_id))
    )
    token = demo.links[0][2].rsplit("/", 1)[1]
    return {
        "/login": [("", "/login")],
        "/password": [("officer", "/password")],
        "/": [("officer", "/"), ("chief", "/")],
        "/disputes": [("officer", "/disputes")],
        "/disputes/new": [("officer", "/disputes/new")],
        "/disputes/{id}": [("officer", f"/disputes/{booked_dispute}")],
        "/disputes/{id}/judicial": [("officer", f"/disputes/{sealed_dispute}/judicial")],
        "/admin": [("admin", "/admin")],
        "/admin/offices/new": [("admin", "/admin/offices/new")],
        "/admin/offices/{id}": [("admin", f"/admin/offices/{await first_id(client, BeatOffice)}")],
        "/admin/users/new": [("admin", "/admin/users/new")],
        "/admin/users/{id}": [("admin", f"/admin/users/{await first_id(client, StaffUser)}")],
        "/admin/seal": [("admin", "/admin/seal")],
        "/admin/workdays": [("admin", "/admin/workdays"), ("chief", "/admin/workdays")],
        "/audit": [("chief", "/audit")],
        "/experts": [("officer", "/experts")],
        "/experts/new": [("officer", "/experts/new")],
        "/experts/import": [("officer", "/experts/import")],
        "/experts/{id}": [("officer", f"/experts/{await first_id(client, Expert)}")],
        "/experts/{id}/availability": [
            ("officer", f"/experts/{await first_id(client, Expert)}/availability"),
            ("officer", f"/experts/{related_expert}/availability"),
        ],
        "/rota": [("officer", "/rota"), ("chief", "/rota?week=2000-01-01")],
        "/sessions": [("officer", "/sessions")],
        "/sessions/{id}": [("officer", f"/sessions/{session_id}")],
        "/disputes/{id}/sessions/new": [("officer", f"/disputes/{booked_dispute}/sessions/new")],
        "/j/": [("", "/j/")],
        "/help/camera": [("", "/help/camera")],
        "/j/{token}": [("", f"/j/{token}"), ("", "/j/" + "x" * 43)],
        "/j/{token}/room": [("", f"/j/{token}/room")],
        "/sessions/{id}/room": [("officer", f"/sessions/{session_id}/room")],
        "/sign/{token}": [("", "/sign/" + "x" * 43)],
        "/j/{token}/sign": [("", f"/j/{token}/sign")],
        "/agreements/drafts/{id}/sign": [("officer", f"/agreements/drafts/{draft}/sign")],
        "/sessions/{id}/agreement": [
            ("officer", f"/sessions/{session_id}/agreement"),
            ("officer", f"/sessions/{sealed_session}/agreement"),
        ],
        "/sessions/{id}/minutes": [
            ("officer", f"/sessions/{session_id}/minutes"),
            ("clerk", f"/sessions/{sealed_session}/minutes"),
        ],
        "/agreements": [("officer", "/agreements")],
        "/agreements/{id}": [("officer", f"/agreements/{agreement}")],
        "/verify": [("", "/verify")],
        "/spot-checks": [("chief", "/spot-checks"), ("officer", "/spot-checks")],
        "/spot-checks/{id}": [("chief", f"/spot-checks/{spot_draw}")],
        "/verify/{code}": [("", f"/verify/{verify_code}")],
        "/followups": [("officer", "/followups"), ("chief", "/followups?status=done")],
        "/followups/{id}": [("officer", f"/followups/{await first_id(client, FollowUpTask)}")],
        "/stats": [("chief", "/stats")],
        "/stats/review": [("officer", "/stats/review")],
    }


def english_in(text: str, patterns: list[tuple[str, re.Pattern[str]]]) -> list[str]:
    return [msgid for msgid, pattern in patterns if pattern.search(text)]


async def test_every_page_in_chinese_shows_no_translated_english(
    client: Client, demo: DemoResult
) -> None:
    patterns = translated_english()
    urls = await page_urls(client, demo)
    routes = {
        route.resource.canonical
        for route in client.app.router.routes()
        if route.method == "GET" and route.resource is not None
    }
    pages = {r for r in routes if r not in NOT_PAGES and not r.startswith(("/static", "/api/"))}
    assert pages - set(urls) == set(), "page routes this test does not fetch"

    found: dict[str, list[str]] = {}
    current = None
    for route in sorted(pages):
        for who, url in urls[route]:
            if who != current:
                if who:
                    await log_in(client, demo, who)
                else:
                    client.session.cookie_jar.clear()
                    client.session.cookie_jar.update_cookies({"concord_lang": "zh"})
                current = who
            response = await client.get(url, allow_redirects=False)
            assert response.content_type == "text/html", (url, response.status)
            assert response.status in (200, 404, 409), (url, response.status)
            english = english_in(visible(await response.text()), patterns)
            if english:
                found[f"{who or 'anyone'} {url}"] = english
    assert found == {}


async def test_the_verify_verdicts_are_in_chinese(client: Client, demo: DemoResult) -> None:
    """A verdict's reasons come from the verifier as codes; the page says them in Chinese."""
    patterns = translated_english()
    assert demo.finished is not None
    sealed = demo.finished.pdf_path.read_bytes()
    tampered = bytearray(sealed)
    middle = len(tampered) // 2
    tampered[middle] = (tampered[middle] + 1) % 256
    client.session.cookie_jar.update_cookies({"concord_lang": "zh"})
    for body, valid in ((sealed, "yes"), (bytes(tampered), "no"), (b"not a pdf", "no")):
        csrf = csrf_from(await (await client.get("/verify")).text())
        form = FormData()
        form.add_field("csrf_token", csrf)
        form.add_field("file", body, filename="agreement.pdf", content_type="application/pdf")
        response = await client.post("/verify", data=form)
        html = await response.text()
        assert f'data-valid="{valid}"' in html
        assert english_in(visible(html), patterns) == []
