"""Who helps and what was said, in a browser: the rota, a declared conflict, 预警, the 笔录.

An officer registers an urgent wage dispute; the 初判 rule grades it high and the
chief's dashboard carries the 预警 with its route. The chief acknowledges, triages
and books: the form suggests the lawyer on the office's rota first, then the one free
by their declared hours, then the one who declared nothing, and warns that the fourth
declared a relation to the applicant. In the room the clerk writes timed minutes
entries for the parties; they survive a reload and a restart of the server (a new
application on the same database and port). The presiding officer signs the minutes
off, the agreement's facts are drafted from them, the parties sign, the seal is
applied, and the case bundle carries the signed-off 笔录 PDF with the entries on it.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import AsyncIterator
from datetime import datetime, time, timedelta

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, BrowserContext, Page, expect
from sqlmodel import select

from server.app import create_app
from server.auth.sessions import actor_for
from server.config import Config
from server.db import SessionFactory, transaction
from server.experts import availability, relations, rota
from server.models import Invitation, MinutesEntry, MinutesSignoff
from tests.agreements.pdf_support import poppler, squeeze
from tests.browser.screens import no_horizontal_scroll
from tests.browser.test_closed_loop import log_in
from tests.browser.test_signing import phone, sign_on
from tests.browser.test_signing import pki as pki
from tests.browser.test_signing import sealing as sealing
from tests.conftest import Seed
from tests.disputes.helpers import ADULT_ID, resident_id
from tests.sessions.helpers import TZ, new_expert

pytestmark = pytest.mark.browser

TIMEOUT = 30_000
APPLICANT, RESPONDENT = "吴志刚", "陈建国"
DURATION = timedelta(minutes=60)


class Restartable:
    """The server on one loopback port, restarted as a new application on the same database."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.port: int | None = None
        self.server: TestServer | None = None

    async def start(self) -> None:
        self.server = TestServer(create_app(self.config), host="127.0.0.1", port=self.port)
        await self.server.start_server()
        self.port = self.server.port

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.close()
            self.server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
async def served(sealing: Config, seed: Seed) -> AsyncIterator[Restartable]:
    # The session may start up to 70 minutes from now (see ``session_start``).
    server = Restartable(sealing.model_copy(update={"room_open_minutes_before": 120}))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def session_start() -> datetime:
    """A few minutes from now, on one local day from start to end (after midnight if need be),
    so that one rota slot and one day's declared hours cover the whole session."""
    start = (datetime.now(TZ) + timedelta(minutes=6)).replace(second=0, microsecond=0)
    if (start + DURATION).date() != start.date():
        start = datetime.combine(start.date() + timedelta(days=1), time(0, 5), tzinfo=TZ)
    return start


async def the_pool(factory: SessionFactory, seed: Seed, start: datetime) -> dict[str, int]:
    """Four lawyers and mediators for labour disputes: on duty, free, undeclared, related."""
    chief = actor_for(seed.users["chief"])
    labour = ("labour",)
    ids = {
        "on_duty": await new_expert(factory, chief, "甲律师", "13600000001", specialties=labour),
        "free": await new_expert(factory, chief, "丙律师", "13600000003", specialties=labour),
        "undeclared": await new_expert(
            factory, chief, "丁调解员", "13600000004", kind="people_mediator", specialties=labour
        ),
        "related": await new_expert(
            factory, chief, "戊调解员", "13600000005", kind="people_mediator", specialties=labour
        ),
    }
    day, end = start.date(), (start + DURATION).time()
    async with transaction(factory) as db:
        await rota.add_slots(
            db,
            chief,
            rota.SlotInput(
                office_id=seed.office_a,
                on_date=day,
                starts=start.time(),
                ends=end,
                expert_kind="lawyer",
                expert_id=ids["on_duty"],
            ),
        )
        for key in ("free", "related"):
            await availability.add_entry(
                db,
                chief,
                ids[key],
                availability.Window(
                    kind=availability.EntryKind.WEEKLY,
                    weekday=day.weekday(),
                    starts=time(0, 0),
                    ends=time(23, 59),
                ),
            )
        await relations.add_relation(
            db,
            chief,
            ids["related"],
            relations.RelationInput(relation=relations.RelationKind.KIN, person_name=APPLICANT),
        )
    return ids


