"""What goes on the paper: everything a template needs, already in print form.

The domain layer builds an ``AgreementDocument`` from the database; the
renderer (``render.py``, run in a worker process) turns it into a PDF and
the sealer signs it. It is a plain frozen dataclass of strings, numbers and
bytes so it pickles cheaply across the process boundary and a template never
reaches back into the database.

The agreement's body is a ``SignedText``: the lines the rules composed when
the text was frozen (``rules.signed_text``). Its ``plain`` serialisation is
the hashed text every signer agreed to, and the template prints those lines
and nothing else, so the paper cannot say anything the signers did not sign.
Everything else on the paper (case number, correction note, signatures, seal,
page numbers, the evidence page) is about the signing, not part of the text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

#: The two legal tracks (see server.sessions.rules.LegalTrack) by value.
PEOPLE = "people"
POLICE = "police"


class LineKind(StrEnum):
    """How a line of the signed text is laid out; never what it says."""

    TITLE = "title"
    #: A section heading: 当事人： / 一、纠纷的主要事实.
    HEADING = "heading"
    #: A labelled value: 调解组织：…, a party's line, 履行期限：….
    FIELD = "field"
    #: Free text as the drafter typed it, or a fixed clause.
    PARAGRAPH = "paragraph"
    #: A numbered agreed term; ``label`` is its number.
    TERM = "term"
    #: The empty line between groups.
    BLANK = "blank"


class Part(StrEnum):
    """Which element of the agreement a line carries, for the paper's completeness check."""

    NONE = ""
    PARTY = "party"
    MEDIATING_BODY = "mediating_body"
    PRESIDING = "presiding"
    OTHERS_PRESENT = "others_present"
    SESSION = "session"
    FACTS = "facts"
    DISPUTED_MATTERS = "disputed_matters"
    RESPONSIBILITY = "responsibility"
    TERM = "term"
    PERFORMANCE_MANNER = "performance_manner"
    PERFORMANCE_DEADLINE = "performance_deadline"
    COPIES = "copies"
    EFFECT = "effect"


@dataclass(frozen=True)
class SignedLine:
    """One line of the signed text: ``label + text`` is the line, exactly.

    The label is printed bold (a field's name, a term's number); ``text``
    may hold line breaks the drafter typed inside a field, which the
    serialisation keeps and the paper prints as breaks.
    """

    kind: LineKind
    text: str
    label: str = ""
    part: Part = Part.NONE

    @property
    def line(self) -> str:
        return (self.label + self.text).rstrip()


@dataclass(frozen=True)
class SignedText:
    """The agreement's text as composed at freezing: title first, then the lines in order."""

    lines: tuple[SignedLine, ...]

    @property
    def plain(self) -> str:
        """The canonical text: what is hashed and signed (``\n`` line ends, one at the end)."""
        return "\n".join(line.line for line in self.lines).strip() + "\n"

    @property
    def title(self) -> str:
        return next((line.text for line in self.lines if line.kind == LineKind.TITLE), "")

    def texts_of(self, part: Part) -> tuple[str, ...]:
        """The non-blank texts of the lines that carry ``part``."""
        return tuple(line.text for line in self.lines if line.part == part and line.text.strip())

    def groups(self) -> tuple[tuple[SignedLine, ...], ...]:
        """The lines between blank lines, title excluded: how the paper spaces them."""
        groups: list[tuple[SignedLine, ...]] = []
        current: list[SignedLine] = []
        for line in self.lines:
            if line.kind == LineKind.TITLE:
                continue
            if line.kind == LineKind.BLANK:
                if current:
                    groups.append(tuple(current))
                current = []
            else:
                current.append(line)
        if current:
            groups.append(tuple(current))
        return tuple(groups)


@dataclass(frozen=True)
class PersonBlock:
    """A party, agent or guardian as the agreement lists them."""

    role_label: str  # 申请人 / 被申请人 / 委托代理人 / 法定代理人
    name: str
    id_label: str  # 居民身份证 ...
    id_number: str  # in full: the agreement identifies the parties
    address: str
    acting_for: str = ""  # the principal's name, for agents and guardians


@dataclass(frozen=True)
class SignatureMark:
    """One handwritten signature placed on the signature block."""

    role_label: str  # 当事人（申请人） / 法定代理人 / 主持人 / 调解员
    name: str
    signed_at: str  # local time, e.g. 2026年11月25日 10:42
    image_png: bytes


@dataclass(frozen=True)
class EvidenceRow:
    """One signer's evidence line on the last page."""

    role_label: str
    name: str
    outcome: str  # 已签名 / 拒绝签名
    at: str  # local time with seconds and zone
    ip: str
    user_agent: str
    via: str  # how they were identified: 本人邀请链接 / 签名链接 / 工作人员登录
    text_sha256: str
    image_sha256: str  # empty for a refusal
    audit_ref: str  # the audit trail entry, e.g. "#1234"


@dataclass(frozen=True)
class AgreementDocument:
    track: str  # PEOPLE or POLICE
    title: str  # 人民调解协议书 / 治安调解协议书
    case_number: str  # （2026）白石调字第0042号
    version: int  # 1; a correction is 2, 3 ...
    correction_reason: str
    station_name: str
    station_address: str
    station_phone: str
    mediating_body: str  # the committee (people's track) or the station (police track)
    office_name: str
    presiding_label: str  # 调解员 / 主持人
    presiding_name: str
    dispute_reference: str
    #: The agreement's text, line by line; ``body.plain`` must be ``canonical_text``.
    body: SignedText
    signatures: tuple[SignatureMark, ...]
    sealed_on: str  # 2026年11月25日
    sealed_at_iso: str  # for the PDF metadata (creation and modification date)
    seal_image_png: bytes | None
    seal_is_sample: bool
    text_sha256: str  # SHA-256 of the signed canonical text
    canonical_text: str  # the exact text every signer agreed to (the frozen text)
    verify_url: str  # the QR code's target
    evidence: tuple[EvidenceRow, ...]
    audit_refs: tuple[str, ...] = field(default_factory=tuple)
    language: str = "zh"

    @property
    def pdf_title(self) -> str:
        return f"{self.title} {self.case_number}"
