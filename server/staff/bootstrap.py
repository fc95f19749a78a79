"""`concord create-user`: adding an account from the shell (the first admin, typically)."""

from __future__ import annotations

from sqlmodel import select

from server.auth.passwords import check_strength, hash_password
from server.auth.roles import Role
from server.config import Config
from server.db import make_engine, make_session_factory, transaction
from server.errors import DomainError
from server.models import BeatOffice, StaffUser, Station
from server.staff.schemas import UserInput


async def create_user_cli(
    config: Config,
    *,
    username: str,
    display_name: str,
    role: str,
    office: str | None,
    password: str,
    station_name: str | None,
) -> str:
    """Bootstrap or add an account from the shell (the first admin, typically)."""

    try:
        check_strength(password)
    except DomainError as exc:
        raise ValueError(exc.message % exc.params if exc.params else exc.message) from exc
    engine = make_engine(config.effective_database_url)
    factory = make_session_factory(engine)
    try:
        async with transaction(factory) as db:
            stations = list(await db.exec(select(Station)))
            if station_name:
                station = next((s for s in stations if s.name == station_name), None)
                if station is None:
                    station = Station(name=station_name, short_name=station_name[:2])
                    db.add(station)
                    await db.flush()
            elif len(stations) == 1:
                station = stations[0]
            else:
                raise ValueError("name the station with --station")
            office_id = None
            if office:
                found = (
                    await db.exec(
                        select(BeatOffice).where(
                            BeatOffice.station_id == station.id, BeatOffice.name == office
                        )
                    )
                ).first()
                if found is None:
                    raise ValueError(f"no beat office named {office!r} in {station.name}")
                office_id = found.id
            try:
                data = UserInput(
                    username=username,
                    display_name=display_name,
                    role=role,
                    office_id=office_id,
                    password=password,
                )
            except Exception as exc:
                raise ValueError(str(exc)) from exc
            if data.role in (Role.OFFICER, Role.AUXILIARY) and office_id is None:
                raise ValueError("officers and auxiliaries need --office")
            taken = (
                await db.exec(select(StaffUser).where(StaffUser.username == data.username))
            ).first()
            if taken is not None:
                raise ValueError(f"username {data.username!r} is taken")
            db.add(
                StaffUser(
                    station_id=station.id,  # type: ignore[arg-type]
                    office_id=office_id,
                    username=data.username,
                    display_name=data.display_name,
                    role=data.role,
                    password_hash=await hash_password(password),
                )
            )
        return f"created {data.username} ({data.role.value}) at {station.name}"
    finally:
        await engine.dispose()
