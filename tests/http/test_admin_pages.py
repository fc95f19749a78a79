"""Administration pages: offices, accounts, the audit trail."""

from __future__ import annotations

from sqlmodel import select

from server.keys import SESSIONS
from server.models import BeatOffice, StaffUser, Station
from tests.conftest import Client, Seed, login


async def test_admin_adds_an_office_and_an_officer(client: Client, seed: Seed) -> None:
    csrf = await login(client, "admin")
    response = await client.post(
        "/admin/offices/new",
        data={"csrf_token": csrf, "name": "东湖社区警务室", "address": "东湖路1号", "active": "on"},
        allow_redirects=False,
    )
    assert response.status == 303
    async with client.app[SESSIONS]() as db:
        office = (
            await db.exec(select(BeatOffice).where(BeatOffice.name == "东湖社区警务室"))
        ).one()
    response = await client.post(
        "/admin/users/new",
        data={
            "csrf_token": csrf,
            "username": "donghu",
            "display_name": "周敏",
            "role": "officer",
            "office_id": str(office.id),
            "password": "first-password-1",
        },
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    async with client.app[SESSIONS]() as db:
        user = (await db.exec(select(StaffUser).where(StaffUser.username == "donghu"))).one()
    assert user.must_change_password
    assert user.password_hash.startswith("$argon2id$")
    page = await (await client.get("/admin")).text()
    assert "东湖社区警务室" in page and "周敏" in page


async def test_bad_account_input_is_explained(client: Client, seed: Seed) -> None:
    csrf = await login(client, "admin")
    base = {"csrf_token": csrf, "display_name": "某人", "password": "first-password-1"}
    cases = [
        ({"username": "officer", "role": "clerk"}, "username"),  # taken
        ({"username": "Bad Name!", "role": "clerk"}, "username"),
        ({"username": "newofficer", "role": "officer"}, "office_id"),  # needs an office
        ({"username": "newclerk", "role": "janitor"}, "role"),
        ({"username": "x" * 41, "role": "clerk"}, "username"),
        ({"username": "weakpass", "role": "clerk", "password": "12345"}, "new_password"),
    ]
    for fields, field in cases:
        response = await client.post("/admin/users/new", data={**base, **fields})
        assert response.status in (409, 422), fields
        html = await response.text()
        assert 'role="alert"' in html or f'id="{field}-error"' in html, fields
    async with client.app[SESSIONS]() as db:
        names = [u.username for u in await db.exec(select(StaffUser))]
    assert not {"newofficer", "newclerk", "weakpass"} & set(names)


async def test_duplicate_office_name_is_refused(client: Client, seed: Seed) -> None:
    csrf = await login(client, "admin")
    response = await client.post(
        "/admin/offices/new", data={"csrf_token": csrf, "name": "滨河社区警务室", "active": "on"}
    )
    assert response.status == 409
    missing = await client.post("/admin/offices/new", data={"csrf_token": csrf, "name": ""})
    assert missing.status == 422
    assert 'id="name-error"' in await missing.text()


async def test_deactivated_account_loses_its_session(client: Client, seed: Seed) -> None:
    csrf = await login(client, "admin")
    response = await client.post(
        f"/admin/users/{seed.uid('clerk')}",
        data={"csrf_token": csrf, "display_name": "测试clerk", "role": "clerk"},
        allow_redirects=False,
    )
    assert response.status == 303
    async with client.app[SESSIONS]() as db:
        clerk = await db.get(StaffUser, seed.uid("clerk"))
    assert clerk is not None and not clerk.active


async def test_admin_cannot_lock_themself_out(client: Client, seed: Seed) -> None:
    csrf = await login(client, "admin")
    response = await client.post(
        f"/admin/users/{seed.uid('admin')}",
        data={"csrf_token": csrf, "display_name": "管理员", "role": "clerk", "active": "on"},
    )
    assert response.status == 422


async def test_other_station_accounts_are_not_reachable(client: Client, seed: Seed) -> None:
    await login(client, "admin")
    assert (await client.get(f"/admin/users/{seed.uid('outsider')}")).status == 404


async def test_officers_cannot_administer(client: Client, seed: Seed) -> None:
    csrf = await login(client, "officer")
    assert (await client.get("/admin/users/new")).status == 403
    response = await client.post(
        "/admin/offices/new", data={"csrf_token": csrf, "name": "越权警务室", "active": "on"}
    )
    assert response.status == 403
    assert (await client.get("/audit")).status == 403


async def test_audit_trail_lists_logins_for_the_chief(client: Client, seed: Seed) -> None:
    await login(client, "chief")
    page = await client.get("/audit", params={"action": "auth."})
    html = await page.text()
    assert page.status == 200
    assert "auth.login" in html


async def test_a_committee_name_too_long_for_the_paper_is_refused_not_cut(
    client: Client, seed: Seed
) -> None:
    """The committee's name is printed on every people's agreement: a cut name would be a
    wrong name, so one character too many is refused and the saved name stays."""
    csrf = await login(client, "admin")
    async with client.app[SESSIONS]() as db:
        admin = (await db.exec(select(StaffUser).where(StaffUser.username == "admin"))).one()
        station = select(Station).where(Station.id == admin.station_id)
        before = (await db.exec(station)).one().mediation_committee
    response = await client.post(
        "/admin/seal", data={"csrf_token": csrf, "mediation_committee": "调" * 101}
    )
    assert response.status == 422
    assert "最多 100 个字符。" in await response.text()
    async with client.app[SESSIONS]() as db:
        assert (await db.exec(station)).one().mediation_committee == before
