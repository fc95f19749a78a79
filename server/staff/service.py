"""Offices and accounts. Only admins change them; every change is audited."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.audit import record
from server.auth import roles
from server.auth.passwords import check_strength, hash_password
from server.auth.roles import Actor, Role
from server.errors import N_, Conflict, NotAllowed, NotFound, ValidationFailed
from server.models import BeatOffice, StaffSession, StaffUser, Station
from server.staff.schemas import OfficeInput, UserInput, UserUpdate


def _require_admin(actor: Actor) -> None:
    if not roles.can_manage_org(actor):
        raise NotAllowed(N_("Only administrators manage offices and accounts."))


async def station_of(db: AsyncSession, actor: Actor) -> Station:
    station = await db.get(Station, actor.station_id)
    assert station is not None
    return station


async def offices(
    db: AsyncSession, station_id: int, *, active_only: bool = False
) -> list[BeatOffice]:
    query = select(BeatOffice).where(BeatOffice.station_id == station_id)
    if active_only:
        query = query.where(col(BeatOffice.active).is_(True))
    return list(await db.exec(query.order_by(col(BeatOffice.id))))


async def staff(db: AsyncSession, station_id: int, *, active_only: bool = False) -> list[StaffUser]:
    query = select(StaffUser).where(StaffUser.station_id == station_id)
    if active_only:
        query = query.where(col(StaffUser.active).is_(True))
    return list(await db.exec(query.order_by(col(StaffUser.id))))


async def get_office(db: AsyncSession, actor: Actor, office_id: int) -> BeatOffice:
    office = await db.get(BeatOffice, office_id)
    if office is None or office.station_id != actor.station_id:
        raise NotFound(N_("No such beat office."))
    return office


async def create_office(db: AsyncSession, actor: Actor, data: OfficeInput) -> BeatOffice:
    _require_admin(actor)
    await _unique_office_name(db, actor.station_id, data.name, None)
    office = BeatOffice(station_id=actor.station_id, **data.model_dump())
    db.add(office)
    await db.flush()
    record(db, actor, "office.create", object_type="beat_office", object_id=office.id)
    return office


async def update_office(
    db: AsyncSession, actor: Actor, office_id: int, data: OfficeInput
) -> BeatOffice:
    _require_admin(actor)
    office = await get_office(db, actor, office_id)
    await _unique_office_name(db, actor.station_id, data.name, office_id)
    for key, value in data.model_dump().items():
        setattr(office, key, value)
    record(db, actor, "office.update", object_type="beat_office", object_id=office.id)
    return office


async def _unique_office_name(
    db: AsyncSession, station_id: int, name: str, exclude_id: int | None
) -> None:
    query = select(BeatOffice).where(BeatOffice.station_id == station_id, BeatOffice.name == name)
    existing = (await db.exec(query)).first()
    if existing is not None and existing.id != exclude_id:
        raise Conflict(N_("A beat office with this name exists."), fields={"name": "duplicate"})


async def _check_placement(
    db: AsyncSession, actor: Actor, role: Role, office_id: int | None
) -> None:
    if role in roles.OFFICE_ROLES:
        if office_id is None:
            raise ValidationFailed(
                N_("Officers and auxiliaries belong to a beat office."),
                fields={"office_id": "missing"},
            )
        await get_office(db, actor, office_id)
    elif office_id is not None:
        await get_office(db, actor, office_id)


async def get_user(db: AsyncSession, actor: Actor, user_id: int) -> StaffUser:
    user = await db.get(StaffUser, user_id)
    if user is None or user.station_id != actor.station_id:
        raise NotFound(N_("No such account."))
    return user


async def create_user(db: AsyncSession, actor: Actor, data: UserInput) -> StaffUser:
    _require_admin(actor)
    await _check_placement(db, actor, data.role, data.office_id)
    check_strength(data.password, field="password")
    existing = (await db.exec(select(StaffUser).where(StaffUser.username == data.username))).first()
    if existing is not None:
        raise Conflict(N_("This username is taken."), fields={"username": "duplicate"})
    user = StaffUser(
        station_id=actor.station_id,
        office_id=data.office_id,
        username=data.username,
        display_name=data.display_name,
        role=data.role,
        police_number=data.police_number,
        phone=data.phone,
        password_hash=await hash_password(data.password),
        must_change_password=True,
    )
    db.add(user)
    await db.flush()
    record(
        db,
        actor,
        "user.create",
        object_type="staff_user",
        object_id=user.id,
        detail={"role": data.role.value},
    )
    return user


@dataclass(frozen=True)
class UserUpdated:
    """An account after an administrator's edit.

    ``signed_out`` says whether the edit ended the person's logins (a new role or
    office, deactivation, a reset password). The caller must then end their open
    room sockets too, after the commit: those were authorised once, at the upgrade,
    and would otherwise keep the old powers. The decision is made here only.
    """

    user: StaffUser
    signed_out: bool


async def update_user(
    db: AsyncSession, actor: Actor, user_id: int, data: UserUpdate
) -> UserUpdated:
    _require_admin(actor)
    user = await get_user(db, actor, user_id)
    await _check_placement(db, actor, data.role, data.office_id)
    if user.id == actor.user_id and (data.role != Role.ADMIN or not data.active):
        raise ValidationFailed(
            N_("You cannot remove your own administrator rights."), fields={"role": "self"}
        )
    changes = {
        key: value
        for key, value in data.model_dump(exclude={"new_password"}).items()
        if getattr(user, key) != value
    }
    for key, value in changes.items():
        setattr(user, key, value)
    ends_sessions = not data.active or "role" in changes or "office_id" in changes
    if data.new_password:
        check_strength(data.new_password)
        user.password_hash = await hash_password(data.new_password)
        user.must_change_password = True
        changes["password"] = "reset"
        ends_sessions = True
    if ends_sessions:
        # A changed role or a locked account must not keep old powers in an open browser.
        await db.exec(delete(StaffSession).where(col(StaffSession.user_id) == user.id))
    record(
        db,
        actor,
        "user.update",
        object_type="staff_user",
        object_id=user.id,
        detail={k: str(v) for k, v in changes.items()},
    )
    return UserUpdated(user, signed_out=ends_sessions)