async def register_urgent(officer: Page, base: str) -> int:
    await officer.goto(f"{base}/disputes/new")
    await officer.fill("#f-title", "工地欠薪纠纷")
    await officer.select_option("#f-category", "labour")
    await officer.fill("#f-cause", "工地拖欠工人工资三个月")
    occurred = (datetime.now(TZ) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    await officer.fill("#f-occurred_at", occurred)
    await officer.fill("#f-place", "滨河路工地")
    await officer.fill("#f-scale", "2")
    await officer.select_option("#f-trend", "urgent")
    await officer.fill("[name='parties.0.name']", APPLICANT)
    await officer.fill("[name='parties.0.id_number']", ADULT_ID)
    await officer.fill("[name='parties.1.name']", RESPONDENT)
    await officer.fill("[name='parties.1.id_number']", resident_id(datetime(1979, 3, 2).date()))
    await expect(officer.locator("#risk-proposal")).to_have_attribute("data-proposal", "high")
    await officer.click("form[action='/disputes/new'] button[type=submit]")
    await expect(officer.locator("h1")).to_have_text("工地欠薪纠纷")
    return int(officer.url.split("/disputes/")[1].split("?")[0])


async def acknowledge_and_triage(chief: Page, base: str, dispute_id: int, chief_id: int) -> None:
    await chief.goto(f"{base}/")
    item = chief.locator(f"#risk-alerts [data-alert-dispute='{dispute_id}']")
    await expect(item).to_contain_text("由分管所领导牵头处置")
    await no_horizontal_scroll(chief)
    await item.locator("[data-alert-acknowledge]").click()
    await expect(chief.locator(".notice")).to_have_text("预警已签收。")
    await chief.goto(f"{base}/disputes/{dispute_id}")
    await chief.select_option("#triage-form [name=risk_level]", "high")
    await chief.select_option("#triage-form [name=assignee_id]", str(chief_id))
    await chief.fill("#triage-form [name=reason]", "群体欠薪，所领导牵头")
    await chief.click("#triage-form button")
    await expect(chief.locator(".meta .badge.risk-high")).to_be_visible()


async def book_by_the_rota(
    chief: Page, base: str, dispute_id: int, start: datetime, pool: dict[str, int], chief_id: int
) -> int:
    await chief.goto(f"{base}/disputes/{dispute_id}/sessions/new")
    await chief.fill("[name=starts_at]", start.strftime("%Y-%m-%dT%H:%M"))
    await chief.select_option("#f-duration_minutes", str(int(DURATION.total_seconds() // 60)))
    await chief.select_option("[name=presiding_officer_id]", str(chief_id))
    await chief.click("button[value=suggest]:visible")
    items = chief.locator("#suggested-experts [data-expert-id]")
    order = [
        (await item.get_attribute("data-expert-id"), await item.get_attribute("data-reason"))
        for item in await items.all()
    ]
    assert order == [
        (str(pool["on_duty"]), "on_duty"),
        (str(pool["free"]), "free"),
        (str(pool["undeclared"]), "undeclared"),
    ]
    # The related mediator is free, but not suggested: the form says why.
    related = chief.locator(f"#other-experts [data-expert-id='{pool['related']}']")
    await expect(related).to_have_attribute("data-reason", "relation")
    await expect(items.first).to_contain_text("值班")
    await no_horizontal_scroll(chief)

    await chief.check(f"#suggested-experts input[value='{pool['on_duty']}']")
    await chief.click("#other-experts summary")
    await related.locator("input").check()
    # The declared relation is warned as soon as the expert is chosen, and again on booking.
    await expect(chief.locator("#live-conflicts")).to_contain_text("戊调解员")
    await chief.check("input[name=legal_track][value=people]")
    await chief.click("button.primary[value=book]")
    warnings = chief.locator(".warnings[role=alert]")
    await expect(warnings).to_contain_text(f"戊调解员 申报了与 {APPLICANT} 的利害关系（亲属）")
    await chief.check("input[name=confirm_conflicts]")
    await chief.click("button.primary[value=book]")
    await expect(chief.locator("input.link-field")).to_have_count(4)
    href = await chief.locator("a[href^='/sessions/']").first.get_attribute("href")
    assert href is not None
    return int(href.split("/")[2])


async def speakers(factory: SessionFactory, session_id: int) -> dict[str, str]:
    """The parties' participant keys in the room, by name."""
    async with factory() as db:
        rows = await db.exec(select(Invitation).where(Invitation.session_id == session_id))
        return {row.display_name: f"inv-{row.id}" for row in rows}


async def write_entry(clerk: Page, speaker_key: str, text: str) -> None:
    await clerk.select_option("#minutes-speaker", speaker_key)
    await clerk.locator("#minutes-text").press_sequentially(text)
    await clerk.click("#minutes-next")
    said = clerk.locator("[data-minutes-entry] .minutes-said", has_text=text)
    await expect(said).to_have_count(1, timeout=TIMEOUT)
    await expect(clerk.locator("#minutes-status")).to_have_attribute(
        "data-state", "saved", timeout=TIMEOUT
    )


async def in_the_room(page: Page, url: str) -> None:
    await page.goto(url)
    await expect(page.locator("#room")).to_have_attribute("data-state", "admitted", timeout=TIMEOUT)
    await page.click("#join-audio")
    await expect(page.locator("#btn-minutes")).to_be_visible(timeout=TIMEOUT)
    await page.click("#btn-minutes")
    await expect(page.locator("#minutes-text")).to_be_visible(timeout=TIMEOUT)


async def entries_in_db(factory: SessionFactory, session_id: int) -> list[str]:
    async with factory() as db:
        rows = await db.exec(
            select(MinutesEntry)
            .where(MinutesEntry.session_id == session_id)
            .order_by(MinutesEntry.at, MinutesEntry.id)  # type: ignore[arg-type]
        )
        return [row.text for row in rows]


STATEMENTS = [
    (APPLICANT, "工地拖欠我三个月工资共计八千元。"),
    (RESPONDENT, "工程款未结清，同意分两期支付。"),
]
AFTER_RESTART = (APPLICANT, "同意分两期，月底前付清。")


async def test_rota_conflict_alert_and_minutes_reach_the_sealed_bundle(
    browser: Browser,
    served: Restartable,
    factory: SessionFactory,
    seed: Seed,
) -> None:
    base = served.url
    start = session_start()
    pool = await the_pool(factory, seed, start)
    desk = await phone(browser)
    chief_phone = await phone(browser)
    clerk_phone = await phone(browser)
    parties: list[BrowserContext] = [await phone(browser), await phone(browser)]
    try:
        officer = await log_in(desk, base, "officer")
        dispute_id = await register_urgent(officer, base)
        chief = await log_in(chief_phone, base, "chief")
        await acknowledge_and_triage(chief, base, dispute_id, seed.uid("chief"))
        session_id = await book_by_the_rota(chief, base, dispute_id, start, pool, seed.uid("chief"))

        # The clerk keeps the minutes in the room, speaker by speaker, timed.
        clerk = await log_in(clerk_phone, base, "clerk")
        room = f"{base}/sessions/{session_id}/room"
        await in_the_room(clerk, room)
        await no_horizontal_scroll(clerk)
        keys = await speakers(factory, session_id)
        for speaker, text in STATEMENTS:
            await write_entry(clerk, keys[speaker], text)
        # A reconnect (a reload) and a server restart lose nothing.
        await in_the_room(clerk, room)
        await expect(clerk.locator("[data-minutes-entry]")).to_have_count(2)
        await served.restart()
        await in_the_room(clerk, room)
        await expect(clerk.locator("[data-minutes-entry]")).to_have_count(2)
        await write_entry(clerk, keys[AFTER_RESTART[0]], AFTER_RESTART[1])
        texts = [text for _, text in STATEMENTS] + [AFTER_RESTART[1]]
        assert await entries_in_db(factory, session_id) == texts

        # The presiding officer signs the minutes off: the 笔录 PDF is made.
        await chief.goto(f"{base}/sessions/{session_id}/minutes")
        await expect(chief.locator("#minutes-entries tr[data-entry]")).to_have_count(3)
        await no_horizontal_scroll(chief)
        await chief.click("#minutes-signoff summary")
        await chief.check("#minutes-confirm")
        await chief.click("#minutes-signoff-submit")
        await expect(chief.locator("#minutes-signed-off")).to_be_visible()

        # The agreement's facts are drafted from the minutes; then signed and sealed.
        await chief.goto(f"{base}/sessions/{session_id}/agreement")
        await chief.click("#facts-from-minutes-submit")
        facts = chief.locator("#f-facts")
        await expect(facts).not_to_have_value("", timeout=TIMEOUT)
        value = await facts.input_value()
        assert APPLICANT in value and "八千元" in value and "分两期支付" in value, value
        await chief.fill("#f-disputed_matters", "拖欠工资数额及支付方式。")
        await chief.fill("#f-responsibility", f"{RESPONDENT}应支付拖欠工资。")
        await chief.fill("#f-term_1", f"{RESPONDENT}分两期向{APPLICANT}支付工资人民币捌仟元。")
        await chief.fill("#f-performance_manner", "银行转账")
        deadline = (datetime.now(TZ) + timedelta(days=20)).date().isoformat()
        await chief.fill("#f-performance_deadline", deadline)
        await chief.locator("#draft-form button[type=submit]").click()
        await expect(chief.locator("#agreement-text")).to_contain_text("捌仟元")
        await chief.locator("#freeze-form button").click()
        await expect(chief.locator("#issued-links")).to_be_visible()
        links = {}
        for item in await chief.locator("#issued-links li").all():
            name = await item.locator("strong").inner_text()
            links[name] = (await item.locator("code").inner_text()).strip()
        for context, name in zip(parties, (APPLICANT, RESPONDENT), strict=True):
            page = await context.new_page()
            await sign_on(page, links[name].replace("http://127.0.0.1:8080", base))
        await chief.locator("#sign-self").click()
        await sign_on(chief, chief.url)
        await chief.goto(f"{base}/sessions/{session_id}/agreement")
        await chief.locator("#seal-form button").click()
        await expect(chief.locator("#case-number")).to_contain_text("调字第")

        # The case bundle carries the signed-off 笔录, byte for byte, with the entries.
        bundle_link = chief.locator("#download-bundle")
        if not await bundle_link.count():
            await chief.locator("a[href^='/agreements/']").first.click()
        href = await chief.locator("#download-bundle").get_attribute("href")
        assert href is not None
        response = await chief.request.get(f"{base}{href}")
        assert response.ok, response.status
        with zipfile.ZipFile(io.BytesIO(await response.body())) as bundle:
            (name,) = [n for n in bundle.namelist() if n.endswith("/minutes.pdf")]
            pdf = bundle.read(name)
        async with factory() as db:
            signoff = await db.get(MinutesSignoff, session_id)
        assert signoff is not None
        assert hashlib.sha256(pdf).hexdigest() == signoff.pdf_sha256
        text = squeeze(poppler("pdftotext", pdf))
        assert "调解笔录" in text
        for entry in texts:
            assert squeeze(entry) in text, entry
        assert "Signature is Valid" in poppler("pdfsig", pdf)
    finally:
        for context in (desk, chief_phone, clerk_phone, *parties):
            await context.close()
