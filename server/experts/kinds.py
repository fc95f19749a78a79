"""Kinds of expert and what follows from each."""

from __future__ import annotations

from enum import StrEnum

from server.errors import N_


class ExpertKind(StrEnum):
    LEGAL_POLICE = "legal_police"
    LAWYER = "lawyer"
    COMMUNITY_CADRE = "community_cadre"
    RETIRED_CADRE = "retired_cadre"
    PEOPLE_MEDIATOR = "people_mediator"
    JUDICIAL_OFFICE = "judicial_office"
    OTHER = "other"


KIND_LABELS: dict[str, str] = {
    ExpertKind.LEGAL_POLICE: N_("Legal-affairs police officer"),
    ExpertKind.LAWYER: N_("Lawyer"),
    ExpertKind.COMMUNITY_CADRE: N_("Community governance cadre"),
    ExpertKind.RETIRED_CADRE: N_("Retired cadre"),
    ExpertKind.PEOPLE_MEDIATOR: N_("People's mediator"),
    ExpertKind.JUDICIAL_OFFICE: N_("Judicial office staff"),
    ExpertKind.OTHER: N_("Other"),
}

#: The Chinese names people type in spreadsheets, for imports.
KIND_ALIASES: dict[str, ExpertKind] = {
    "法制民警": ExpertKind.LEGAL_POLICE,
    "律师": ExpertKind.LAWYER,
    "公益律师": ExpertKind.LAWYER,
    "综治专干": ExpertKind.COMMUNITY_CADRE,
    "社区干部": ExpertKind.COMMUNITY_CADRE,
    "退休干部": ExpertKind.RETIRED_CADRE,
    "人民调解员": ExpertKind.PEOPLE_MEDIATOR,
    "司法所": ExpertKind.JUDICIAL_OFFICE,
    "司法所工作人员": ExpertKind.JUDICIAL_OFFICE,
    "其他": ExpertKind.OTHER,
}


def is_police(kind: str) -> bool:
    """Police experts may see personal data that other experts see only masked."""
    return kind == ExpertKind.LEGAL_POLICE


def parse_kind(value: str) -> ExpertKind | None:
    text = value.strip()
    if text in KIND_ALIASES:
        return KIND_ALIASES[text]
    try:
        return ExpertKind(text.lower())
    except ValueError:
        return None
