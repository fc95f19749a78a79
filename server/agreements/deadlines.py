"""When each agreed term falls due: what the follow-up visits (回访) are built from.

Pure: reads a draft's content, touches nothing else.
"""

from __future__ import annotations

from datetime import date

from server.agreements.schemas import DraftContent


def due_dates(content: DraftContent) -> list[tuple[date, tuple[int, ...]]]:
    """Each performance deadline with the (1-based) numbers of the terms due on it, by date.

    A term without a deadline of its own falls due on the agreement's deadline;
    an agreement with no deadline at all has nothing to follow up by date.
    """
    if content.performance_deadline is None or not content.terms:
        return []
    return [(content.performance_deadline, tuple(range(1, len(content.terms) + 1)))]
