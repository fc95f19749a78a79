"""The agreement: its draft and versions, its signers and signatures, the sealed archive."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from server.models.base import utcnow


class AgreementDraft(SQLModel, table=True):
    """调解协议 being drafted for one session: the working copy and where it stands.

    ``version`` counts every saved change. Freezing copies the canonical text
    and its SHA-256 into ``frozen_*``: that exact text is what gets signed.
    """

    __tablename__ = "agreement_draft"

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="mediation_session.id", unique=True)
    dispute_id: int = Field(foreign_key="dispute.id", index=True)
    station_id: int = Field(foreign_key="station.id", index=True)
    office_id: int = Field(foreign_key="beat_office.id", index=True)
    legal_track: str = Field(max_length=20)
    status: str = Field(max_length=20, index=True)
    version: int = 1
    content: str = Field(
        default="{}",
        sa_type=Text,
        description="DraftContent as JSON: TEXT, because JSON escapes make it longer than "
        "the drafting fields' own limits (server/agreements/schemas.py) by a varying amount.",
    )
    frozen_version: int | None = None
    frozen_text: str = Field(
        default="",
        sa_type=Text,
        description="The text signed, stored encrypted (server/models/encrypted.py): "
        "TEXT, because the stored form is longer than the plain text by a varying amount.",
    )
    frozen_sha256: str = Field(default="", max_length=64)
    frozen_at: datetime | None = None
    frozen_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    case_number: str = Field(default="", max_length=60)
    case_year: int | None = None
    case_seq: int | None = None
    correction_of_id: int | None = Field(default=None, description="The agreement being corrected.")
    correction_reason: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    updated_by: str = Field(default="", max_length=80)


class DraftRevision(SQLModel, table=True):
    """One saved state of a draft: the version history the room can browse."""

    __tablename__ = "draft_revision"
    __table_args__ = (UniqueConstraint("draft_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    draft_id: int = Field(foreign_key="agreement_draft.id", index=True)
    number: int
    kind: str = Field(max_length=20, description="saved / frozen / unfrozen / correction")
    content: str = Field(sa_type=Text, description="DraftContent as JSON, as in the draft.")
    text_sha256: str = Field(max_length=64)
    author: str = Field(max_length=80)
    author_staff_id: int | None = Field(default=None, foreign_key="staff_user.id")
    note: str = Field(default="", max_length=500)
    at: datetime = Field(default_factory=utcnow)


class Signer(SQLModel, table=True):
    """Someone who must sign: a party (or their agent or guardian) or the presiding officer.

    Each has a personal signing link (only its SHA-256 kept) that works outside
    the room and, once the agreement is sealed, hands out their copy.
    """

    __tablename__ = "agreement_signer"

    id: int | None = Field(default=None, primary_key=True)
    draft_id: int = Field(foreign_key="agreement_draft.id", index=True)
    kind: str = Field(max_length=20, description="party / presiding")
    role: str = Field(max_length=20, description="applicant, respondent, agent, guardian, ...")
    party_id: int | None = Field(default=None, foreign_key="party.id")
    principal_party_id: int | None = Field(default=None, foreign_key="party.id")
    staff_id: int | None = Field(default=None, foreign_key="staff_user.id")
    name: str = Field(max_length=40)
    position: int = 0
    token_hash: str = Field(max_length=64, unique=True)
    expires_at: datetime
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)


class Signature(SQLModel, table=True):
    """A signer's answer to one frozen version: a drawn signature or a refusal, with evidence."""

    __tablename__ = "agreement_signature"
    __table_args__ = (UniqueConstraint("signer_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    signer_id: int = Field(foreign_key="agreement_signer.id", index=True)
    draft_id: int = Field(foreign_key="agreement_draft.id", index=True)
    version: int
    text_sha256: str = Field(max_length=64)
    outcome: str = Field(max_length=20, description="signed / refused")
    image_png: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    image_sha256: str = Field(default="", max_length=64)
    reason: str = Field(default="", max_length=500)
    via: str = Field(max_length=20, description="signing_link / invitation / staff")
    ip: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=300)
    audit_event_id: int | None = Field(default=None, foreign_key="audit_event.id")
    at: datetime = Field(default_factory=utcnow)


class Agreement(SQLModel, table=True):
    """A sealed agreement in the archive. Rows never change (database triggers);
    a correction adds a new row with the next version and a reason."""

    __tablename__ = "agreement"
    __table_args__ = (UniqueConstraint("station_id", "case_number", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    draft_id: int = Field(foreign_key="agreement_draft.id", index=True)
    session_id: int = Field(foreign_key="mediation_session.id", index=True)
    dispute_id: int = Field(foreign_key="dispute.id", index=True)
    station_id: int = Field(foreign_key="station.id", index=True)
    office_id: int = Field(foreign_key="beat_office.id", index=True)
    legal_track: str = Field(max_length=20)
    case_number: str = Field(max_length=60, index=True)
    case_year: int
    case_seq: int
    version: int = 1
    supersedes_id: int | None = Field(default=None, foreign_key="agreement.id")
    correction_reason: str = Field(default="", max_length=500)
    text_sha256: str = Field(max_length=64)
    pdf_sha256: str = Field(max_length=64, index=True)
    pdf_size: int
    file_name: str = Field(max_length=200, description="Relative to the agreements directory.")
    verify_code: str = Field(max_length=40, unique=True)
    party_names: str = Field(
        default="",
        sa_type=Text,
        description="Every party's name, for the archive search: TEXT, because up to 20 parties "
        "of up to 40 characters each outgrow any short bound.",
    )
    evidence: str = Field(default="{}", max_length=200000, description="Evidence as JSON.")
    sealed_at: datetime = Field(default_factory=utcnow, index=True)
    sealed_by_id: int = Field(foreign_key="staff_user.id")


class CaseCounter(SQLModel, table=True):
    """The last case number handed out per station, year and kind."""

    __tablename__ = "case_counter"

    station_id: int = Field(foreign_key="station.id", primary_key=True)
    year: int = Field(primary_key=True)
    kind: str = Field(primary_key=True, max_length=20)
    last_seq: int = 0
