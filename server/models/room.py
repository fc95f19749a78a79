"""What a live room must not lose on a restart: admission, chat, and its live state."""

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


class RoomState(SQLModel, table=True):
    """A room's lock and caucus counter as of its last decision; one row per session.

    With ``room_caucus`` and ``room_control`` it is the room's live state
    (``server.rooms.state.LiveState``), replaced as a whole in one transaction
    after every change, so what a restart reads back is one decision's state.
    """

    __tablename__ = "room_state"

    session_id: int = Field(foreign_key="mediation_session.id", primary_key=True)
    locked: bool = False
    next_caucus: int = 1
    #: Counts the writes: the order in which the room made its decisions.
    revision: int = 0
    updated_at: datetime = Field(default_factory=utcnow)


class RoomCaucus(SQLModel, table=True):
    """A caucus open in a session's room: its members hear only each other."""

    __tablename__ = "room_caucus"
    __table_args__ = (UniqueConstraint("session_id", "caucus_key"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="mediation_session.id", index=True)
    caucus_key: str = Field(max_length=20)
    name: str = Field(default="", max_length=40)
    opened_by: str = Field(default="", max_length=40)
    members: str = Field(
        default="",
        max_length=2000,
        description="Participant ids in the caucus, comma-separated.",
    )


class RoomControl(SQLModel, table=True):
    """Host controls on one participant of a session's room, and their raised hand."""

    __tablename__ = "room_control"
    __table_args__ = (UniqueConstraint("session_id", "participant_key"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="mediation_session.id", index=True)
    participant_key: str = Field(max_length=40)
    muted_by_host: bool = False
    video_stopped_by_host: bool = False
    hand_raised: bool = False
    unmute_requested: bool = False
