"""A first draft of the agreement's 纠纷事实 from the minutes: who said what, side by side.

Pure. The drafter starts from what the parties themselves said in the room
rather than from a blank box: each party's (or their agent's) statements in
the order they were made, under their name (申请人王丽华称：…。), the
applicant's side first, then the respondent's, then the experts' opinions
(专家意见：律师陈律师认为：…。). What the presiding officer and the staff said
is the mediation, not the facts, and is left out. The result is a draft: it
is saved through the agreement's own save path and edited from there.

It never exceeds what the facts box holds (``FACTS_LIMIT``, read from the
agreement's schema so the two cannot drift apart): a longer draft is cut at
the last sentence that fits and says so in its last line, and ``cut`` tells
the page to say so too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from server.agreements.schemas import DraftContent

#: Said at the end of a draft that had to be cut.
CUT_NOTE = "（以下从略，详见调解笔录。）"
#: Where a sentence (or a clause of one) ends: a cut is made after one of these.
SENTENCE_ENDS = "。！？；!?;\n"
CLAUSE_ENDS = "，、,： "
END_PUNCTUATION = "。！？!?…”’）)"


def _facts_limit() -> int:
    for meta in DraftContent.model_fields["facts"].metadata:
        max_length = getattr(meta, "max_length", None)  # StringConstraints or MaxLen
        if isinstance(max_length, int):
            return max_length
    raise RuntimeError("DraftContent.facts has no max_length")


#: The facts box's limit, in characters.
FACTS_LIMIT = _facts_limit()


class Side(StrEnum):
    """Whose account a statement is, for the grouping."""

    APPLICANT = "applicant"
    RESPONDENT = "respondent"
    EXPERT = "expert"
    #: The presiding officer, staff, observers: not part of the facts.
    OTHER = "other"


SIDE_ORDER = (Side.APPLICANT, Side.RESPONDENT, Side.EXPERT)


@dataclass(frozen=True)
class Statement:
    """One minutes entry, with who said it as the facts name them."""

    at: datetime
    speaker_key: str
    #: 申请人 / 被申请人 / 申请人的委托代理人 / 律师 …
    label: str
    name: str
    side: Side
    text: str


@dataclass(frozen=True)
class DraftedFacts:
    text: str
    #: The full draft was longer than the box; ``text`` ends with CUT_NOTE.
    cut: bool
    #: How many statements the draft drew on (before any cut).
    statements: int


def sentences(text: str) -> str:
    """An entry as sentences: each typed line ends with punctuation, lines run on."""
    out = []
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if not line:
            continue
        if line[-1] in "，,、；;：:":
            line = line[:-1]
        if line and line[-1] not in END_PUNCTUATION:
            line += "。"
        out.append(line)
    return "".join(out)


def _groups(statements: Sequence[Statement]) -> list[list[Statement]]:
    """Statements by speaker, in time order; speakers by side, then by when they first spoke."""
    by_speaker: dict[str, list[Statement]] = {}
    for statement in sorted(statements, key=lambda s: s.at):
        if statement.side == Side.OTHER or not sentences(statement.text):
            continue
        by_speaker.setdefault(statement.speaker_key, []).append(statement)
    groups = list(by_speaker.values())
    groups.sort(key=lambda g: (SIDE_ORDER.index(g[0].side), g[0].at))
    return groups


def full_text(statements: Sequence[Statement]) -> tuple[str, int]:
    """The whole draft, uncut, and how many statements it holds."""
    lines: list[str] = []
    expert_lines: list[str] = []
    used = 0
    for group in _groups(statements):
        first = group[0]
        said = "".join(sentences(s.text) for s in group)
        used += len(group)
        if first.side == Side.EXPERT:
            expert_lines.append(f"{first.label}{first.name}认为：{said}")
        else:
            lines.append(f"{first.label}{first.name}称：{said}")
    if expert_lines:
        lines.append("专家意见：" + "".join(expert_lines))
    return "\n".join(lines), used


def cut_to(text: str, limit: int) -> str:
    """``text`` cut after the last sentence that fits in ``limit`` with CUT_NOTE after it.

    Falls back to the last clause, then to the limit itself, when one
    statement alone runs past the limit without a full stop.
    """
    budget = limit - len(CUT_NOTE)
    if budget <= 0:
        raise ValueError("limit too small for the cut note")
    head = text[:budget]
    for ends in (SENTENCE_ENDS, CLAUSE_ENDS):
        at = max(head.rfind(mark) for mark in ends)
        if at >= budget // 2:
            head = head[: at + 1]
            break
    head = head.rstrip()
    if head and head[-1] in CLAUSE_ENDS:
        head = head[:-1]
    return head + CUT_NOTE


def draft_facts(statements: Sequence[Statement], *, limit: int = FACTS_LIMIT) -> DraftedFacts:
    """The facts draft from ``statements`` (any order), never longer than ``limit``."""
    text, used = full_text(statements)
    if len(text) <= limit:
        return DraftedFacts(text, False, used)
    return DraftedFacts(cut_to(text, limit), True, used)
