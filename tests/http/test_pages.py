"""The staff pages over real HTTP: login, CSRF, register, triage, status, permissions."""

from __future__ import annotations

from typing import Any

from sqlmodel import func, select

from server.keys import SESSIONS
from server.models import AuditEvent, Dispute, Party, StaffSession
from tests.conftest import PASSWORD, Client, Seed, csrf_from, login

VALID_ID = "110101199003074514"


def register_form(csrf: str, **overrides: str) -> dict[str, str]:
    form = {
        "csrf_token": csrf,
        "title": "养犬扰邻纠纷",
        "category": "neighbour",
        "cause": "犬只夜间吠叫，咬伤邻居",
        "occurred_at": "2026-11-20T21:30",
        "place": "滨河小区3栋",
        "scale": "2",
        "trend": "escalating",
        "source": "walk_in",
        "parties.0.role": "applicant",
        "parties.0.name": "王丽华",
        "parties.0.id_type": "resident_id",
        "parties.0.id_number": VALID_ID,
        "parties.0.phone": "13800138001",
        "parties.1.role": "respondent",
        "parties.1.name": "张国强",
        "parties.1.id_type": "resident_id",
    }
    form.update(overrides)
    return form


async def count(client: Client, model: Any) -> int:
    async with client.app[SESSIONS]() as db:
        return int((await db.exec(select(func.count()).select_from(model))).one())


async def register(client: Client, csrf: str, **overrides: str) -> int:
    response = await client.post(
        "/disputes/new", data=register_form(csrf, **overrides), allow_redirects=False
    )
    assert response.status == 303, await response.text()
    location = response.headers["Location"]
    return int(location.split("/")[2].split("?")[0])


