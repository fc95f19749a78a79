"""抽查: a reproducible random sample of resolved disputes, and each check's finding."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from server.models.base import utcnow


class SpotCheckDraw(SQLModel, table=True):
    """One draw by the station chief. The seed and the population are kept, so anyone can
    draw again from them and get the same sample."""

    __tablename__ = "spot_check_draw"

    id: int | None = Field(default=None, primary_key=True)
    station_id: int = Field(foreign_key="station.id", index=True)
    office_id: int | None = Field(default=None, foreign_key="beat_office.id")
    period_start: date
    period_end: date
    mode: str = Field(max_length=10, description="percent / count")
    amount: int
    seed: str = Field(max_length=64)
    population: str = Field(sa_type=Text, description="JSON: the dispute ids drawn from, sorted.")
    drawn_by_id: int = Field(foreign_key="staff_user.id")
    drawn_at: datetime = Field(default_factory=utcnow)


class SpotCheck(SQLModel, table=True):
    """One sampled dispute and what its check found."""

    __tablename__ = "spot_check"
    __table_args__ = (UniqueConstraint("draw_id", "dispute_id"),)

    id: int | None = Field(default=None, primary_key=True)
    draw_id: int = Field(foreign_key="spot_check_draw.id", index=True)
    dispute_id: int = Field(foreign_key="dispute.id", index=True)
    office_id: int = Field(foreign_key="beat_office.id", index=True)
    status: str = Field(default="open", max_length=20, index=True, description="open / done")
    checked_at: datetime | None = None
    method: str = Field(default="", max_length=20)
    reached: str = Field(default="", max_length=200)
    stays_resolved: bool | None = None
    note: str = Field(default="", max_length=2000)
    checked_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    version: int = 1
