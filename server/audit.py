"""Writing the audit trail. Every sensitive read and every change calls ``record``."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from server.auth.roles import Actor
from server.models import AuditEvent

MAX_DETAIL = 2000
MAX_VALUE = 300


def _detail_json(detail: dict[str, Any]) -> str:
    """JSON that fits the column and stays valid: long values are cut, never the JSON."""
    text = json.dumps(detail, ensure_ascii=False, sort_keys=True)
    if len(text) <= MAX_DETAIL:
        return text
    short = {k: (v[:MAX_VALUE] if isinstance(v, str) else v) for k, v in detail.items()}
    text = json.dumps(short, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= MAX_DETAIL else json.dumps({"truncated": True})


def record(
    db: AsyncSession,
    actor: Actor | None,
    action: str,
    *,
    object_type: str = "",
    object_id: int | str | None = None,
    detail: dict[str, Any] | None = None,
    station_id: int | None = None,
    ip: str = "",
    user_agent: str = "",
) -> AuditEvent:
    """Add an audit row to the caller's transaction, so it lands with the change or not at all."""
    event = AuditEvent(
        station_id=actor.station_id if actor else station_id,
        actor_id=actor.user_id if actor else None,
        actor_label=(actor.label if actor else "")[:80],
        action=action,
        object_type=object_type,
        object_id="" if object_id is None else str(object_id),
        detail=_detail_json(detail or {}),
        ip=(actor.ip if actor else ip)[:64],
        user_agent=(actor.user_agent if actor else user_agent)[:300],
    )
    db.add(event)
    return event
