"""Staff logins: throttled password checks and server-side sessions.

The session cookie holds a random token; the database keeps only its SHA-256,
so sessions can be listed and revoked (logout, password change, account
deactivation) and a database dump cannot be replayed as a login.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.audit import record
from server.auth.passwords import check_strength, hash_password, verify_password
from server.auth.roles import Actor, Role
from server.errors import N_, LimitExceeded, NotAuthenticated, ValidationFailed
from server.models import LoginThrottle, StaffSession, StaffUser, utcnow


@dataclass(frozen=True)
class ThrottlePolicy:
    max_failures: int = 5
    ip_max_failures: int = 30
    lockout: timedelta = timedelta(minutes=15)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def actor_for(user: StaffUser, ip: str = "", user_agent: str = "") -> Actor:
    assert user.id is not None
    return Actor(
        user_id=user.id,
        station_id=user.station_id,
        office_id=user.office_id,
        role=Role(user.role),
        label=f"{user.display_name} ({user.username})",
        ip=ip,
        user_agent=user_agent,
    )


async def _throttle_row(db: AsyncSession, key: str) -> LoginThrottle | None:
    return await db.get(LoginThrottle, key)


ACCOUNT_LOCKED = N_("Too many failed attempts. The account is locked for %(minutes)d more min.")
ADDRESS_PAUSED = N_(
    "Too many failed attempts from this network address. Logins from it are paused "
    "for %(minutes)d more min; other addresses are not affected."
)


async def _check_not_locked(db: AsyncSession, keys: list[str]) -> None:
    """Refuse while a key is locked, saying which: the account, or the address it comes from.

    The two differ for the person at the keyboard: an account lock follows
    them to any device, an address pause does not touch the account at all.
    """
    now = utcnow()
    for key in keys:
        row = await _throttle_row(db, key)
        if row is not None and row.locked_until is not None and row.locked_until > now:
            minutes = max(1, int((row.locked_until - now).total_seconds() // 60) + 1)
            raise LimitExceeded(
                ADDRESS_PAUSED if key.startswith("ip:") else ACCOUNT_LOCKED,
                params={"minutes": minutes},
            )


async def _note_failure(db: AsyncSession, key: str, limit: int, policy: ThrottlePolicy) -> None:
    now = utcnow()
    row = await _throttle_row(db, key)
    if row is None:
        row = LoginThrottle(key=key, failures=0, first_failure_at=now)
        db.add(row)
    if now - row.first_failure_at > policy.lockout:
        # Failures spread over a long time are not an attack: start counting anew.
        row.failures = 0
        row.first_failure_at = now
    row.failures += 1
    if row.failures >= limit:
        row.locked_until = now + policy.lockout
        row.failures = 0
        row.first_failure_at = now


async def login(
    db: AsyncSession,
    username: str,
    password: str,
    *,
    ip: str,
    user_agent: str,
    session_lifetime: timedelta,
    policy: ThrottlePolicy,
) -> tuple[str, StaffUser]:
    """Check the password and open a session; returns the cookie token and the user.

    Failures are counted per username (whether or not it exists, so the reply
    does not reveal accounts) and per address; past the limit both lock.
    A failure raises *after* adding its throttle and audit rows: callers catch
    it inside their transaction so those rows are committed.
    """
    username = username.strip().lower()[:40]
    keys = [f"user:{username}", f"ip:{ip}"]
    await _check_not_locked(db, keys)
    user = (await db.exec(select(StaffUser).where(StaffUser.username == username))).first()
    ok = await verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.active:
        await _note_failure(db, keys[0], policy.max_failures, policy)
        await _note_failure(db, keys[1], policy.ip_max_failures, policy)
        record(
            db,
            None,
            "auth.login_failed",
            object_type="staff_user",
            object_id=user.id if user else None,
            detail={"username": username},
            station_id=user.station_id if user else None,
            ip=ip,
            user_agent=user_agent,
        )
        raise NotAuthenticated(N_("Wrong username or password."))
    for key in keys:
        row = await _throttle_row(db, key)
        if row is not None and key.startswith("user:"):
            await db.delete(row)
    token = secrets.token_urlsafe(32)
    now = utcnow()
    db.add(
        StaffSession(
            token_hash=token_hash(token),
            user_id=user.id,  # type: ignore[arg-type]
            created_at=now,
            last_seen_at=now,
            expires_at=now + session_lifetime,
            ip=ip[:64],
            user_agent=user_agent[:300],
        )
    )
    record(
        db,
        actor_for(user, ip, user_agent),
        "auth.login",
        object_type="staff_user",
        object_id=user.id,
    )
    return token, user


async def resolve(
    db: AsyncSession, token: str, *, idle: timedelta | None = None
) -> tuple[StaffSession, StaffUser] | None:
    """The live session and its user for a cookie token, or None.

    A session ends at its expiry, or earlier when unused for ``idle``: a PC left
    logged in at the front desk should not stay open all day.
    """
    session = (
        await db.exec(select(StaffSession).where(StaffSession.token_hash == token_hash(token)))
    ).first()
    now = utcnow()
    if session is None or session.expires_at <= now:
        return None
    if idle is not None and session.last_seen_at < now - idle:
        return None
    user = await db.get(StaffUser, session.user_id)
    if user is None or not user.active:
        return None
    return session, user


async def logout(db: AsyncSession, actor: Actor, token: str) -> None:
    await db.exec(delete(StaffSession).where(col(StaffSession.token_hash) == token_hash(token)))
    record(db, actor, "auth.logout", object_type="staff_user", object_id=actor.user_id)


async def change_password(
    db: AsyncSession,
    actor: Actor,
    current: str,
    new: str,
    *,
    keep_token: str,
    policy: ThrottlePolicy,
) -> None:
    """Change one's own password; every other session of the account ends.

    Wrong current passwords count towards the same lockout as failed logins, so
    an unattended open session cannot be used to guess the password. Like
    ``login``, a failure raises after adding its rows: catch it in the transaction.
    """
    user = await db.get(StaffUser, actor.user_id)
    assert user is not None
    key = f"user:{user.username}"
    await _check_not_locked(db, [key])
    if not await verify_password(user.password_hash, current):
        await _note_failure(db, key, policy.max_failures, policy)
        raise ValidationFailed(
            N_("The current password is wrong."), fields={"current_password": "wrong"}
        )
    check_strength(new)
    if new == current:
        raise ValidationFailed(
            N_("The new password must differ from the current one."),
            fields={"new_password": "same"},
        )
    user.password_hash = await hash_password(new)
    user.must_change_password = False
    user.password_changed_at = utcnow()
    await db.exec(
        delete(StaffSession).where(
            col(StaffSession.user_id) == actor.user_id,
            col(StaffSession.token_hash) != token_hash(keep_token),
        )
    )
    record(db, actor, "auth.password_changed", object_type="staff_user", object_id=actor.user_id)
