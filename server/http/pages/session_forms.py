"""Reading the booking and invitation forms: checkbox groups, observer slots, a half-filled
time; and naming a refusal's fields as the form names them. No rendering here."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from server.errors import (
    DomainError,
)
from server.http.forms import field_messages
from server.http.pages.common import (
    clean,
    form_data,
)
from server.i18n import gettext
from server.ids import parse_id
from server.sessions.conflicts import Warning
from server.sessions.rules import (
    MAX_MINUTES,
    MIN_MINUTES,
    LegalTrack,
)
from server.sessions.schemas import (
    ObserverInput,
)

OBSERVER_SLOTS = 3

LIST_FIELDS = ("party_ids", "expert_ids", "police_checks")

BOOKING_FIELDS = ("starts_at", "duration_minutes", "legal_track", "presiding_officer_id", "note")

_LIST_ITEM = re.compile(r"^(party_ids|expert_ids|police_checks|staff_ids)\.\d+$")


class InviteForm(BaseModel):
    """The "invite more" form: people of the dispute, experts, and named observers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    party_ids: list[int] = Field(default_factory=list, max_length=20)
    expert_ids: list[int] = Field(default_factory=list, max_length=20)
    observers: list[ObserverInput] = Field(default_factory=list, max_length=OBSERVER_SLOTS)


@dataclass
class Posted:
    """A posted form: single fields as strings, checkbox groups as lists."""

    data: dict[str, str]
    lists: dict[str, list[str]]
    #: observers.N in the payload came from form slot observer_slots[N].
    observer_slots: list[int] = field(default_factory=list)


async def posted(request: web.Request) -> Posted:
    data = await form_data(request)
    post = await request.post()
    lists = {
        name: [v for v in post.getall(name, []) if isinstance(v, str) and v != ""][:50]
        for name in LIST_FIELDS
    }
    return Posted(data, lists)


def observers(posted: Posted) -> list[dict[str, str]]:
    """The filled observer rows; which slot each came from is kept for the messages."""
    rows: list[dict[str, str]] = []
    posted.observer_slots = []
    for slot in range(OBSERVER_SLOTS):
        name = posted.data.get(f"observers.{slot}.name", "").strip()
        phone = posted.data.get(f"observers.{slot}.phone", "").strip()
        if name or phone:
            rows.append({"name": name, "phone": phone})
            posted.observer_slots.append(slot)
    return rows


def booking_payload(posted: Posted) -> dict[str, Any]:
    payload: dict[str, Any] = clean(posted.data, *BOOKING_FIELDS)
    payload["party_ids"] = posted.lists["party_ids"]
    payload["expert_ids"] = posted.lists["expert_ids"]
    if posted.data.get("legal_track") == LegalTrack.POLICE:
        payload["police_checks"] = posted.lists["police_checks"]
    payload["observers"] = observers(posted)
    payload["confirm_conflicts"] = posted.data.get("confirm_conflicts", "") != ""
    return payload


def invite_payload(posted: Posted) -> dict[str, Any]:
    return {
        "party_ids": posted.lists["party_ids"],
        "expert_ids": posted.lists["expert_ids"],
        "observers": observers(posted),
    }


def form_errors(exc: DomainError, posted: Posted | None = None) -> dict[str, str]:
    """Field messages keyed as the form names its fields (a checkbox group, a slot)."""
    slots = posted.observer_slots if posted else []
    result: dict[str, str] = {}
    for key, message in field_messages(exc).items():
        name = key
        match = _LIST_ITEM.match(key)
        if match:
            name = match.group(1)
        elif key.startswith("observers."):
            parts = key.split(".")
            index = parse_id(parts[1])
            if index is not None and index < len(slots):
                parts[1] = str(slots[index])
                name = ".".join(parts)
        result.setdefault(name, message)
    return result


def warning_text(warning: Warning) -> str:
    """A warning in the reader's language; parameters that are msgids are translated too."""
    if not warning.params:
        return gettext(warning.message)
    params = {k: gettext(v) if k in warning.translated else v for k, v in warning.params.items()}
    return gettext(warning.message) % params


def warning_texts(warnings: Iterable[Warning]) -> list[str]:
    return [warning_text(w) for w in warnings]


def span(data: dict[str, str], tz: ZoneInfo) -> tuple[datetime, datetime] | None:
    """The planned start and end from a half-filled form, when both can be read."""
    try:
        starts_at = datetime.fromisoformat(data.get("starts_at", ""))
    except ValueError:
        return None
    minutes = parse_id(data.get("duration_minutes", ""), max_digits=4)
    if minutes is None or not MIN_MINUTES <= minutes <= MAX_MINUTES:
        return None
    if starts_at.tzinfo is None:
        starts_at = starts_at.replace(tzinfo=tz)
    return starts_at, starts_at + timedelta(minutes=minutes)
