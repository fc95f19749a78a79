"""调解笔录: the minutes of a session, one entry per statement, and their sign-off."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from server.models.base import utcnow


class MinutesEntry(SQLModel, table=True):
    """One statement: when it was said, who said it, what. Entries are separate rows so
    that two people writing at once never overwrite each other; they read in ``at`` order.
    ``version`` counts edits (compare-and-set while the writer is still typing)."""

    __tablename__ = "minutes_entry"

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="mediation_session.id", index=True)
    at: datetime = Field(index=True, description="When it was said.")
    speaker_key: str = Field(max_length=40, description="inv-N / staff-N: a session participant")
    speaker_name: str = Field(max_length=40)
    speaker_role: str = Field(max_length=20)
    text: str = Field(default="", max_length=2000)
    author_key: str = Field(max_length=40)
    author_name: str = Field(max_length=40)
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class MinutesSignoff(SQLModel, table=True):
    """The presiding officer's sign-off: after it the minutes do not change, and the
    笔录 PDF made from them is kept (its file and SHA-256) for the case bundle."""

    __tablename__ = "minutes_signoff"

    session_id: int = Field(foreign_key="mediation_session.id", primary_key=True)
    signed_off_by_id: int = Field(foreign_key="staff_user.id")
    signed_off_at: datetime = Field(default_factory=utcnow)
    entry_count: int
    entries_sha256: str = Field(max_length=64, description="Over the entries' canonical text.")
    pdf_sha256: str = Field(max_length=64)
    pdf_size: int
    file_name: str = Field(max_length=200, description="Relative to the agreements directory.")
