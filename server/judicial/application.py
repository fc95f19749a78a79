"""The joint application for judicial confirmation (司法确认申请书), as data for the paper.

The court needs every applicant's full details, so unlike anything handed to
experts this carries full ID numbers, decrypted through the PII vault; only
staff allowed to reveal ID numbers produce it (``roles.can_make_judicial_packet``)
and each production is audited. The builder is pure: the service loads the
agreement's context and hands it over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from server.agreements.rules import PARTY_ROLES_ZH, zh_date
from server.agreements.service import ID_LABELS_ZH, Context, mediating_body
from server.judicial.rules import MATERIAL_NOTES, MATERIALS
from server.models import Agreement, Party
from server.pii import PiiVault, birth_date_from_resident_id

PRINCIPALS = ("applicant", "respondent")


@dataclass(frozen=True)
class Representative:
    """An agent (委托代理人) or guardian (法定代理人) acting for an applicant."""

    role_label: str
    name: str
    phone: str


@dataclass(frozen=True)
class Applicant:
    """One of the joint applicants: a principal party of the agreement, in full."""

    mediation_role: str
    name: str
    id_label: str
    id_number: str
    birth: str
    address: str
    phone: str
    representatives: tuple[Representative, ...]


@dataclass(frozen=True)
class ApplicationDocument:
    """Everything the application prints."""

    court_name: str
    court_address: str
    applicants: tuple[Applicant, ...]
    agreement_title: str
    case_number: str
    agreement_version: int
    mediating_body: str
    mediator_name: str
    station_name: str
    office_name: str
    dispute_title: str
    dispute_reference: str
    effective_on: str
    window_ends_on: str
    terms: tuple[str, ...]
    performance_manner: str
    performance_deadline: str
    materials: tuple[str, ...]
    notes: tuple[str, ...]
    made_on: str
    made_at_iso: str


def _birth(party: Party, number: str) -> str:
    if party.id_type != "resident_id" or not number:
        return ""
    born = birth_date_from_resident_id(number)
    return zh_date(born) if born else ""


def applicants_of(parties: list[Party], vault: PiiVault) -> tuple[Applicant, ...]:
    """Every principal party (申请人 and 被申请人 of the mediation alike apply jointly), each with
    whoever acts for them; full ID numbers from the vault."""
    acting: dict[int, list[Representative]] = {}
    for party in parties:
        if party.role not in PRINCIPALS and party.represents_id is not None:
            acting.setdefault(party.represents_id, []).append(
                Representative(PARTY_ROLES_ZH.get(party.role, party.role), party.name, party.phone)
            )
    order = {role: n for n, role in enumerate(PRINCIPALS)}
    result = []
    for party in sorted(
        (p for p in parties if p.role in PRINCIPALS), key=lambda p: (order[p.role], p.id or 0)
    ):
        number = vault.decrypt(party.id_number_encrypted) if party.id_number_encrypted else ""
        result.append(
            Applicant(
                mediation_role=PARTY_ROLES_ZH[party.role],
                name=party.name,
                id_label=ID_LABELS_ZH.get(party.id_type, "证件"),
                id_number=number,
                birth=_birth(party, number),
                address=party.address,
                phone=party.phone,
                representatives=tuple(acting.get(party.id or 0, ())),
            )
        )
    return tuple(result)


def build(
    ctx: Context,
    agreement: Agreement,
    vault: PiiVault,
    *,
    court_name: str,
    effective_on: date,
    window_ends_on: date,
    made_on: date,
    made_at_iso: str,
    agreement_title: str,
) -> ApplicationDocument:
    """The application for ``agreement``, prefilled from its case."""
    content = ctx.content
    deadline = content.performance_deadline
    return ApplicationDocument(
        court_name=court_name,
        court_address=ctx.office.court_address,
        applicants=applicants_of(ctx.parties, vault),
        agreement_title=agreement_title,
        case_number=agreement.case_number,
        agreement_version=agreement.version,
        mediating_body=mediating_body(ctx),
        mediator_name=ctx.presiding.display_name if ctx.presiding else "",
        station_name=ctx.station.name,
        office_name=ctx.office.name,
        dispute_title=ctx.dispute.title,
        dispute_reference=ctx.dispute.reference,
        effective_on=zh_date(effective_on),
        window_ends_on=zh_date(window_ends_on),
        terms=tuple(content.terms),
        performance_manner=content.performance_manner,
        performance_deadline=zh_date(deadline) if deadline else "",
        materials=MATERIALS,
        notes=MATERIAL_NOTES,
        made_on=zh_date(made_on),
        made_at_iso=made_at_iso,
    )
