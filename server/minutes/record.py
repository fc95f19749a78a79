"""The minutes as one canonical text, and its SHA-256: what the presiding officer signs off.

Pure: no database, no clock. The text is built from values already in print
form (names, role labels, local times), so the same entries and header give
the same bytes on every machine and the hash recorded at sign-off can be
computed again later. It is also the ``minutes.txt`` of the case bundle.

One line per entry: local time to the second, the speaker's name and role,
what they said. A line break the writer typed inside an entry is kept,
indented, so the entry is still one block and no continuation can pass for
an entry of its own. An entry on another local day than the session's first
(a session past midnight) carries its date as well.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

TITLE = "调解笔录"
#: Typed line breaks inside an entry are kept, behind this indent.
CONTINUATION = "\n    "


@dataclass(frozen=True)
class Header:
    """What the top of the 笔录 says, already in print form."""

    case_reference: str  # the dispute's reference
    dispute_title: str
    session_time: str  # 2026年12月7日 10:00—11:00
    place: str  # 线上视频调解（白石派出所滨河社区警务室）
    presiding_label: str  # 主持人 (police track) / 调解员 (people's track)
    presiding_name: str
    clerks: tuple[str, ...]  # who wrote the entries
    participants: tuple[str, ...]  # 王丽华（申请人）, 陈律师（律师）, …


@dataclass(frozen=True)
class Line:
    """One entry as the 笔录 prints it."""

    at: datetime  # aware
    speaker_name: str
    role_label: str
    text: str

    @property
    def speaker(self) -> str:
        return f"{self.speaker_name}（{self.role_label}）" if self.role_label else self.speaker_name


def stamp(at: datetime, tz: ZoneInfo, first_day: date | None) -> str:
    """HH:MM:SS local; with the date when the entry is on another day than ``first_day``."""
    local = at.astimezone(tz)
    if first_day is not None and local.date() != first_day:
        return f"{local:%Y-%m-%d %H:%M:%S}"
    return f"{local:%H:%M:%S}"


def first_day(lines: Sequence[Line], tz: ZoneInfo) -> date | None:
    return lines[0].at.astimezone(tz).date() if lines else None


def entry_text(text: str) -> str:
    """An entry's text on the record: trimmed, typed breaks kept behind the indent."""
    parts = [part.rstrip() for part in text.strip().replace("\r\n", "\n").split("\n")]
    return CONTINUATION.join(part for part in parts if part)


def canonical_text(header: Header, lines: Sequence[Line], tz: ZoneInfo) -> str:
    """The whole 笔录 as plain text, ``\\n`` line ends and one at the end."""
    out = [
        TITLE,
        f"案件编号：{header.case_reference}",
        f"纠纷：{header.dispute_title}",
        f"调解时间：{header.session_time}",
        f"调解地点：{header.place}",
        f"{header.presiding_label}：{header.presiding_name}",
        f"记录人：{'、'.join(header.clerks) or '无'}",
        f"参加人员：{'、'.join(header.participants) or '无'}",
        "",
    ]
    day = first_day(lines, tz)
    for line in lines:
        out.append(f"{stamp(line.at, tz, day)} {line.speaker}：{entry_text(line.text)}")
    return "\n".join(out).rstrip("\n") + "\n"


def sha256_of(text: str) -> str:
    """The SHA-256 of the canonical text (UTF-8), as the sign-off records it."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
