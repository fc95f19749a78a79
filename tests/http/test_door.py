"""The door: what an invitation link shows, the one refusal, ping/probe, the rate limit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, func, select

from server.app import create_app
from server.auth.sessions import actor_for
from server.config import Config
from server.db import SessionFactory, transaction
from server.disputes import service as disputes
from server.disputes.schemas import TriageInput
from server.experts import service as experts
from server.experts.schemas import ExpertInput
from server.http.pages import door
from server.models import AuditEvent, Invitation, utcnow
from server.pii import PiiVault, mask_id_number, mask_name
from server.sessions import invitations
from server.sessions import service as sessions
from server.sessions.schemas import BookingInput, CancelInput, ObserverInput
from server.sessions.texts import when_zh
from tests.conftest import AiohttpClient, Client, Seed
from tests.disputes.helpers import ADULT_ID, dispute_input, resident_id

APPLICANT = "王丽华"
RESPONDENT = "张国强"
RESPONDENT_ID = resident_id(date(1985, 5, 5))
APPLICANT_PHONE = "13800138001"
RESPONDENT_PHONE = "13900139002"
TITLE = "养犬扰邻纠纷"
#: Expert name, kind and phone; keyed by what the tests call them.
EXPERTS = {
    "police": ("刘法制", "legal_police", "13700137001"),
    "lawyer": ("陈明律", "lawyer", "13700137002"),
    "cadre": ("孙社区", "community_cadre", "13700137003"),
}
OBSERVER = "赵旁听"
SECRETS = [
    ADULT_ID,
    RESPONDENT_ID,
    mask_id_number(ADULT_ID),
    mask_id_number(RESPONDENT_ID),
    APPLICANT_PHONE,
    RESPONDENT_PHONE,
    *(phone for _name, _kind, phone in EXPERTS.values()),
]


@dataclass
class Booked:
    """A booked session: its ids and one live link per invitee."""

    session_id: int
    dispute_id: int
    starts_at: datetime
    tokens: dict[str, str] = field(default_factory=dict)
    invitation_ids: dict[str, int] = field(default_factory=dict)


async def book_session(
    factory: SessionFactory, seed: Seed, config: Config, *, starts_in: timedelta = timedelta(days=1)
) -> Booked:
    """Register and triage a dispute with two parties, add three experts, book, invite all."""
    vault = PiiVault(config.secret())
    tz = ZoneInfo(config.timezone)
    officer = actor_for(seed.users["officer"], ip="10.0.0.1", user_agent="pytest")
    data = dispute_input(
        title=TITLE,
        parties=[
            {
                "name": APPLICANT,
                "role": "applicant",
                "id_number": ADULT_ID,
                "phone": APPLICANT_PHONE,
            },
            {
                "name": RESPONDENT,
                "role": "respondent",
                "id_number": RESPONDENT_ID,
                "phone": RESPONDENT_PHONE,
            },
        ],
    )
    async with transaction(factory) as db:
        dispute = await disputes.register(db, officer, data, vault=vault, tz=tz)
        assert dispute.id is not None
        await disputes.triage(
            db,
            officer,
            dispute.id,
            TriageInput(risk_level="attention", assignee_id=seed.uid("officer"), reason="需调解"),
        )
        parties = await disputes.parties_of(db, dispute.id)
        expert_ids: dict[str, int] = {}
        for key, (name, kind, phone) in EXPERTS.items():
            expert = await experts.phone_owner(db, seed.station_id, phone)
            if expert is None:
                fields = {"name": name, "kind": kind, "phone": phone}
                expert = await experts.create_expert(
                    db, officer, ExpertInput.model_validate(fields)
                )
            assert expert.id is not None
            expert_ids[key] = expert.id
        booking = await sessions.book(
            db,
            officer,
            dispute.id,
            BookingInput(
                starts_at=utcnow() + starts_in,
                duration_minutes=60,
                legal_track="people",
                presiding_officer_id=seed.uid("officer"),
                party_ids=[p.id for p in parties if p.id is not None],
                expert_ids=list(expert_ids.values()),
                staff_ids=[seed.uid("auxiliary")],
                observers=[ObserverInput(name=OBSERVER)],
            ),
            vault=vault,
            tz=tz,
        )
        assert booking.session.id is not None
        booked = Booked(booking.session.id, dispute.id, booking.session.starts_at)
        by_party = {p.id: p.name for p in parties}
        by_expert = {v: k for k, v in expert_ids.items()}
        for issued in booking.issued:
            invitation = issued.invitation
            if invitation.party_id is not None:
                key = "applicant" if by_party[invitation.party_id] == APPLICANT else "respondent"
            elif invitation.expert_id is not None:
                key = by_expert[invitation.expert_id]
            else:
                key = invitation.role  # staff, observer
            assert invitation.id is not None
            booked.tokens[key] = issued.token
            booked.invitation_ids[key] = invitation.id
    return booked


async def door_client(aiohttp_client: AiohttpClient, config: Config) -> Client:
    app = create_app(config)
    if door.LIMITER not in app:  # until create_app calls door.setup itself
        door.setup(app)
    return await aiohttp_client(app)


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, config: Config, seed: Seed) -> Client:
    return await door_client(aiohttp_client, config)


@pytest.fixture
async def booked(factory: SessionFactory, seed: Seed, config: Config) -> Booked:
    return await book_session(factory, seed, config)


async def audit_count(factory: SessionFactory, action: str) -> int:
    async with transaction(factory) as db:
        return (
            await db.exec(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
            )
        ).one()


def assert_private(headers: Mapping[str, str]) -> None:
    assert headers.get("Cache-Control") == "no-store"
    assert headers.get("Referrer-Policy") == "no-referrer"


async def test_valid_link_shows_who_when_what_and_the_device_check(
    client: Client, booked: Booked, config: Config
) -> None:
    response = await client.get(f"/j/{booked.tokens['applicant']}")
    assert response.status == 200
    assert_private(response.headers)
    html = await response.text()
    assert TITLE in html
    assert APPLICANT in html and "当事人" in html
    assert when_zh(booked.starts_at, ZoneInfo(config.timezone)) in html
    assert "测试officer" in html, "the presiding officer's name"
    assert "白石派出所" in html and "滨河社区警务室" in html
    assert 'id="device-check"' in html
    assert 'data-ready="false"' in html
    assert f'data-ping-url="/j/{booked.tokens["applicant"]}/ping"' in html
    assert 'id="start-check"' in html
    assert '<video id="camera-preview" playsinline muted autoplay>' in html
    assert 'id="enter-room"' in html and "disabled" in html
    assert "/static/js/devicecheck.js" in html
    # CSP: no inline script and no style attributes.
    assert "<script>" not in html and " style=" not in html
    for secret in SECRETS:
        assert secret not in html


async def test_roles_and_english(client: Client, booked: Booked) -> None:
    client.session.cookie_jar.update_cookies({"concord_lang": "en"})
    html = await (await client.get(f"/j/{booked.tokens['lawyer']}")).text()
    assert "Expert" in html and "Lawyer" in html and "陈明律" in html
    assert 'lang="en"' in html
    staff = await (await client.get(f"/j/{booked.tokens['staff']}")).text()
    assert "Staff" in staff and "测试auxiliary" in staff


@pytest.mark.parametrize("who", ["lawyer", "cadre", "observer"])
async def test_non_police_experts_and_observers_see_masked_party_names(
    client: Client, booked: Booked, who: str
) -> None:
    response = await client.get(f"/j/{booked.tokens[who]}")
    assert response.status == 200
    html = await response.text()
    assert APPLICANT not in html and RESPONDENT not in html
    assert mask_name(APPLICANT) in html and mask_name(RESPONDENT) in html
    assert 'id="privacy-note"' in html
    for secret in SECRETS:
        assert secret not in html


@pytest.mark.parametrize("who", ["police", "applicant", "respondent", "staff"])
async def test_police_expert_parties_and_staff_see_full_party_names(
    client: Client, booked: Booked, who: str
) -> None:
    html = await (await client.get(f"/j/{booked.tokens[who]}")).text()
    assert APPLICANT in html and RESPONDENT in html
    assert 'id="privacy-note"' not in html
    for secret in SECRETS:
        assert secret not in html


def test_who_may_see_names() -> None:
    assert door.may_see_names("party", None)
    assert door.may_see_names("agent", None)
    assert door.may_see_names("guardian", None)
    assert door.may_see_names("staff", None)
    assert not door.may_see_names("observer", None)
    assert not door.may_see_names("expert", None)


async def timed_get(client: Client, path: str) -> tuple[int, bytes, float]:
    started = time.monotonic()
    response = await client.get(path)
    body = await response.read()
    return response.status, body, time.monotonic() - started


async def test_every_refusal_is_the_same(
    client: Client, booked: Booked, factory: SessionFactory, seed: Seed, config: Config
) -> None:
    officer = actor_for(seed.users["officer"])
    async with transaction(factory) as db:
        await invitations.revoke(db, officer, booked.invitation_ids["respondent"], "发错人了")
        reissued = await invitations.reissue(db, officer, booked.invitation_ids["lawyer"])
    new_lawyer = reissued.token
    # Expired: the applicant's link ran out (directly in the database).
    past = utcnow() - timedelta(days=3)
    async with transaction(factory) as db:
        row = await db.get(Invitation, booked.invitation_ids["applicant"])
        assert row is not None
        row.expires_at = past + timedelta(hours=13)

    # A second session, cancelled.
    other = await book_session(factory, seed, config, starts_in=timedelta(days=2))
    async with transaction(factory) as db:
        await sessions.cancel(db, officer, other.session_id, CancelInput(reason="双方已和解"))

    wrong = {
        "unknown": "x" * 43,
        "garbage": "%E2%80%94",
        "too long": "a" * 150,
        "expired": booked.tokens["applicant"],
        "revoked": booked.tokens["respondent"],
        "reissued (old)": booked.tokens["lawyer"],
        "cancelled": other.tokens["applicant"],
    }
    bodies = {}
    for kind, token in wrong.items():
        status, body, elapsed = await timed_get(client, f"/j/{token}")
        assert status == 404, kind
        assert elapsed >= door.REFUSAL_MIN_SECONDS, kind
        assert token.encode() not in body, kind
        bodies[kind] = body
    assert len(set(bodies.values())) == 1, "every refusal is byte for byte the same"
    page = bodies["unknown"].decode()
    assert "警务室" in page and 'href="/lang/en?next=/j/"' in page

    # The refusal of ping and probe is the same page.
    for kind in ("unknown", "revoked"):
        for suffix in ("ping", "probe"):
            status, body, elapsed = await timed_get(client, f"/j/{wrong[kind]}/{suffix}")
            assert (status, body) == (404, bodies["unknown"])
            assert elapsed >= door.REFUSAL_MIN_SECONDS

    # The reissued link works; /j/ itself shows the refusal, uncounted.
    assert (await client.get(f"/j/{new_lawyer}")).status == 200
    response = await client.get("/j/")
    assert response.status == 404 and await response.read() == bodies["unknown"]
    assert_private(response.headers)


async def test_refusal_headers(client: Client) -> None:
    response = await client.get("/j/nothing-here")
    assert response.status == 404
    assert_private(response.headers)


async def test_opening_is_audited_ping_and_probe_are_not(
    client: Client, booked: Booked, factory: SessionFactory
) -> None:
    token = booked.tokens["cadre"]
    assert await audit_count(factory, "invitation.open") == 0
    assert (await client.get(f"/j/{token}")).status == 200
    assert await audit_count(factory, "invitation.open") == 1
    async with transaction(factory) as db:
        events = list(
            await db.exec(select(AuditEvent).where(AuditEvent.action == "invitation.open"))
        )
    assert events[0].object_id == str(booked.invitation_ids["cadre"])
    assert events[0].ip == "127.0.0.1"

    total_before = await audit_count_all(factory)
    ping = await client.get(f"/j/{token}/ping")
    assert ping.status == 200
    assert_private(ping.headers)
    payload = await ping.json()
    assert payload["ok"] is True and abs(payload["t"] - time.time() * 1000) < 60_000
    probe = await client.get(f"/j/{token}/probe")
    assert probe.status == 200
    assert_private(probe.headers)
    assert probe.headers["Content-Type"] == "application/octet-stream"
    first = await probe.read()
    assert len(first) == door.PROBE_BYTES == 256 * 1024
    second = await (await client.get(f"/j/{token}/probe")).read()
    assert first != second, "random bytes each time"
    # A chat app's link preview (HEAD) is not someone opening the link.
    head = await client.head(f"/j/{token}")
    assert head.status == 200
    assert (await client.head("/j/not-a-real-token")).status == 404
    assert await audit_count_all(factory) == total_before
    async with transaction(factory) as db:
        row = await db.get(Invitation, booked.invitation_ids["cadre"])
        assert row is not None and row.open_count == 1


async def audit_count_all(factory: SessionFactory) -> int:
    async with transaction(factory) as db:
        return (await db.exec(select(func.count(col(AuditEvent.id))))).one()


async def test_rate_limit_per_address(
    aiohttp_client: AiohttpClient, config: Config, seed: Seed, booked: Booked
) -> None:
    limited = config.model_copy(update={"door_max_failures": 3, "door_window_minutes": 7})
    client = await door_client(aiohttp_client, limited)
    good = booked.tokens["applicant"]
    # Successes never count, and they do not wipe out earlier failures either.
    for _ in range(5):
        assert (await client.get(f"/j/{good}")).status == 200
        assert (await client.get(f"/j/{good}/ping")).status == 200
    assert (await client.get("/j/wrong-1")).status == 404
    assert (await client.get("/j/wrong-2/ping")).status == 404, "ping guesses count too"
    assert (await client.get(f"/j/{good}")).status == 200
    assert (await client.get(f"/j/{good}/probe")).status == 200
    assert (await client.get("/j/wrong-3/probe")).status == 404
    for path in ("/j/wrong-4", f"/j/{good}", f"/j/{good}/ping", f"/j/{good}/probe"):
        started = time.monotonic()
        response = await client.get(path)
        assert response.status == 429, path
        assert time.monotonic() - started >= door.REFUSAL_MIN_SECONDS
        assert_private(response.headers)
        assert response.headers["Retry-After"] == str(7 * 60)
        html = await response.text()
        assert "请 7 分钟后再试" in html
        assert good not in html


async def test_parallel_guesses_cannot_slip_past_the_limit(
    aiohttp_client: AiohttpClient, config: Config, seed: Seed
) -> None:
    limited = config.model_copy(update={"door_max_failures": 3})
    client = await door_client(aiohttp_client, limited)
    responses = await asyncio.gather(*(client.get(f"/j/guess-{n}") for n in range(12)))
    statuses = sorted(response.status for response in responses)
    assert statuses == [404] * 3 + [429] * 9


async def test_the_app_owns_its_limiter(
    aiohttp_client: AiohttpClient, config: Config, seed: Seed
) -> None:
    first = await door_client(aiohttp_client, config)
    second = await door_client(aiohttp_client, config)
    assert first.app is not None and second.app is not None
    assert first.app[door.LIMITER] is not second.app[door.LIMITER]
    assert first.app[door.LIMITER].limit == config.door_max_failures
    assert first.app[door.LIMITER].window == config.door_window_minutes * 60


async def test_the_door_opens_onto_the_room_an_hour_before(
    client: Client, factory: SessionFactory, seed: Seed, config: Config, booked: Booked
) -> None:
    soon = await book_session(factory, seed, config, starts_in=timedelta(minutes=20))
    token = soon.tokens["applicant"]
    html = await (await client.get(f"/j/{token}")).text()
    assert f'href="/j/{token}/room"' in html and 'id="enter-room"' in html
    far = await (await client.get(f"/j/{booked.tokens['applicant']}")).text()
    assert "/room" not in far.split('id="enter-room"')[0][-200:]
    assert 'id="enter-room" class="big" disabled' in far
