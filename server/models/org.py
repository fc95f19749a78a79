"""The organisation: a station, its beat offices and its staff."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from server.models.base import utcnow


class Station(SQLModel, table=True):
    """派出所: the police station that runs Concord and seals its agreements."""

    __tablename__ = "station"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    short_name: str = Field(max_length=20, description="Used in case numbers, e.g. 白石")
    address: str = Field(default="", max_length=200)
    phone: str = Field(default="", max_length=40)
    mediation_committee: str = Field(
        default="", max_length=100, description="人民调解委员会 named on people's agreements."
    )
    seal_file: str = Field(default="", max_length=200, description="Seal image, in data_dir.")
    seal_sha256: str = Field(default="", max_length=64)
    seal_is_sample: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class BeatOffice(SQLModel, table=True):
    """社区警务室: a community beat office under a station."""

    __tablename__ = "beat_office"

    id: int | None = Field(default=None, primary_key=True)
    station_id: int = Field(foreign_key="station.id", index=True)
    name: str = Field(max_length=100)
    address: str = Field(default="", max_length=200)
    phone: str = Field(default="", max_length=40)
    active: bool = True
    court_name: str = Field(
        default="", max_length=100, description="The basic people's court for 司法确认."
    )
    court_address: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class StaffUser(SQLModel, table=True):
    """A member of staff who logs in; the role decides what they may do."""

    __tablename__ = "staff_user"

    id: int | None = Field(default=None, primary_key=True)
    station_id: int = Field(foreign_key="station.id", index=True)
    office_id: int | None = Field(default=None, foreign_key="beat_office.id", index=True)
    username: str = Field(max_length=40, unique=True)
    display_name: str = Field(max_length=40)
    role: str = Field(max_length=20)
    police_number: str = Field(default="", max_length=20)
    phone: str = Field(default="", max_length=20)
    password_hash: str = Field(max_length=200)
    must_change_password: bool = False
    active: bool = True
    language: str | None = Field(default=None, max_length=5)
    created_at: datetime = Field(default_factory=utcnow)
    password_changed_at: datetime = Field(default_factory=utcnow)


class StaffSession(SQLModel, table=True):
    """A login. Only the SHA-256 of the cookie value is kept, so a dump cannot log in."""

    __tablename__ = "staff_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="staff_user.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    ip: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=300)


class LoginThrottle(SQLModel, table=True):
    """Failed logins per key (a username or an address), kept across restarts."""

    __tablename__ = "login_throttle"

    key: str = Field(primary_key=True, max_length=120)
    failures: int = 0
    first_failure_at: datetime = Field(default_factory=utcnow)
    locked_until: datetime | None = None
