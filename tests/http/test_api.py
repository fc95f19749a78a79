"""The JSON API over real HTTP: login, CSRF, body validation, permissions, audit, docs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient
from sqlmodel import SQLModel, func, select

from server.app import create_app
from server.config import Config
from server.db import transaction
from server.keys import SESSIONS
from server.models import AuditEvent, Dispute, LoginThrottle, Party
from tests.conftest import PASSWORD, Seed

Client = TestClient[web.Request, web.Application]

VALID_ID = "110101199003074514"  # born 1990-03-07, correct check character
BAD_CHECK_ID = "110101199003074513"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"
CST = timezone(timedelta(hours=8))


@dataclass
class Api:
    """A logged-in (or not) JSON client that sends the CSRF header it was given."""

    client: Client
    csrf: str = ""

    async def login(self, username: str, password: str = PASSWORD) -> dict[str, Any]:
        response = await self.client.post(
            "/api/v1/auth/login", json={"username": username, "password": password}
        )
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
        self.csrf = body["csrf_token"]
        return body

    def _headers(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.csrf} if self.csrf else {}

    async def get(self, path: str, **params: str) -> ClientResponse:
        return await self.client.get(path, params=params)

    async def send(self, method: str, path: str, body: Any = None) -> ClientResponse:
        return await self.client.request(method, path, json=body, headers=self._headers())

    async def post(self, path: str, body: Any = None) -> ClientResponse:
        return await self.send("POST", path, body)

    async def put(self, path: str, body: Any = None) -> ClientResponse:
        return await self.send("PUT", path, body)


@pytest.fixture
def api(client: Client) -> Api:
    return Api(client)


def check_error_shape(body: Any, code: str) -> dict[str, str]:
    """The one error shape, exactly: {"error": {"code", "message", "fields"}}."""
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict) and set(error) == {"code", "message", "fields"}, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"].strip(), error
    fields = error["fields"]
    assert isinstance(fields, dict), error
    assert all(isinstance(k, str) and isinstance(v, str) and v for k, v in fields.items())
    return fields


async def expect_error(response: ClientResponse, status: int, code: str) -> dict[str, str]:
    text = await response.text()
    assert response.status == status, text
    assert response.content_type == "application/json", text
    return check_error_shape(await response.json(), code)


async def expect_json(response: ClientResponse, status: int = 200) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    body: dict[str, Any] = await response.json()
    return body


def dispute_body(**overrides: Any) -> dict[str, Any]:
    occurred = (datetime.now(CST) - timedelta(days=1)).replace(microsecond=0)
    body: dict[str, Any] = {
        "title": "养犬扰邻纠纷",
        "category": "neighbour",
        "cause": "犬只夜间吠叫，咬伤邻居",
        "occurred_at": occurred.isoformat(),
        "place": "滨河小区3栋",
        "scale": 2,
        "trend": "escalating",
        "source": "walk_in",
        "parties": [
            {
                "name": "王丽华",
                "role": "applicant",
                "id_type": "resident_id",
                "id_number": VALID_ID,
                "phone": "13800138001",
            },
            {"name": "张国强", "role": "respondent"},
        ],
    }
    body.update(overrides)
    return body


async def create(api: Api, **overrides: Any) -> dict[str, Any]:
    return await expect_json(await api.post("/api/v1/disputes", dispute_body(**overrides)), 201)


async def count(client: Client, model: type[SQLModel]) -> int:
    async with transaction(client.app[SESSIONS]) as db:
        return (await db.exec(select(func.count()).select_from(model))).one()


def is_utc_iso(value: Any) -> bool:
    if not isinstance(value, str) or not value.endswith("Z"):
        return False
    return datetime.fromisoformat(value).utcoffset() == timedelta(0)


# --- login, logout, CSRF ----------------------------------------------------------


async def test_login_sets_session_cookie_and_returns_csrf_token(api: Api) -> None:
    response = await api.client.post(
        "/api/v1/auth/login", json={"username": "officer", "password": PASSWORD}
    )
    body = await expect_json(response)
    assert body["user"]["username"] == "officer"
    assert body["user"]["role"] == "officer"
    assert "password_hash" not in await response.text()
    cookies = [c for c in response.headers.getall("Set-Cookie", []) if "concord_session=" in c]
    assert len(cookies) == 1, response.headers
    assert "HttpOnly" in cookies[0] and "SameSite=Lax" in cookies[0]
    assert re.fullmatch(r"[0-9a-f]{64}", body["csrf_token"])
    me = await expect_json(await api.get("/api/v1/me"))
    assert me["user"]["id"] == body["user"]["id"]
    assert me["csrf_token"] == body["csrf_token"]


async def test_login_wrong_password_or_unknown_user(api: Api) -> None:
    for username, password in (("officer", "wrong-password-1"), ("nobody", PASSWORD)):
        response = await api.client.post(
            "/api/v1/auth/login", json={"username": username, "password": password}
        )
        await expect_error(response, 401, "not_authenticated")
    await expect_error(await api.get("/api/v1/me"), 401, "not_authenticated")


async def test_repeated_failures_lock_even_the_right_password(api: Api, config: Config) -> None:
    limit = config.login_max_failures
    statuses = []
    for _ in range(10):
        response = await api.client.post(
            "/api/v1/auth/login", json={"username": "officer", "password": "wrong-password-1"}
        )
        statuses.append(response.status)
        code = "limit_exceeded" if response.status == 429 else "not_authenticated"
        await expect_error(response, response.status, code)
    assert statuses == [401] * limit + [429] * (10 - limit)
    right = await api.client.post(
        "/api/v1/auth/login", json={"username": "officer", "password": PASSWORD}
    )
    await expect_error(right, 429, "limit_exceeded")
    # The failures were committed, not rolled back with the refusal.
    assert await count(api.client, LoginThrottle) >= 1


async def test_login_requires_a_json_body(api: Api) -> None:
    form = await api.client.post(
        "/api/v1/auth/login", data={"username": "officer", "password": PASSWORD}
    )
    await expect_error(form, 400, "invalid_request")
    plain = await api.client.post(
        "/api/v1/auth/login",
        data='{"username": "officer", "password": "' + PASSWORD + '"}',
        headers={"Content-Type": "text/plain"},
    )
    await expect_error(plain, 400, "invalid_request")
    assert "concord_session" not in plain.cookies
    fields = await expect_error(
        await api.client.post("/api/v1/auth/login", json={"username": 5}),
        422,
        "validation_failed",
    )
    assert set(fields) == {"username", "password"}


async def test_login_refuses_a_foreign_origin(api: Api) -> None:
    response = await api.client.post(
        "/api/v1/auth/login",
        json={"username": "officer", "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    await expect_error(response, 403, "csrf_failed")


async def test_logout_ends_the_session(api: Api) -> None:
    await api.login("officer")
    await expect_error(
        await api.client.post("/api/v1/auth/logout"), 403, "csrf_failed"
    )  # no token: refused, still logged in
    await expect_json(await api.get("/api/v1/me"))
    response = await api.post("/api/v1/auth/logout")
    assert response.status == 204
    await expect_error(await api.get("/api/v1/me"), 401, "not_authenticated")


async def test_unauthenticated_reads_get_401(api: Api) -> None:
    for path in (
        "/api/v1/me",
        "/api/v1/dashboard",
        "/api/v1/disputes",
        "/api/v1/disputes/1",
        "/api/v1/offices",
        "/api/v1/users",
    ):
        await expect_error(await api.get(path), 401, "not_authenticated")


async def test_writes_need_the_csrf_header(api: Api) -> None:
    await api.login("officer")
    missing = await api.client.post("/api/v1/disputes", json=dispute_body())
    await expect_error(missing, 403, "csrf_failed")
    wrong = await api.client.post(
        "/api/v1/disputes", json=dispute_body(), headers={"X-CSRF-Token": "0" * 64}
    )
    await expect_error(wrong, 403, "csrf_failed")
    assert await count(api.client, Dispute) == 0


async def test_unknown_paths_and_methods_answer_in_the_error_shape(api: Api) -> None:
    await expect_error(await api.get("/api/v1/nothing-here"), 404, "not_found")
    await expect_error(await api.get("/api/v1/auth/login"), 405, "invalid_request")


# --- registering ------------------------------------------------------------------


async def test_create_dispute(api: Api, seed: Seed) -> None:
    await api.login("officer")
    body = dispute_body()
    response = await api.post("/api/v1/disputes", body)
    created = await expect_json(response, 201)
    assert response.headers["Location"] == f"/api/v1/disputes/{created['id']}"
    assert created["reference"].startswith("白石")
    assert created["office_id"] == seed.office_a
    assert created["status"] == "registered"
    assert created["risk_level"] is None and created["route"] is None
    assert created["category"] == "neighbour" and created["trend"] == "escalating"
    assert created["version"] == 1
    assert [e["kind"] for e in created["timeline"]] == ["registered"]
    assert created["timeline"][0]["to_status"] == "registered"
    for key in ("occurred_at", "created_at", "updated_at"):
        assert is_utc_iso(created[key]), created[key]
    sent = datetime.fromisoformat(body["occurred_at"])
    assert datetime.fromisoformat(created["occurred_at"]) == sent
    first = created["parties"][0]
    assert first["id_number_masked"] == "110***********4514"
    assert first["phone"] == "13800138001"  # an officer may see it
    text = await response.text()
    for secret in (VALID_ID, "id_number_encrypted", "id_number_digest"):
        assert secret not in text
    assert set(created) >= {
        "id",
        "reference",
        "office_id",
        "title",
        "category",
        "cause",
        "occurred_at",
        "place",
        "scale",
        "people_involved",
        "trend",
        "development",
        "description",
        "source",
        "status",
        "risk_level",
        "route",
        "assignee_id",
        "triage_reason",
        "created_at",
        "updated_at",
        "version",
        "parties",
        "timeline",
    }


async def test_create_dispute_missing_fields(api: Api) -> None:
    await api.login("officer")
    fields = await expect_error(await api.post("/api/v1/disputes", {}), 422, "validation_failed")
    assert {"title", "category", "cause", "occurred_at", "place", "scale", "trend"} <= set(fields)


async def test_create_dispute_title_too_long(api: Api) -> None:
    await api.login("officer")
    response = await api.post("/api/v1/disputes", dispute_body(title="纠" * 101))
    fields = await expect_error(response, 422, "validation_failed")
    assert set(fields) == {"title"}
    await create(api, title="纠" * 100)


async def test_create_dispute_wrong_types(api: Api) -> None:
    await api.login("officer")
    response = await api.post("/api/v1/disputes", dispute_body(scale="abc", parties="张三"))
    fields = await expect_error(response, 422, "validation_failed")
    assert set(fields) == {"scale", "parties"}
    response = await api.post("/api/v1/disputes", dispute_body(title=5, parties=[7]))
    fields = await expect_error(response, 422, "validation_failed")
    assert set(fields) == {"title", "parties.0"}


async def test_create_dispute_invalid_resident_id(api: Api) -> None:
    await api.login("officer")
    party = {"name": "王丽华", "role": "applicant", "id_number": BAD_CHECK_ID}
    response = await api.post("/api/v1/disputes", dispute_body(parties=[party]))
    fields = await expect_error(response, 422, "validation_failed")
    assert set(fields) == {"parties.0.id_number"}


async def test_body_must_be_a_json_object(api: Api) -> None:
    await api.login("officer")
    headers = {"X-CSRF-Token": api.csrf, "Content-Type": "application/json"}
    for raw in ("{not json", "", '"just a string"', "[1, 2]", '{"scale": NaN}'):
        response = await api.client.post("/api/v1/disputes", data=raw, headers=headers)
        await expect_error(response, 400, "invalid_request")
    array = await api.post("/api/v1/disputes", [dispute_body()])
    await expect_error(array, 400, "invalid_request")
    form = await api.client.post(
        "/api/v1/disputes", data={"title": "x"}, headers={"X-CSRF-Token": api.csrf}
    )
    await expect_error(form, 400, "invalid_request")
    assert await count(api.client, Dispute) == 0


async def test_failed_requests_write_nothing(api: Api, seed: Seed) -> None:
    await api.login("officer")
    await create(api)
    before = [await count(api.client, m) for m in (Dispute, Party, AuditEvent)]
    future = (datetime.now(CST) + timedelta(days=2)).isoformat()
    refusals = [
        (dispute_body(scale="abc"), 422, "validation_failed"),
        (dispute_body(occurred_at=future), 422, "validation_failed"),
        (dispute_body(parties=[]), 422, "validation_failed"),
        (dispute_body(office_id=seed.office_b), 403, "not_allowed"),
        ([dispute_body()], 400, "invalid_request"),
    ]
    for body, status, code in refusals:
        fields = await expect_error(await api.post("/api/v1/disputes", body), status, code)
        if code == "validation_failed":
            assert fields
    after = [await count(api.client, m) for m in (Dispute, Party, AuditEvent)]
    assert after == before


# --- reading ------------------------------------------------------------------------


async def test_list_never_contains_full_id_numbers(api: Api) -> None:
    await api.login("officer")
    created = await create(api)
    response = await api.get("/api/v1/disputes")
    listing = await expect_json(response)
    assert listing["total"] == 1 and listing["page"] == 1 and listing["per_page"] == 25
    assert [item["id"] for item in listing["items"]] == [created["id"]]
    text = await response.text()
    assert VALID_ID not in text and "id_number_encrypted" not in text
    assert "id_number_digest" not in text
    detail = await api.get(f"/api/v1/disputes/{created['id']}")
    detail_text = await detail.text()
    assert VALID_ID not in detail_text and "id_number_encrypted" not in detail_text
    found = await expect_json(await api.get("/api/v1/disputes", q="王丽华"))
    assert found["total"] == 1


async def test_list_filters_and_paging(api: Api) -> None:
    await api.login("officer")
    first = await create(api, title="第一件")
    second = await create(api, title="第二件")
    page = await expect_json(await api.get("/api/v1/disputes", per_page="1"))
    assert page["total"] == 2 and [i["id"] for i in page["items"]] == [second["id"]]
    page2 = await expect_json(await api.get("/api/v1/disputes", per_page="1", page="2"))
    assert [i["id"] for i in page2["items"]] == [first["id"]]
    closed = await expect_json(await api.get("/api/v1/disputes", status="closed"))
    assert closed["total"] == 0 and closed["items"] == []
    registered = await expect_json(await api.get("/api/v1/disputes", status="registered"))
    assert registered["total"] == 2
    for params, field in (
        ({"risk_level": "extreme"}, "risk_level"),
        ({"per_page": "0"}, "per_page"),
        ({"page": "x"}, "page"),
        ({"sort": "title"}, "sort"),
    ):
        response = await api.get("/api/v1/disputes", **params)
        fields = await expect_error(response, 422, "validation_failed")
        assert set(fields) == {field}


async def test_non_digit_or_unknown_ids_are_404(api: Api) -> None:
    await api.login("officer")
    await expect_error(await api.get("/api/v1/disputes/abc"), 404, "not_found")
    await expect_error(await api.get("/api/v1/disputes/1e3"), 404, "not_found")
    await expect_error(await api.get("/api/v1/disputes/99999"), 404, "not_found")
    triage = {"risk_level": "general", "assignee_id": 1, "reason": "x"}
    await expect_error(await api.post("/api/v1/disputes/-1/triage", triage), 404, "not_found")
    await expect_error(
        await api.post("/api/v1/parties/x1/reveal-id-number", {"reason": "核实身份"}),
        404,
        "not_found",
    )
    await expect_error(
        await api.post("/api/v1/parties/99999/reveal-id-number", {"reason": "核实身份"}),
        404,
        "not_found",
    )


async def test_dashboard(api: Api, seed: Seed) -> None:
    await api.login("officer")
    created = await create(api)
    board = await expect_json(await api.get("/api/v1/dashboard"))
    assert board["by_risk"] == {"high": 0, "attention": 0, "general": 0, "untriaged": 1}
    assert board["by_office"] == [{"office_id": seed.office_a, "name": "滨河社区警务室", "open": 1}]
    brief = {"id": created["id"], "reference": created["reference"], "title": created["title"]}
    assert board["untriaged"] == [brief]
    assert board["escalating"] == [brief]
    assert board["high_risk"] == [] and board["mine"] == []
    assert board["registered_today"] == 1


# --- triage and the closed loop -----------------------------------------------------


async def test_triage_then_transitions(api: Api, seed: Seed) -> None:
    await api.login("officer")
    created = await create(api)
    url = f"/api/v1/disputes/{created['id']}"
    triage = {"risk_level": "general", "assignee_id": seed.uid("officer"), "reason": "邻里小事"}
    triaged = await expect_json(await api.post(f"{url}/triage", triage))
    assert triaged["status"] == "triaged"
    assert triaged["risk_level"] == "general" and triaged["route"] == "community_team"
    assert triaged["assignee_id"] == seed.uid("officer")
    assert triaged["version"] == 2
    assert [e["kind"] for e in triaged["timeline"]] == ["registered", "triaged"]
    assert "in_mediation" in triaged["next_statuses"]

    illegal = await api.post(f"{url}/transitions", {"to_status": "agreement", "note": "跳步"})
    await expect_error(illegal, 409, "illegal_transition")
    stale = await api.post(
        f"{url}/transitions", {"to_status": "in_mediation", "note": "约谈", "expected_version": 1}
    )
    await expect_error(stale, 409, "conflict")
    moved = await expect_json(
        await api.post(
            f"{url}/transitions",
            {"to_status": "in_mediation", "note": "约谈双方", "expected_version": 2},
        )
    )
    assert moved["status"] == "in_mediation" and moved["version"] == 3
    assert moved["timeline"][-1]["kind"] == "status_changed"
    assert moved["timeline"][-1]["from_status"] == "triaged"
    missing_note = await api.post(f"{url}/transitions", {"to_status": "agreement"})
    assert set(await expect_error(missing_note, 422, "validation_failed")) == {"note"}


async def test_registered_cannot_jump_to_agreement(api: Api) -> None:
    await api.login("officer")
    created = await create(api)
    response = await api.post(
        f"/api/v1/disputes/{created['id']}/transitions", {"to_status": "agreement", "note": "达成"}
    )
    await expect_error(response, 409, "illegal_transition")
    detail = await expect_json(await api.get(f"/api/v1/disputes/{created['id']}"))
    assert detail["status"] == "registered" and detail["version"] == 1


async def test_add_party(api: Api, seed: Seed) -> None:
    await api.login("auxiliary")
    created = await create(api)
    url = f"/api/v1/disputes/{created['id']}/parties"
    party = await expect_json(
        await api.post(url, {"name": "李四", "role": "respondent", "phone": "13900139000"}), 201
    )
    assert party["dispute_id"] == created["id"] and party["phone"] == "139****9000"
    agent = await api.post(url, {"name": "赵律师", "role": "agent"})
    assert set(await expect_error(agent, 422, "validation_failed")) == {"represents_party_id"}
    represented = await api.post(
        url, {"name": "赵律师", "role": "agent", "represents_party_id": party["id"]}
    )
    assert (await expect_json(represented, 201))["represents_party_id"] == party["id"]


# --- permissions ----------------------------------------------------------------------


async def test_another_offices_dispute_is_not_allowed(api: Api) -> None:
    await api.login("officer_b")
    created = await create(api)
    await api.login("officer")
    response = await api.get(f"/api/v1/disputes/{created['id']}")
    await expect_error(response, 403, "not_allowed")
    listing = await expect_json(await api.get("/api/v1/disputes"))
    assert listing["total"] == 0
    await api.login("chief")
    await expect_json(await api.get(f"/api/v1/disputes/{created['id']}"))


async def test_another_stations_dispute_is_not_found(api: Api) -> None:
    await api.login("officer_c")
    created = await create(api)
    await api.login("chief")
    await expect_error(await api.get(f"/api/v1/disputes/{created['id']}"), 404, "not_found")
    party_id = created["parties"][0]["id"]
    reveal = await api.post(f"/api/v1/parties/{party_id}/reveal-id-number", {"reason": "核实身份"})
    await expect_error(reveal, 404, "not_found")


async def test_clerk_cannot_create(api: Api) -> None:
    await api.login("clerk")
    await expect_error(await api.post("/api/v1/disputes", dispute_body()), 403, "not_allowed")
    # The role is refused before the body is read: an empty body is still a 403.
    await expect_error(await api.post("/api/v1/disputes", {}), 403, "not_allowed")
    await expect_json(await api.get("/api/v1/disputes"))
    assert await count(api.client, Dispute) == 0


async def test_admin_cannot_read_disputes(api: Api) -> None:
    await api.login("officer")
    created = await create(api)
    await api.login("admin")
    for path in ("/api/v1/disputes", f"/api/v1/disputes/{created['id']}", "/api/v1/dashboard"):
        await expect_error(await api.get(path), 403, "not_allowed")


async def test_auxiliary_cannot_triage(api: Api, seed: Seed) -> None:
    await api.login("auxiliary")
    created = await create(api)
    triage = {"risk_level": "general", "assignee_id": seed.uid("officer"), "reason": "邻里小事"}
    response = await api.post(f"/api/v1/disputes/{created['id']}/triage", triage)
    await expect_error(response, 403, "not_allowed")
    transition = {"to_status": "withdrawn", "note": "撤回"}
    response = await api.post(f"/api/v1/disputes/{created['id']}/transitions", transition)
    await expect_error(response, 403, "not_allowed")


async def test_reveal_id_number_needs_a_reason_and_is_audited(api: Api, seed: Seed) -> None:
    await api.login("officer")
    created = await create(api)
    party_id = created["parties"][0]["id"]
    url = f"/api/v1/parties/{party_id}/reveal-id-number"

    async def reveals() -> list[AuditEvent]:
        async with transaction(api.client.app[SESSIONS]) as db:
            query = select(AuditEvent).where(AuditEvent.action == "party.reveal_id_number")
            return list(await db.exec(query))

    assert set(await expect_error(await api.post(url, {}), 422, "validation_failed")) == {"reason"}
    short = await api.post(url, {"reason": "看"})
    assert set(await expect_error(short, 422, "validation_failed")) == {"reason"}
    assert await reveals() == []

    shown = await expect_json(await api.post(url, {"reason": "调解前核实身份"}))
    assert shown == {"id_number": VALID_ID}
    rows = await reveals()
    assert len(rows) == 1
    assert rows[0].actor_id == seed.uid("officer")
    assert rows[0].object_type == "party" and rows[0].object_id == str(party_id)
    assert "调解前核实身份" in rows[0].detail

    await api.login("auxiliary")
    await expect_error(await api.post(url, {"reason": "调解前核实身份"}), 403, "not_allowed")
    detail = await expect_json(await api.get(f"/api/v1/disputes/{created['id']}"))
    assert detail["parties"][0]["phone"] == "138****8001"  # auxiliaries see it masked
    assert len(await reveals()) == 1


# --- offices and accounts ----------------------------------------------------------


async def test_offices(api: Api) -> None:
    await api.login("officer")
    listing = await expect_json(await api.get("/api/v1/offices"))
    assert [o["name"] for o in listing["items"]] == ["滨河社区警务室", "新村社区警务室"]
    await expect_error(await api.post("/api/v1/offices", {"name": "新警务室"}), 403, "not_allowed")

    await api.login("admin")
    office = await expect_json(await api.post("/api/v1/offices", {"name": "新警务室"}), 201)
    assert office["active"] is True and is_utc_iso(office["created_at"])
    duplicate = await api.post("/api/v1/offices", {"name": "新警务室"})
    assert set(await expect_error(duplicate, 409, "conflict")) == {"name"}
    updated = await expect_json(
        await api.put(f"/api/v1/offices/{office['id']}", {"name": "新警务室", "active": False})
    )
    assert updated["active"] is False
    await expect_error(await api.put("/api/v1/offices/x", {"name": "y"}), 404, "not_found")
    fields = await expect_error(
        await api.put(f"/api/v1/offices/{office['id']}", {"name": ""}), 422, "validation_failed"
    )
    assert set(fields) == {"name"}


async def test_users(api: Api, seed: Seed) -> None:
    await api.login("officer")
    colleagues = await api.get("/api/v1/users")
    items = (await expect_json(colleagues))["items"]
    assert {u["display_name"] for u in items} >= {"测试officer", "测试chief"}
    assert all("username" not in u and "phone" not in u for u in items)
    assert "password" not in await colleagues.text()  # not even when it was last changed

    await api.login("admin")
    response = await api.get("/api/v1/users")
    assert "username" in (await expect_json(response))["items"][0]
    text = await response.text()
    assert "password_hash" not in text and "$argon2" not in text

    new = {
        "username": "newbie",
        "display_name": "新同事",
        "role": "officer",
        "office_id": seed.office_a,
        "password": "first-pass-2026",
    }
    created = await api.post("/api/v1/users", new)
    user = await expect_json(created, 201)
    assert user["username"] == "newbie" and user["must_change_password"] is True
    text = await created.text()
    assert "first-pass-2026" not in text and "password_hash" not in text and "$argon2" not in text
    await expect_error(await api.post("/api/v1/users", new), 409, "conflict")
    weak = await api.post("/api/v1/users", {**new, "username": "weakling", "password": "short"})
    await expect_error(weak, 422, "validation_failed")
    no_office = {**new, "username": "floating", "office_id": None}
    await expect_error(await api.post("/api/v1/users", no_office), 422, "validation_failed")

    update = {"display_name": "新同事", "role": "clerk", "active": True}
    changed = await expect_json(await api.put(f"/api/v1/users/{user['id']}", update))
    assert changed["role"] == "clerk" and changed["office_id"] is None
    demote_self = await api.put(
        f"/api/v1/users/{seed.uid('admin')}", {"display_name": "管理员", "role": "chief"}
    )
    await expect_error(demote_self, 422, "validation_failed")

    await api.login("chief")
    refused = await api.put(f"/api/v1/users/{user['id']}", update)
    await expect_error(refused, 403, "not_allowed")
    await expect_error(await api.post("/api/v1/users", new), 403, "not_allowed")


async def test_a_password_chosen_by_someone_else_must_be_replaced_first(
    api: Api, seed: Seed
) -> None:
    await api.login("admin")
    new = {
        "username": "firstday",
        "display_name": "新同事",
        "role": "officer",
        "office_id": seed.office_a,
        "password": "first-pass-2026",
    }
    await expect_json(await api.post("/api/v1/users", new), 201)
    body = await api.login("firstday", "first-pass-2026")
    assert body["user"]["must_change_password"] is True
    me = await expect_json(await api.get("/api/v1/me"))
    assert me["user"]["must_change_password"] is True
    await expect_error(await api.get("/api/v1/disputes"), 403, "not_allowed")
    await expect_error(await api.post("/api/v1/disputes", dispute_body()), 403, "not_allowed")
    assert (await api.post("/api/v1/auth/logout")).status == 204


# --- the documentation ----------------------------------------------------------------

DOC_ROUTE = re.compile(r"^#{2,4}\s+`?(GET|POST|PUT|PATCH|DELETE)\s+(/api/v1/\S+?)`?\s*$", re.M)


def documented_routes() -> set[tuple[str, str]]:
    return {(m.group(1), m.group(2)) for m in DOC_ROUTE.finditer(DOCS.read_text("utf-8"))}


def test_every_api_route_is_documented(config: Config) -> None:
    app = create_app(config)
    registered = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/api/v1/")
        and route.method != "HEAD"  # aiohttp answers HEAD wherever GET is registered
    }
    documented = documented_routes()
    assert registered, "no API routes registered"
    assert registered - documented == set(), "routes missing from docs/api.md"
    assert documented - registered == set(), "docs/api.md documents routes that do not exist"


def test_docs_name_every_error_code() -> None:
    from server.errors import ErrorCode
    from server.http.render import STATUS_FOR

    text = DOCS.read_text("utf-8")
    for code, status in STATUS_FOR.items():
        assert re.search(rf"`{code.value}`\s*\|\s*{status}\b", text), code
    assert set(STATUS_FOR) == set(ErrorCode)
