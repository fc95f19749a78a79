"""What each role may do: the permission functions, role by role."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from server.auth import roles
from server.auth.roles import OFFICE_ROLES, ROLE_LABELS, Actor, Role

OFFICE = 7
OTHER_OFFICE = 8


def actor(role: Role) -> Actor:
    office = OFFICE if role in OFFICE_ROLES else None
    return Actor(user_id=1, station_id=1, office_id=office, role=role, label="t")


PERMISSIONS: dict[str, tuple[Callable[[Actor], bool], set[Role]]] = {
    "read_disputes": (
        roles.can_read_disputes,
        {Role.CHIEF, Role.OFFICER, Role.AUXILIARY, Role.CLERK},
    ),
    "register": (roles.can_register, {Role.CHIEF, Role.OFFICER, Role.AUXILIARY}),
    "edit_parties": (roles.can_edit_parties, {Role.CHIEF, Role.OFFICER, Role.AUXILIARY}),
    "triage": (roles.can_triage, {Role.CHIEF, Role.OFFICER}),
    "change_status": (roles.can_change_status, {Role.CHIEF, Role.OFFICER}),
    "reveal_id_number": (roles.can_reveal_id_number, {Role.CHIEF, Role.OFFICER}),
    "manage_org": (roles.can_manage_org, {Role.ADMIN}),
    "read_audit": (roles.can_read_audit, {Role.ADMIN, Role.CHIEF}),
    "manage_workdays": (roles.can_manage_workdays, {Role.ADMIN}),
    "read_workdays": (roles.can_read_workdays, {Role.ADMIN, Role.CHIEF}),
}


@pytest.mark.parametrize("permission", sorted(PERMISSIONS))
@pytest.mark.parametrize("role", list(Role))
def test_permission_per_role(permission: str, role: Role) -> None:
    check, allowed = PERMISSIONS[permission]
    assert check(actor(role)) is (role in allowed)


def test_office_roles() -> None:
    assert OFFICE_ROLES == {Role.OFFICER, Role.AUXILIARY}


@pytest.mark.parametrize("role", [Role.CHIEF, Role.CLERK])
def test_station_roles_see_every_office(role: Role) -> None:
    assert roles.can_see_office(actor(role), OFFICE)
    assert roles.can_see_office(actor(role), OTHER_OFFICE)


@pytest.mark.parametrize("role", [Role.OFFICER, Role.AUXILIARY])
def test_office_roles_see_only_their_office(role: Role) -> None:
    assert roles.can_see_office(actor(role), OFFICE)
    assert not roles.can_see_office(actor(role), OTHER_OFFICE)


def test_office_role_without_an_office_sees_nothing() -> None:
    lost = Actor(user_id=1, station_id=1, office_id=None, role=Role.OFFICER, label="t")
    assert not roles.can_see_office(lost, OFFICE)


def test_admin_sees_no_office() -> None:
    admin = actor(Role.ADMIN)
    assert not roles.can_see_office(admin, OFFICE)
    # Even an admin attached to an office does not read its case files.
    attached = Actor(user_id=1, station_id=1, office_id=OFFICE, role=Role.ADMIN, label="t")
    assert not roles.can_see_office(attached, OFFICE)


def test_least_privilege_ordering() -> None:
    # Whoever may change a status may triage and reveal; nobody who cannot
    # read case files may act on them.
    for role in Role:
        a = actor(role)
        if roles.can_change_status(a):
            assert roles.can_triage(a) and roles.can_reveal_id_number(a)
        if not roles.can_read_disputes(a):
            assert not any(
                f(a)
                for f in (
                    roles.can_register,
                    roles.can_edit_parties,
                    roles.can_triage,
                    roles.can_change_status,
                    roles.can_reveal_id_number,
                )
            )


def test_every_role_has_a_label() -> None:
    assert set(ROLE_LABELS) == set(Role)


def test_actor_is_immutable() -> None:
    a = actor(Role.CHIEF)
    with pytest.raises(AttributeError):
        a.role = Role.ADMIN  # type: ignore[misc]
