"""What goes on the paper: everything a template needs, already in print form.

The domain layer builds an ``AgreementDocument`` from the database; the
renderer (``render.py``, run in a worker process) turns it into a PDF and
the sealer signs it. It is a plain frozen dataclass of strings, numbers and
bytes so it pickles cheaply across the process boundary and a template never
reaches back into the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: The two legal tracks (see server.sessions.rules.LegalTrack) by value.
PEOPLE = "people"
POLICE = "police"


@dataclass(frozen=True)
class PersonBlock:
    """A party, agent or guardian as the agreement lists them."""

    role_label: str  # 申请人 / 被申请人 / 委托代理人 / 法定代理人
    name: str
    id_label: str  # 居民身份证 ...
    id_number: str  # in full: the agreement identifies the parties
    address: str
    phone: str = ""
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
    others_present: tuple[str, ...]  # experts, observers, interpreters: "姓名（身份）"
    session_time: str  # 2026年11月25日 09:30—10:30
    session_place: str  # 远程视频调解（白石派出所滨河社区警务室主持）
    dispute_reference: str
    parties: tuple[PersonBlock, ...]
    facts: str  # main facts / time, place, cause, course and result of the incident
    disputed_matters: str
    responsibility: str
    terms: tuple[str, ...]  # numbered in print: 一、二、三 ...
    performance_manner: str
    performance_deadline: str  # 2026年12月31日
    copies: int
    copies_note: str  # 本协议书一式三份，…
    effect_note: str  # when it takes effect; judicial confirmation for people's track
    signatures: tuple[SignatureMark, ...]
    sealed_on: str  # 2026年11月25日
    sealed_at_iso: str  # for the PDF metadata (creation and modification date)
    seal_image_png: bytes | None
    seal_is_sample: bool
    text_sha256: str  # SHA-256 of the signed canonical text
    canonical_text: str  # the exact text every signer agreed to
    verify_url: str  # the QR code's target
    evidence: tuple[EvidenceRow, ...]
    audit_refs: tuple[str, ...] = field(default_factory=tuple)
    language: str = "zh"

    @property
    def pdf_title(self) -> str:
        return f"{self.title} {self.case_number}"