async def test_login_page_is_chinese_and_sets_safe_cookies(client: Client, seed: Seed) -> None:
    page = await client.get("/login")
    text = await page.text()
    assert page.status == 200
    assert 'lang="zh-CN"' in text
    token = csrf_from(text)
    response = await client.post(
        "/login",
        data={"username": "officer", "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
    )
    assert response.status == 303
    cookie = response.cookies["concord_session"]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert (await count(client, StaffSession)) == 1


async def test_anonymous_pages_redirect_to_login(client: Client) -> None:
    response = await client.get("/disputes", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"].startswith("/login?next=/disputes")


async def test_login_without_csrf_is_refused(client: Client, seed: Seed) -> None:
    await client.get("/login")
    response = await client.post("/login", data={"username": "officer", "password": PASSWORD})
    assert response.status == 403
    assert "concord_session" not in response.cookies
    assert (await count(client, StaffSession)) == 0


async def test_ten_wrong_passwords_lock_the_account(client: Client, seed: Seed) -> None:
    token = csrf_from(await (await client.get("/login")).text())
    statuses = []
    for _ in range(10):
        response = await client.post(
            "/login",
            data={"username": "officer", "password": "wrong-password-1", "csrf_token": token},
        )
        statuses.append(response.status)
        assert "Traceback" not in await response.text()
    assert statuses[:4] == [401] * 4
    assert statuses[-1] == 429
    # Even the right password is refused while locked.
    response = await client.post(
        "/login", data={"username": "officer", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status == 429
    assert (await count(client, StaffSession)) == 0
    async with client.app[SESSIONS]() as db:
        failures = (
            await db.exec(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "auth.login_failed")
            )
        ).one()
    assert failures >= 5


async def test_open_redirect_is_not_followed(client: Client, seed: Seed) -> None:
    token = csrf_from(await (await client.get("/login")).text())
    response = await client.post(
        "/login",
        data={
            "username": "officer",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "//evil.example/steal",
        },
        allow_redirects=False,
    )
    assert response.headers["Location"] == "/"


async def test_the_login_page_sends_someone_still_signed_in_on_to_next(
    client: Client, seed: Seed
) -> None:
    """A room page that ended with signed_out links here; if this browser's own login
    still holds, the person goes straight back to the room, and never off the site."""
    await login(client, "officer")
    for target, expected in (
        ("/sessions/7/room", "/sessions/7/room"),
        ("//evil.example/steal", "/"),
        ("", "/"),
    ):
        response = await client.get("/login", params={"next": target}, allow_redirects=False)
        assert response.status == 303
        assert response.headers["Location"] == expected


async def test_ids_in_urls_are_ascii_digits_only(client: Client, seed: Seed) -> None:
    """``int("١") == 1``: without the check, each dispute had a second address per script."""
    csrf = await login(client, "officer")
    dispute_id = await register(client, csrf)
    assert dispute_id == 1
    assert (await client.get("/disputes/1")).status == 200
    for path in ("/disputes/١", "/disputes/１", "/disputes/۱", "/disputes/²", "/sessions/١"):
        assert (await client.get(path)).status == 404, path
    assert (await client.get("/api/v1/disputes/١")).status == 404
    refused = await client.post(
        "/disputes/١/status", data={"csrf_token": csrf, "to_status": "withdrawn", "note": "x"}
    )
    assert refused.status == 404


async def test_register_triage_and_move_a_dispute(client: Client, seed: Seed) -> None:
    csrf = await login(client, "officer")
    dispute_id = await register(client, csrf)
    detail = await client.get(f"/disputes/{dispute_id}")
    html = await detail.text()
    assert "养犬扰邻纠纷" in html
    assert VALID_ID not in html  # masked on the page
    assert "110***********4514" in html

    response = await client.post(
        f"/disputes/{dispute_id}/triage",
        data={
            "csrf_token": csrf,
            "risk_level": "attention",
            "assignee_id": str(seed.uid("officer")),
            "reason": "双方有肢体冲突",
        },
        allow_redirects=False,
    )
    assert response.status == 303
    response = await client.post(
        f"/disputes/{dispute_id}/status",
        data={"csrf_token": csrf, "to_status": "in_mediation", "note": "已约定时间"},
        allow_redirects=False,
    )
    assert response.status == 303
    async with client.app[SESSIONS]() as db:
        dispute = await db.get(Dispute, dispute_id)
    assert dispute is not None
    assert dispute.status == "in_mediation"
    assert dispute.route == "community_officer"

    dashboard = await (await client.get("/")).text()
    assert "养犬扰邻纠纷" in dashboard


async def test_register_shows_errors_next_to_fields_and_writes_nothing(
    client: Client, seed: Seed
) -> None:
    csrf = await login(client, "officer")
    response = await client.post(
        "/disputes/new",
        data=register_form(
            csrf,
            title="",
            scale="abc",
            place="x" * 201,
            **{"parties.0.id_number": "110101199003074515"},
        ),
    )
    html = await response.text()
    assert response.status == 422
    for field in ("title", "scale", "place", "parties.0.id_number"):
        assert f'id="{field}-error"' in html, field
    assert "纠纷" in html or "required" in html
    assert (await count(client, Dispute)) == 0
    assert (await count(client, Party)) == 0
    # What was typed is kept, so nothing has to be entered twice.
    assert "犬只夜间吠叫，咬伤邻居" in html


#: What a browser posts for the registration form left untouched (selects on their blank choice).
EMPTY_FORM = {
    "title": "",
    "category": "",
    "cause": "",
    "occurred_at": "",
    "place": "",
    "scale": "",
    "people_involved": "",
    "trend": "",
    "development": "",
    "description": "",
    "source": "walk_in",
    **{
        f"parties.{slot}.{field}": value
        for slot, role in ((0, "applicant"), (1, "respondent"))
        for field, value in (
            ("role", role),
            ("name", ""),
            ("id_type", "resident_id"),
            ("id_number", ""),
            ("phone", ""),
            ("address", ""),
        )
    },
}
REQUIRED = ("title", "category", "cause", "occurred_at", "place", "scale", "trend")


async def test_an_empty_registration_names_every_missing_field_at_once(
    client: Client, seed: Seed
) -> None:
    csrf = await login(client, "officer")
    response = await client.post("/disputes/new", data={"csrf_token": csrf, **EMPTY_FORM})
    html = await response.text()
    assert response.status == 422
    for field in (*REQUIRED, "parties.0.name"):
        assert f'id="{field}-error"' in html, field
    # The optional respondent left blank is no error.
    assert 'id="parties.1.name-error"' not in html
    assert (await count(client, Dispute)) == 0


async def test_an_empty_registration_by_a_chief_also_asks_for_the_office(
    client: Client, seed: Seed
) -> None:
    csrf = await login(client, "chief")
    response = await client.post(
        "/disputes/new", data={"csrf_token": csrf, "office_id": "", **EMPTY_FORM}
    )
    html = await response.text()
    assert response.status == 422
    for field in ("office_id", *REQUIRED, "parties.0.name"):
        assert f'id="{field}-error"' in html, field


async def test_register_needs_csrf(client: Client, seed: Seed) -> None:
    await login(client, "officer")
    form = register_form("")
    del form["csrf_token"]
    response = await client.post("/disputes/new", data=form)
    assert response.status == 403
    assert (await count(client, Dispute)) == 0


async def test_cross_origin_post_is_refused(client: Client, seed: Seed) -> None:
    csrf = await login(client, "officer")
    response = await client.post(
        "/disputes/new", data=register_form(csrf), headers={"Origin": "https://evil.example"}
    )
    assert response.status == 403
    assert (await count(client, Dispute)) == 0


async def test_illegal_transition_is_refused_on_the_page(client: Client, seed: Seed) -> None:
    csrf = await login(client, "officer")
    dispute_id = await register(client, csrf)
    response = await client.post(
        f"/disputes/{dispute_id}/status",
        data={"csrf_token": csrf, "to_status": "closed", "note": "想直接结案"},
    )
    assert response.status == 409
    assert 'role="alert"' in await response.text()
    async with client.app[SESSIONS]() as db:
        dispute = await db.get(Dispute, dispute_id)
    assert dispute is not None and dispute.status == "registered"


async def test_other_office_gets_a_clear_403(client: Client, seed: Seed) -> None:
    csrf = await login(client, "officer")
    dispute_id = await register(client, csrf)
    other = await client.post("/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert other.status == 303
    csrf_b = await login(client, "officer_b")
    page = await client.get(f"/disputes/{dispute_id}")
    assert page.status == 403
    assert "Traceback" not in await page.text()
    post = await client.post(
        f"/disputes/{dispute_id}/status",
        data={"csrf_token": csrf_b, "to_status": "withdrawn", "note": "越权"},
    )
    assert post.status == 403
    listing = await (await client.get("/disputes")).text()
    assert "养犬扰邻纠纷" not in listing


async def test_other_station_is_not_found(client: Client, seed: Seed) -> None:
    csrf = await login(client, "officer")
    dispute_id = await register(client, csrf)
    await client.post("/logout", data={"csrf_token": csrf})
    await login(client, "outsider")
    page = await client.get(f"/disputes/{dispute_id}")
    assert page.status == 404


async def test_roles_are_least_privilege(client: Client, seed: Seed) -> None:
    csrf = await login(client, "clerk")
    assert (await client.get("/disputes")).status == 200
    assert (await client.get("/disputes/new")).status == 403
    response = await client.post("/disputes/new", data=register_form(csrf))
    assert response.status == 403
    assert (await client.get("/admin")).status == 403
    await client.post("/logout", data={"csrf_token": csrf})

    await login(client, "admin")
    assert (await client.get("/disputes")).status == 403
    assert (await client.get("/admin")).status == 200
    home = await client.get("/", allow_redirects=False)
    assert home.status == 303 and home.headers["Location"] == "/admin"


async def test_revealing_an_id_number_needs_a_reason_and_is_audited(
    client: Client, seed: Seed
) -> None:
    csrf = await login(client, "officer")
    dispute_id = await register(client, csrf)
    async with client.app[SESSIONS]() as db:
        party = (await db.exec(select(Party).where(Party.dispute_id == dispute_id))).first()
    assert party is not None
    url = f"/disputes/{dispute_id}/parties/{party.id}/reveal"
    refused = await client.post(url, data={"csrf_token": csrf, "reason": ""})
    assert refused.status == 422
    assert VALID_ID not in await refused.text()
    shown = await client.post(url, data={"csrf_token": csrf, "reason": "核对身份以便调解"})
    assert shown.status == 200
    assert VALID_ID in await shown.text()
    assert shown.headers["Cache-Control"] == "no-store"
    async with client.app[SESSIONS]() as db:
        events = list(
            await db.exec(select(AuditEvent).where(AuditEvent.action == "party.reveal_id_number"))
        )
    assert len(events) == 1
    assert "核对身份以便调解" in events[0].detail
    assert events[0].ip


async def test_auxiliary_cannot_reveal_or_triage(client: Client, seed: Seed) -> None:
    csrf = await login(client, "auxiliary")
    dispute_id = await register(client, csrf)
    html = await (await client.get(f"/disputes/{dispute_id}")).text()
    assert "triage-form" not in html
    response = await client.post(
        f"/disputes/{dispute_id}/triage",
        data={
            "csrf_token": csrf,
            "risk_level": "general",
            "assignee_id": str(seed.uid("officer")),
            "reason": "越权分流",
        },
    )
    assert response.status == 403


async def test_add_guardian_for_a_party(client: Client, seed: Seed) -> None:
    csrf = await login(client, "officer")
    dispute_id = await register(client, csrf)
    async with client.app[SESSIONS]() as db:
        party = (await db.exec(select(Party).where(Party.dispute_id == dispute_id))).first()
    assert party is not None
    missing = await client.post(
        f"/disputes/{dispute_id}/parties",
        data={"csrf_token": csrf, "name": "王父", "role": "guardian"},
    )
    assert missing.status == 422
    ok = await client.post(
        f"/disputes/{dispute_id}/parties",
        data={
            "csrf_token": csrf,
            "name": "王父",
            "role": "guardian",
            "represents_party_id": str(party.id),
        },
        allow_redirects=False,
    )
    assert ok.status == 303
    assert (await count(client, Party)) == 3


async def test_list_search_and_filters(client: Client, seed: Seed) -> None:
    csrf = await login(client, "officer")
    await register(client, csrf)
    await register(client, csrf, title="楼上漏水", category="tenancy", **{"parties.0.name": "孙梅"})
    by_name = await (await client.get("/disputes", params={"q": "孙梅"})).text()
    assert "楼上漏水" in by_name and "养犬扰邻纠纷" not in by_name
    by_category = await (await client.get("/disputes", params={"category": "neighbour"})).text()
    assert "养犬扰邻纠纷" in by_category and "楼上漏水" not in by_category
    bad = await client.get("/disputes", params={"category": "nonsense", "date_from": "yesterday"})
    assert bad.status == 200
    text = await bad.text()
    assert 'id="category-error"' in text and 'id="date_from-error"' in text


async def test_garbage_ids_are_404_pages(client: Client, seed: Seed) -> None:
    await login(client, "officer")
    for path in ("/disputes/abc", "/disputes/99999999", "/disputes/1%00"):
        response = await client.get(path)
        assert response.status == 404, path
        assert "Traceback" not in await response.text()


async def test_logout_ends_the_session(client: Client, seed: Seed) -> None:
    csrf = await login(client, "officer")
    await client.post("/logout", data={"csrf_token": csrf})
    assert (await count(client, StaffSession)) == 0
    response = await client.get("/disputes", allow_redirects=False)
    assert response.status == 303


async def test_a_reset_password_must_be_changed_first(client: Client, seed: Seed) -> None:
    csrf = await login(client, "admin")
    response = await client.post(
        f"/admin/users/{seed.uid('officer')}",
        data={
            "csrf_token": csrf,
            "display_name": "测试officer",
            "role": "officer",
            "office_id": str(seed.office_a),
            "active": "on",
            "new_password": "temporary-pass-9",
        },
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    await client.post("/logout", data={"csrf_token": csrf})
    csrf = await login(client, "officer", "temporary-pass-9")
    response = await client.get("/disputes", allow_redirects=False)
    assert response.headers["Location"] == "/password"
    weak = await client.post(
        "/password",
        data={
            "csrf_token": csrf,
            "current_password": "temporary-pass-9",
            "new_password": "1234567890",
            "confirm_password": "1234567890",
        },
    )
    assert weak.status == 422
    ok = await client.post(
        "/password",
        data={
            "csrf_token": csrf,
            "current_password": "temporary-pass-9",
            "new_password": "my-own-secret-77",
            "confirm_password": "my-own-secret-77",
        },
        allow_redirects=False,
    )
    assert ok.status == 303
    assert (await client.get("/disputes")).status == 200
