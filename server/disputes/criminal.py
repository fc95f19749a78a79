"""民转刑: marking that a dispute turned into a criminal case, the outcome everyone
wants to prevent and the station's figures count.

The date may not precede the registration (a dispute cannot turn criminal
before it was known) nor lie in the future; the case reference is required, so
the figure can be traced to the criminal file.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlmodel.ext.asyncio.session import AsyncSession

from server.audit import record
from server.auth import roles
from server.auth.roles import Actor
from server.disputes import service
from server.errors import N_, Conflict, NotAllowed, ValidationFailed
from server.local_time import local_today
from server.models import Dispute

CRIMINAL_EVENT = "criminal"


class CriminalInput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    criminal_on: date
    criminal_case_ref: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)
    ]
    expected_version: int | None = Field(default=None, ge=1)


async def mark_criminal(
    db: AsyncSession, actor: Actor, dispute_id: int, data: CriminalInput, *, tz: ZoneInfo
) -> Dispute:
    """Set (or correct) the 民转刑 date and case reference; timeline event and audit row."""
    dispute = await service.get_dispute(db, actor, dispute_id)
    if not roles.can_mark_criminal(actor, dispute.office_id):
        raise NotAllowed(N_("Your role does not allow this."))
    if data.expected_version is not None and data.expected_version != dispute.version:
        raise Conflict(N_("Someone else changed this dispute meanwhile; reload and try again."))
    registered_on = dispute.created_at.astimezone(tz).date()
    if data.criminal_on < registered_on:
        raise ValidationFailed(
            N_("The date cannot be before the dispute was registered (%(date)s)."),
            params={"date": registered_on.isoformat()},
            fields={"criminal_on": "before_registration"},
        )
    if data.criminal_on > local_today(tz):
        raise ValidationFailed(
            N_("The date cannot be in the future."), fields={"criminal_on": "future"}
        )
    previous = dispute.criminal_on
    dispute.criminal_on = data.criminal_on
    dispute.criminal_case_ref = data.criminal_case_ref
    await service._touch(db, dispute)
    service._add_event(
        db,
        dispute,
        actor,
        CRIMINAL_EVENT,
        note=f"{data.criminal_on.isoformat()} {data.criminal_case_ref}",
    )
    record(
        db,
        actor,
        "dispute.criminal",
        object_type="dispute",
        object_id=dispute.id,
        detail={
            "on": data.criminal_on.isoformat(),
            "case": data.criminal_case_ref,
            "previous": previous.isoformat() if previous else None,
        },
    )
    return dispute
