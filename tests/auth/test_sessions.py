"""Logins, throttling, sessions and password changes against the real database."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import col, select

from server.auth import sessions
from server.auth.passwords import verify_password
from server.auth.roles import Actor, Role
from server.auth.sessions import ThrottlePolicy, actor_for, token_hash
from server.db import SessionFactory, transaction
from server.errors import DomainError, LimitExceeded, NotAuthenticated, ValidationFailed
from server.models import AuditEvent, LoginThrottle, StaffSession, StaffUser, utcnow
from tests.conftest import PASSWORD, Seed

POLICY = ThrottlePolicy(max_failures=5)
NEW_PASSWORD = "a-brand-new-secret-7"


async def login(
    factory: SessionFactory,
    username: str,
    password: str = PASSWORD,
    *,
    ip: str = "10.0.0.1",
    policy: ThrottlePolicy = POLICY,
    lifetime: timedelta = timedelta(hours=12),
) -> tuple[str, StaffUser]:
    async with transaction(factory) as db:
        return await sessions.login(
            db,
            username,
            password,
            ip=ip,
            user_agent="pytest-browser",
            session_lifetime=lifetime,
            policy=policy,
        )


async def failed_login(
    factory: SessionFactory,
    username: str,
    password: str = "wrong-password-1",
    *,
    ip: str = "10.0.0.1",
    policy: ThrottlePolicy = POLICY,
) -> DomainError:
    """A refused login; caught inside the transaction so the throttle rows are kept."""
    async with transaction(factory) as db:
        try:
            await sessions.login(
                db,
                username,
                password,
                ip=ip,
                user_agent="pytest-browser",
                session_lifetime=timedelta(hours=12),
                policy=policy,
            )
        except (NotAuthenticated, LimitExceeded) as exc:
            return exc
    raise AssertionError("the login was expected to fail")


async def all_sessions(factory: SessionFactory) -> list[StaffSession]:
    async with transaction(factory) as db:
        return list(await db.exec(select(StaffSession).order_by(col(StaffSession.id))))


async def throttle(factory: SessionFactory, key: str) -> LoginThrottle | None:
    async with transaction(factory) as db:
        return await db.get(LoginThrottle, key)


async def audit(factory: SessionFactory, action: str) -> list[AuditEvent]:
    async with transaction(factory) as db:
        rows = await db.exec(
            select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.id))
        )
        return list(rows)


# --- helpers --------------------------------------------------------------


def test_token_hash_is_sha256_hex() -> None:
    assert token_hash("abc") == ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


def test_actor_for(seed: Seed) -> None:
    user = seed.users["officer"]
    actor = actor_for(user, "10.1.2.3", "Firefox")
    assert actor == Actor(
        user_id=seed.uid("officer"),
        station_id=seed.station_id,
        office_id=seed.office_a,
        role=Role.OFFICER,
        label="测试officer (officer)",
        ip="10.1.2.3",
        user_agent="Firefox",
    )
    assert isinstance(actor.role, Role)


def test_default_policy() -> None:
    policy = ThrottlePolicy()
    assert (policy.max_failures, policy.ip_max_failures) == (5, 30)
    assert policy.lockout == timedelta(minutes=15)


# --- login ----------------------------------------------------------------


async def test_login_creates_a_session_holding_only_the_token_hash(
    factory: SessionFactory, seed: Seed
) -> None:
    before = utcnow()
    token, user = await login(factory, "officer")
    assert user.id == seed.uid("officer")
    assert len(token) >= 40
    [session] = await all_sessions(factory)
    assert session.token_hash == token_hash(token)
    assert session.user_id == seed.uid("officer")
    assert session.ip == "10.0.0.1"
    assert session.user_agent == "pytest-browser"
    assert before <= session.created_at <= utcnow()
    assert (
        timedelta(hours=12) - timedelta(seconds=5)
        <= session.expires_at - session.created_at
        <= timedelta(hours=12)
    )
    async with transaction(factory) as db:
        raw = (await db.exec(text("SELECT * FROM staff_session"))).all()  # type: ignore[call-overload]
    assert all(token not in str(value) for value in raw[0])
    [row] = await audit(factory, "auth.login")
    assert row.actor_id == seed.uid("officer")
    assert row.ip == "10.0.0.1"
    assert token not in row.detail


async def test_each_login_gets_its_own_token(factory: SessionFactory) -> None:
    first, _ = await login(factory, "officer")
    second, _ = await login(factory, "officer")
    assert first != second
    assert len(await all_sessions(factory)) == 2


async def test_username_is_trimmed_and_case_insensitive(factory: SessionFactory) -> None:
    _, user = await login(factory, "  OFFICER ")
    assert user.username == "officer"


async def test_wrong_password(factory: SessionFactory, seed: Seed) -> None:
    error = await failed_login(factory, "officer")
    assert isinstance(error, NotAuthenticated)
    assert await all_sessions(factory) == []
    user_row = await throttle(factory, "user:officer")
    ip_row = await throttle(factory, "ip:10.0.0.1")
    assert user_row is not None and user_row.failures == 1 and user_row.locked_until is None
    assert ip_row is not None and ip_row.failures == 1
    [row] = await audit(factory, "auth.login_failed")
    assert row.actor_id is None
    assert row.object_id == str(seed.uid("officer"))
    assert row.station_id == seed.station_id
    assert json.loads(row.detail) == {"username": "officer"}
    assert "wrong-password-1" not in row.detail


async def test_unknown_user_looks_like_a_wrong_password(factory: SessionFactory) -> None:
    unknown = await failed_login(factory, "nobody")
    wrong = await failed_login(factory, "officer")
    assert type(unknown) is type(wrong) is NotAuthenticated
    assert unknown.message == wrong.message
    row = await throttle(factory, "user:nobody")
    assert row is not None and row.failures == 1
    audits = await audit(factory, "auth.login_failed")
    assert audits[0].object_id == ""
    assert audits[0].station_id is None


async def test_inactive_user_cannot_log_in(factory: SessionFactory, seed: Seed) -> None:
    async with transaction(factory) as db:
        user = await db.get(StaffUser, seed.uid("officer"))
        assert user is not None
        user.active = False
    error = await failed_login(factory, "officer", PASSWORD)
    assert isinstance(error, NotAuthenticated)
    assert await all_sessions(factory) == []


async def test_lockout_after_max_failures(factory: SessionFactory) -> None:
    for attempt in range(1, 5):
        error = await failed_login(factory, "officer")
        assert isinstance(error, NotAuthenticated), attempt
    row = await throttle(factory, "user:officer")
    assert row is not None and row.failures == 4 and row.locked_until is None
    # The fifth failure locks the account.
    assert isinstance(await failed_login(factory, "officer"), NotAuthenticated)
    row = await throttle(factory, "user:officer")
    assert row is not None and row.locked_until is not None
    assert row.locked_until > utcnow() + timedelta(minutes=14)
    # Now even the right password is refused, from any address.
    error = await failed_login(factory, "officer", PASSWORD)
    assert isinstance(error, LimitExceeded)
    assert error.params["minutes"] in (15, 16)
    assert error.message == sessions.ACCOUNT_LOCKED
    error = await failed_login(factory, "officer", PASSWORD, ip="10.9.9.9")
    assert isinstance(error, LimitExceeded)
    assert await all_sessions(factory) == []
    # Other accounts are not affected.
    await login(factory, "chief")


async def test_lockout_honours_the_configured_limit(factory: SessionFactory) -> None:
    strict = ThrottlePolicy(max_failures=2)
    assert isinstance(await failed_login(factory, "officer", policy=strict), NotAuthenticated)
    assert isinstance(await failed_login(factory, "officer", policy=strict), NotAuthenticated)
    error = await failed_login(factory, "officer", PASSWORD, policy=strict)
    assert isinstance(error, LimitExceeded)


async def test_unknown_usernames_lock_too(factory: SessionFactory) -> None:
    for _ in range(5):
        await failed_login(factory, "ghost")
    assert isinstance(await failed_login(factory, "ghost"), LimitExceeded)


async def test_lock_expires(factory: SessionFactory) -> None:
    for _ in range(5):
        await failed_login(factory, "officer")
    async with transaction(factory) as db:
        row = await db.get(LoginThrottle, "user:officer")
        assert row is not None
        row.locked_until = utcnow() - timedelta(seconds=1)
    token, _ = await login(factory, "officer")
    assert token
    assert await throttle(factory, "user:officer") is None


async def test_success_resets_the_user_counter(factory: SessionFactory) -> None:
    for _ in range(4):
        await failed_login(factory, "officer")
    await login(factory, "officer")
    assert await throttle(factory, "user:officer") is None
    for _ in range(4):
        assert isinstance(await failed_login(factory, "officer"), NotAuthenticated)


async def test_old_failures_are_forgotten(factory: SessionFactory) -> None:
    for _ in range(4):
        await failed_login(factory, "officer")
    async with transaction(factory) as db:
        row = await db.get(LoginThrottle, "user:officer")
        assert row is not None
        row.first_failure_at = utcnow() - timedelta(hours=1)
    assert isinstance(await failed_login(factory, "officer"), NotAuthenticated)
    row = await throttle(factory, "user:officer")
    assert row is not None and row.failures == 1 and row.locked_until is None
    await login(factory, "officer")


async def test_address_lockout(factory: SessionFactory) -> None:
    policy = ThrottlePolicy(max_failures=5, ip_max_failures=3)
    for name in ("a1", "b2", "c3"):
        await failed_login(factory, name, policy=policy, ip="192.0.2.7")
    error = await failed_login(factory, "officer", PASSWORD, policy=policy, ip="192.0.2.7")
    assert isinstance(error, LimitExceeded)
    # It is the address that is paused, not the account, and the refusal says so.
    assert error.message == sessions.ADDRESS_PAUSED and "account" not in error.message
    assert await throttle(factory, "user:officer") is None
    # The same account from another address is fine.
    await login(factory, "officer", ip="192.0.2.8", policy=policy)


async def test_throttle_rows_survive_the_refusal(factory: SessionFactory) -> None:
    # Without catching inside the transaction nothing is kept: the reason
    # callers must catch there.
    with pytest.raises(NotAuthenticated):
        await login(factory, "officer", "wrong-password-1")
    assert await throttle(factory, "user:officer") is None
    assert await audit(factory, "auth.login_failed") == []


async def test_audit_label_fits_its_column(factory: SessionFactory, seed: Seed) -> None:
    # display_name and username may each be 40 characters; the audit row's
    # actor_label column holds 80.
    long_name = "x" * 40
    async with transaction(factory) as db:
        db.add(
            StaffUser(
                station_id=seed.station_id,
                username="u" * 40,
                display_name=long_name,
                role=Role.CHIEF,
                password_hash=seed.users["chief"].password_hash,
            )
        )
    await login(factory, "u" * 40)
    [row] = await audit(factory, "auth.login")
    limit = AuditEvent.__table__.c.actor_label.type.length  # type: ignore[attr-defined]
    assert len(row.actor_label) <= limit


# --- resolve and logout ---------------------------------------------------


async def test_resolve(factory: SessionFactory, seed: Seed) -> None:
    token, _ = await login(factory, "officer")
    async with transaction(factory) as db:
        found = await sessions.resolve(db, token)
        assert found is not None
        session, user = found
        assert user.id == seed.uid("officer")
        assert session.token_hash == token_hash(token)
        assert await sessions.resolve(db, token + "x") is None
        assert await sessions.resolve(db, "") is None
        assert await sessions.resolve(db, token_hash(token)) is None


async def test_resolve_of_expired_session_is_none(factory: SessionFactory) -> None:
    token, _ = await login(factory, "officer")
    async with transaction(factory) as db:
        [session] = list(await db.exec(select(StaffSession)))
        session.expires_at = utcnow() - timedelta(seconds=1)
    async with transaction(factory) as db:
        assert await sessions.resolve(db, token) is None


async def test_zero_lifetime_session_is_already_expired(factory: SessionFactory) -> None:
    token, _ = await login(factory, "officer", lifetime=timedelta(0))
    async with transaction(factory) as db:
        assert await sessions.resolve(db, token) is None


async def test_resolve_of_deactivated_user_is_none(factory: SessionFactory, seed: Seed) -> None:
    token, _ = await login(factory, "officer")
    async with transaction(factory) as db:
        user = await db.get(StaffUser, seed.uid("officer"))
        assert user is not None
        user.active = False
    async with transaction(factory) as db:
        assert await sessions.resolve(db, token) is None


async def test_logout(factory: SessionFactory, seed: Seed) -> None:
    token, user = await login(factory, "officer")
    other, _ = await login(factory, "officer")
    async with transaction(factory) as db:
        await sessions.logout(db, actor_for(user), token)
    async with transaction(factory) as db:
        assert await sessions.resolve(db, token) is None
        assert await sessions.resolve(db, other) is not None
    [row] = await audit(factory, "auth.logout")
    assert row.actor_id == seed.uid("officer")


# --- change_password ------------------------------------------------------


async def change(
    factory: SessionFactory, user: StaffUser, current: str, new: str, keep: str
) -> None:
    async with transaction(factory) as db:
        await sessions.change_password(
            db, actor_for(user), current, new, keep_token=keep, policy=POLICY
        )


async def test_change_password_ends_other_sessions(factory: SessionFactory, seed: Seed) -> None:
    kept, user = await login(factory, "officer")
    other, _ = await login(factory, "officer", ip="10.0.0.2")
    chief, _ = await login(factory, "chief")
    async with transaction(factory) as db:
        stored = await db.get(StaffUser, seed.uid("officer"))
        assert stored is not None
        stored.must_change_password = True
        changed_before = stored.password_changed_at
    await change(factory, user, PASSWORD, NEW_PASSWORD, kept)
    async with transaction(factory) as db:
        assert await sessions.resolve(db, kept) is not None
        assert await sessions.resolve(db, other) is None
        assert await sessions.resolve(db, chief) is not None
        stored = await db.get(StaffUser, seed.uid("officer"))
        assert stored is not None
        assert stored.must_change_password is False
        assert stored.password_changed_at > changed_before
        assert await verify_password(stored.password_hash, NEW_PASSWORD)
    assert len(await audit(factory, "auth.password_changed")) == 1
    assert isinstance(await failed_login(factory, "officer", PASSWORD), NotAuthenticated)
    await login(factory, "officer", NEW_PASSWORD)


async def test_change_password_needs_the_current_one(factory: SessionFactory) -> None:
    kept, user = await login(factory, "officer")
    with pytest.raises(ValidationFailed) as exc:
        await change(factory, user, "not-my-password-1", NEW_PASSWORD, kept)
    assert exc.value.fields == {"current_password": "wrong"}


@pytest.mark.parametrize(
    ("new", "reason"),
    [("short-1", "too_short"), ("onlyletterspassword", "too_weak"), ("x1" * 65, "too_long")],
)
async def test_change_password_enforces_strength(
    factory: SessionFactory, new: str, reason: str
) -> None:
    kept, user = await login(factory, "officer")
    other, _ = await login(factory, "officer")
    with pytest.raises(ValidationFailed) as exc:
        await change(factory, user, PASSWORD, new, kept)
    assert exc.value.fields == {"new_password": reason}
    async with transaction(factory) as db:
        assert await sessions.resolve(db, other) is not None
    await login(factory, "officer", PASSWORD)


async def test_change_password_must_change_something(factory: SessionFactory) -> None:
    kept, user = await login(factory, "officer")
    with pytest.raises(ValidationFailed) as exc:
        await change(factory, user, PASSWORD, PASSWORD, kept)
    assert exc.value.fields == {"new_password": "same"}
