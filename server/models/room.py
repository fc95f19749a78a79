"""What a live room must not lose on a restart: who was admitted, and the chat."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from server.models.base import utcnow


class RoomEntry(SQLModel, table=True):
    """A participant's standing in a session's room, written as it changes."""

    __tablename__ = "room_entry"
    __table_args__ = (UniqueConstraint("session_id", "participant_key"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="mediation_session.id", index=True)
    participant_key: str = Field(max_length=40)
    name: str = Field(max_length=40)
    role: str = Field(max_length=20)
    admission: str = Field(max_length=20)
    first_joined_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ChatMessage(SQLModel, table=True):
    """A chat line of a session, kept with the session's record."""

    __tablename__ = "chat_message"

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="mediation_session.id", index=True)
    sender_key: str = Field(max_length=40)
    sender_name: str = Field(max_length=40)
    text: str = Field(max_length=500)
    private_to_hosts: bool = False
    caucus_id: str | None = Field(default=None, max_length=20)
    audience: str = Field(
        default="",
        max_length=2000,
        description="Who could read it: participant ids, comma-separated.",
    )
    at: datetime = Field(default_factory=utcnow)
