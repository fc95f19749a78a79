"""从笔录起草事实: the agreement's facts box filled from the minutes, saved as any edit is.

The draft goes through the agreement's own save (``agreements.service.save``)
with the version the drafter's page was built on, so a colleague's save in
between is refused as it would be for a typed edit, a frozen or sealed text
is refused, and the version history keeps what the box said before. Only the
facts change; the other fields are saved as they are.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from server.agreements import service
from server.agreements.rules import DraftStatus
from server.agreements.schemas import DraftContent, DraftEdit
from server.auth.roles import Actor
from server.errors import N_, Conflict
from server.minutes import sitting
from server.minutes.facts import DraftedFacts, draft_facts


async def facts_from_minutes(
    db: AsyncSession, actor: Actor, session_id: int, base_version: int, *, tz: ZoneInfo
) -> DraftedFacts:
    """Replace the draft's facts with the draft made from the minutes; what was drafted."""
    ctx = await service.open_draft(db, actor, session_id)
    if ctx.draft.status != DraftStatus.DRAFTING:
        raise Conflict(N_("The text is frozen for signing; unfreeze it to make changes."))
    if base_version != ctx.draft.version:
        raise Conflict(N_("Someone else changed the draft meanwhile; reload and try again."))
    minutes = await sitting.load(db, actor, session_id, tz=tz)
    if not minutes.entries:
        raise Conflict(N_("There are no minutes entries to draft the facts from."))
    drafted = draft_facts(minutes.statements)
    if not drafted.text:
        raise Conflict(
            N_("The minutes hold no statements of the parties or experts to draft the facts from.")
        )
    content = DraftContent.model_validate({**ctx.content.model_dump(), "facts": drafted.text})
    edit = DraftEdit(base_version=base_version, content=content)
    await service.save(db, actor, ctx.draft.id or 0, edit)
    return drafted
