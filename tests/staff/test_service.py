"""Offices and accounts: admin only, unique names, sessions ended on demotion."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from sqlmodel import col, select

from server.auth import sessions
from server.auth.passwords import verify_password
from server.auth.roles import Actor, Role
from server.auth.sessions import ThrottlePolicy, actor_for
from server.db import SessionFactory, transaction
from server.errors import Conflict, NotAllowed, NotFound, ValidationFailed
from server.models import AuditEvent, BeatOffice, StaffSession, StaffUser
from server.staff import service
from server.staff.schemas import OfficeInput, UserInput, UserUpdate
from tests.conftest import PASSWORD, Seed

FIRST_PASSWORD = "first-login-2024"


def act(seed: Seed, username: str = "admin") -> Actor:
    return actor_for(seed.users[username])


async def audit(factory: SessionFactory, action: str) -> list[AuditEvent]:
    async with transaction(factory) as db:
        rows = await db.exec(
            select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.id))
        )
        return list(rows)


async def open_session(factory: SessionFactory, username: str) -> str:
    async with transaction(factory) as db:
        token, _ = await sessions.login(
            db,
            username,
            PASSWORD,
            ip="10.0.0.1",
            user_agent="pytest",
            session_lifetime=timedelta(hours=1),
            policy=ThrottlePolicy(),
        )
    return token


async def session_count(factory: SessionFactory, user_id: int) -> int:
    async with transaction(factory) as db:
        rows = await db.exec(select(StaffSession).where(StaffSession.user_id == user_id))
        return len(list(rows))


def user_input(**overrides: Any) -> UserInput:
    data: dict[str, Any] = {
        "username": "newofficer",
        "display_name": "新民警",
        "role": "officer",
        "office_id": None,
        "password": FIRST_PASSWORD,
    }
    data.update(overrides)
    return UserInput.model_validate(data)


def user_update(user: StaffUser, **overrides: Any) -> UserUpdate:
    data: dict[str, Any] = {
        "display_name": user.display_name,
        "role": user.role,
        "office_id": user.office_id,
        "police_number": user.police_number,
        "phone": user.phone,
        "active": user.active,
    }
    data.update(overrides)
    return UserUpdate.model_validate(data)


async def create_user(factory: SessionFactory, seed: Seed, **overrides: Any) -> StaffUser:
    if "office_id" not in overrides:
        overrides["office_id"] = seed.office_a
    async with transaction(factory) as db:
        return await service.create_user(db, act(seed), user_input(**overrides))


async def update_user(
    factory: SessionFactory, seed: Seed, username: str, by: str = "admin", **overrides: Any
) -> StaffUser:
    user = seed.users[username]
    async with transaction(factory) as db:
        updated = await service.update_user(
            db, act(seed, by), seed.uid(username), user_update(user, **overrides)
        )
    return updated.user


# --- offices --------------------------------------------------------------


async def test_create_office(factory: SessionFactory, seed: Seed) -> None:
    async with transaction(factory) as db:
        office = await service.create_office(
            db, act(seed), OfficeInput(name=" 东湖社区警务室 ", address="东湖路1号")
        )
    assert office.id is not None
    assert office.station_id == seed.station_id
    assert office.name == "东湖社区警务室"
    assert office.active is True
    [row] = await audit(factory, "office.create")
    assert row.object_id == str(office.id)
    async with transaction(factory) as db:
        names = [o.name for o in await service.offices(db, seed.station_id)]
    assert names == ["滨河社区警务室", "新村社区警务室", "东湖社区警务室"]


@pytest.mark.parametrize("username", ["chief", "officer", "auxiliary", "clerk"])
async def test_only_admins_manage_offices(
    factory: SessionFactory, seed: Seed, username: str
) -> None:
    async with transaction(factory) as db:
        with pytest.raises(NotAllowed):
            await service.create_office(db, act(seed, username), OfficeInput(name="东湖"))
        with pytest.raises(NotAllowed):
            await service.update_office(
                db, act(seed, username), seed.office_a, OfficeInput(name="改名")
            )


async def test_duplicate_office_name_is_a_conflict(factory: SessionFactory, seed: Seed) -> None:
    with pytest.raises(Conflict) as exc:
        async with transaction(factory) as db:
            await service.create_office(db, act(seed), OfficeInput(name="滨河社区警务室"))
    assert exc.value.fields == {"name": "duplicate"}
    with pytest.raises(Conflict):
        async with transaction(factory) as db:
            await service.update_office(
                db, act(seed), seed.office_b, OfficeInput(name="滨河社区警务室")
            )


async def test_same_name_in_another_station_is_fine(factory: SessionFactory, seed: Seed) -> None:
    async with transaction(factory) as db:
        office = await service.create_office(db, act(seed), OfficeInput(name="青山社区警务室"))
    assert office.station_id == seed.station_id


async def test_update_office(factory: SessionFactory, seed: Seed) -> None:
    async with transaction(factory) as db:
        # Keeping its own name is not a duplicate.
        office = await service.update_office(
            db,
            act(seed),
            seed.office_a,
            OfficeInput(name="滨河社区警务室", phone="0755-1234", active=False),
        )
    assert office.phone == "0755-1234"
    assert office.active is False
    async with transaction(factory) as db:
        stored = await db.get(BeatOffice, seed.office_a)
        assert stored is not None and stored.active is False
        active = await service.offices(db, seed.station_id, active_only=True)
    assert [o.id for o in active] == [seed.office_b]
    assert len(await audit(factory, "office.update")) == 1


async def test_update_office_of_another_station_is_not_found(
    factory: SessionFactory, seed: Seed
) -> None:
    office_c = seed.users["officer_c"].office_id
    assert office_c is not None
    async with transaction(factory) as db:
        with pytest.raises(NotFound):
            await service.update_office(db, act(seed), office_c, OfficeInput(name="改名"))
        with pytest.raises(NotFound):
            await service.update_office(db, act(seed), 999, OfficeInput(name="改名"))


def test_office_input_validation() -> None:
    with pytest.raises(ValidationError):
        OfficeInput(name="  ")
    with pytest.raises(ValidationError):
        OfficeInput(name="x" * 101)
    with pytest.raises(ValidationError):
        OfficeInput.model_validate({"name": "东湖", "station_id": 2})


# --- create_user ----------------------------------------------------------


async def test_create_user(factory: SessionFactory, seed: Seed) -> None:
    user = await create_user(factory, seed, username="  NewOfficer ", police_number="010199")
    assert user.id is not None
    assert user.username == "newofficer"
    assert user.station_id == seed.station_id
    assert user.office_id == seed.office_a
    assert user.role == Role.OFFICER
    assert user.must_change_password is True
    assert user.active is True
    assert FIRST_PASSWORD not in user.password_hash
    assert await verify_password(user.password_hash, FIRST_PASSWORD)
    [row] = await audit(factory, "user.create")
    assert row.object_id == str(user.id)
    assert json.loads(row.detail) == {"role": "officer"}
    assert FIRST_PASSWORD not in row.detail


@pytest.mark.parametrize("username", ["chief", "officer", "auxiliary", "clerk"])
async def test_only_admins_create_users(factory: SessionFactory, seed: Seed, username: str) -> None:
    async with transaction(factory) as db:
        with pytest.raises(NotAllowed):
            await service.create_user(db, act(seed, username), user_input(office_id=seed.office_a))


@pytest.mark.parametrize("username", ["officer", "OFFICER", "outsider"])
async def test_duplicate_username_is_a_conflict(
    factory: SessionFactory, seed: Seed, username: str
) -> None:
    # Usernames are unique across stations: "outsider" belongs to another one.
    with pytest.raises(Conflict) as exc:
        await create_user(factory, seed, username=username)
    assert exc.value.fields == {"username": "duplicate"}


@pytest.mark.parametrize("role", ["officer", "auxiliary"])
async def test_office_role_needs_an_office(factory: SessionFactory, seed: Seed, role: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        await create_user(factory, seed, role=role, office_id=None)
    assert exc.value.fields == {"office_id": "missing"}
    async with transaction(factory) as db:
        assert (
            await db.exec(select(StaffUser).where(StaffUser.username == "newofficer"))
        ).first() is None


@pytest.mark.parametrize("role", ["chief", "clerk", "admin"])
async def test_station_roles_need_no_office(factory: SessionFactory, seed: Seed, role: str) -> None:
    user = await create_user(factory, seed, role=role, office_id=None)
    assert user.office_id is None


async def test_office_of_another_station_is_refused(factory: SessionFactory, seed: Seed) -> None:
    office_c = seed.users["officer_c"].office_id
    with pytest.raises(NotFound):
        await create_user(factory, seed, office_id=office_c)
    with pytest.raises(NotFound):
        await create_user(factory, seed, role="chief", office_id=office_c)


async def test_weak_first_password_is_refused(factory: SessionFactory, seed: Seed) -> None:
    with pytest.raises(ValidationFailed) as exc:
        await create_user(factory, seed, password="password")
    # The error must name the field the create form has: "password".
    assert set(exc.value.fields) <= set(UserInput.model_fields)


def test_user_input_validation() -> None:
    for bad in ["ab", "1abc", "with space", "x" * 41, "名字abc"]:
        with pytest.raises(ValidationError):
            user_input(username=bad)
    with pytest.raises(ValidationError):
        user_input(role="superuser")
    with pytest.raises(ValidationError):
        user_input(password="x" * 129)
    with pytest.raises(ValidationError):
        UserInput.model_validate({**user_input().model_dump(), "must_change_password": False})
    assert user_input(username="Li.Ming-2").username == "li.ming-2"


# --- update_user ----------------------------------------------------------


async def test_update_user(factory: SessionFactory, seed: Seed) -> None:
    user = await update_user(factory, seed, "officer", display_name="李明", phone="13900000000")
    assert user.display_name == "李明"
    assert user.phone == "13900000000"
    [row] = await audit(factory, "user.update")
    assert json.loads(row.detail) == {"display_name": "李明", "phone": "13900000000"}


@pytest.mark.parametrize("username", ["chief", "officer", "clerk"])
async def test_only_admins_update_users(factory: SessionFactory, seed: Seed, username: str) -> None:
    with pytest.raises(NotAllowed):
        await update_user(factory, seed, "auxiliary", by=username, display_name="x")


async def test_update_user_of_another_station_is_not_found(
    factory: SessionFactory, seed: Seed
) -> None:
    user = seed.users["outsider"]
    async with transaction(factory) as db:
        with pytest.raises(NotFound):
            await service.update_user(db, act(seed), seed.uid("outsider"), user_update(user))


async def test_update_officer_without_office_is_refused(
    factory: SessionFactory, seed: Seed
) -> None:
    with pytest.raises(ValidationFailed) as exc:
        await update_user(factory, seed, "officer", office_id=None)
    assert exc.value.fields == {"office_id": "missing"}
    with pytest.raises(ValidationFailed):
        await update_user(factory, seed, "clerk", role="auxiliary", office_id=None)


@pytest.mark.parametrize("change", [{"role": "chief"}, {"role": "clerk"}, {"active": False}])
async def test_admin_cannot_demote_themself(
    factory: SessionFactory, seed: Seed, change: dict[str, Any]
) -> None:
    with pytest.raises(ValidationFailed) as exc:
        await update_user(factory, seed, "admin", **change)
    assert exc.value.fields == {"role": "self"}
    async with transaction(factory) as db:
        admin = await db.get(StaffUser, seed.uid("admin"))
        assert admin is not None and admin.role == Role.ADMIN and admin.active


async def test_admin_may_edit_own_details(factory: SessionFactory, seed: Seed) -> None:
    user = await update_user(factory, seed, "admin", display_name="管理员")
    assert user.display_name == "管理员"


async def test_admin_may_demote_another_admin(factory: SessionFactory, seed: Seed) -> None:
    other = await create_user(factory, seed, username="admin2", role="admin", office_id=None)
    async with transaction(factory) as db:
        updated = await service.update_user(
            db, act(seed), other.id or 0, user_update(other, role="clerk")
        )
    assert updated.user.role == Role.CLERK and updated.signed_out


async def test_deactivation_deletes_sessions(factory: SessionFactory, seed: Seed) -> None:
    await open_session(factory, "officer")
    await open_session(factory, "officer")
    chief = await open_session(factory, "chief")
    assert await session_count(factory, seed.uid("officer")) == 2
    await update_user(factory, seed, "officer", active=False)
    assert await session_count(factory, seed.uid("officer")) == 0
    async with transaction(factory) as db:
        assert await sessions.resolve(db, chief) is not None
        stored = await db.get(StaffUser, seed.uid("officer"))
        assert stored is not None and stored.active is False


@pytest.mark.parametrize(
    "change",
    [{"role": "auxiliary"}, {"office_id": "b"}, {"new_password": "reset-pass-2024"}],
)
async def test_role_office_or_password_change_ends_sessions(
    factory: SessionFactory, seed: Seed, change: dict[str, Any]
) -> None:
    if change.get("office_id") == "b":
        change = {"office_id": seed.office_b}
    await open_session(factory, "officer")
    await update_user(factory, seed, "officer", **change)
    assert await session_count(factory, seed.uid("officer")) == 0


async def test_cosmetic_change_keeps_sessions(factory: SessionFactory, seed: Seed) -> None:
    await open_session(factory, "officer")
    await update_user(factory, seed, "officer", display_name="李明", police_number="010135")
    assert await session_count(factory, seed.uid("officer")) == 1


async def test_password_reset(factory: SessionFactory, seed: Seed) -> None:
    user = await update_user(factory, seed, "officer", new_password="reset-pass-2024")
    assert user.must_change_password is True
    assert await verify_password(user.password_hash, "reset-pass-2024")
    [row] = await audit(factory, "user.update")
    assert json.loads(row.detail) == {"password": "reset"}
    assert "reset-pass-2024" not in row.detail


async def test_weak_password_reset_is_refused(factory: SessionFactory, seed: Seed) -> None:
    with pytest.raises(ValidationFailed) as exc:
        await update_user(factory, seed, "officer", new_password="weak")
    assert exc.value.fields == {"new_password": "too_short"}


async def test_staff_listing(factory: SessionFactory, seed: Seed) -> None:
    await update_user(factory, seed, "clerk", active=False)
    async with transaction(factory) as db:
        everyone = [u.username for u in await service.staff(db, seed.station_id)]
        active = [u.username for u in await service.staff(db, seed.station_id, active_only=True)]
        station = await service.station_of(db, act(seed))
    assert everyone == ["admin", "chief", "officer", "officer_b", "auxiliary", "clerk"]
    assert active == ["admin", "chief", "officer", "officer_b", "auxiliary"]
    assert station.short_name == "白石"
