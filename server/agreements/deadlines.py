"""When each agreed term falls due: what the follow-up visits (回访) are built from.

Pure: reads a draft's content, touches nothing else.
"""

from __future__ import annotations

from datetime import date

from server.agreements.schemas import DraftContent


def due_dates(content: DraftContent) -> list[tuple[date, tuple[int, ...]]]:
    """Each performance deadline with the (1-based) numbers of the terms due on it, by date.

    A term falls due on its own deadline when it has one, else on the
    agreement's deadline; a term with neither (no deadline at all) has nothing
    to follow up by date and is left out.
    """
    due: dict[date, list[int]] = {}
    for index in range(len(content.terms)):
        day = content.due_on(index)
        if day is not None:
            due.setdefault(day, []).append(index + 1)
    return [(day, tuple(numbers)) for day, numbers in sorted(due.items())]
