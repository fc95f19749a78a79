"""Validation of what callers supply to register, triage and move a dispute."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from server.disputes.lifecycle import (
    Category,
    IdType,
    PartyRole,
    RiskLevel,
    Source,
    Status,
    Trend,
)
from server.disputes.schemas import (
    DisputeFilter,
    DisputeInput,
    PartyInput,
    RevealInput,
    TransitionInput,
    TriageInput,
)
from tests.disputes.helpers import ADULT_ID, dispute_data, resident_id, wrong_check

ID_ENDING_IN_X = "11010119850612104X"


def _errors(exc: pytest.ExceptionInfo[ValidationError]) -> list[tuple[tuple[Any, ...], str]]:
    return [(tuple(e["loc"]), e["type"]) for e in exc.value.errors()]


def _types(exc: pytest.ExceptionInfo[ValidationError]) -> set[str]:
    return {e["type"] for e in exc.value.errors()}


# --- DisputeInput ---------------------------------------------------------


def test_dispute_input_valid_and_defaults() -> None:
    data = DisputeInput.model_validate(dispute_data())
    assert data.title == "养犬扰邻纠纷"
    assert data.category is Category.NEIGHBOUR
    assert data.trend is Trend.STABLE
    assert data.source is Source.WALK_IN
    assert data.office_id is None
    assert data.people_involved == ""
    assert data.development == ""
    assert data.description == ""
    assert len(data.parties) == 1
    assert data.parties[0].role is PartyRole.APPLICANT


@pytest.mark.parametrize(
    "field", ["title", "category", "cause", "occurred_at", "place", "scale", "trend"]
)
def test_dispute_input_required_fields(field: str) -> None:
    data = dispute_data()
    del data[field]
    with pytest.raises(ValidationError) as exc:
        DisputeInput.model_validate(data)
    assert _errors(exc) == [((field,), "missing")]


@pytest.mark.parametrize("parties", [None, []], ids=["left out", "empty"])
def test_at_least_one_party_reported_with_the_other_fields(parties: list[object] | None) -> None:
    data = dispute_data(title="")
    if parties is None:
        del data["parties"]
    else:
        data["parties"] = parties
    with pytest.raises(ValidationError) as exc:
        DisputeInput.model_validate(data)
    assert sorted(_errors(exc)) == [(("parties",), "no_party"), (("title",), "string_too_short")]


def test_title_of_100_characters_is_accepted() -> None:
    assert len(DisputeInput.model_validate(dispute_data(title="题" * 100)).title) == 100


def test_title_of_101_characters_is_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        DisputeInput.model_validate(dispute_data(title="题" * 101))
    assert _errors(exc) == [(("title",), "string_too_long")]


@pytest.mark.parametrize(
    ("field", "limit"),
    [
        ("cause", 500),
        ("place", 200),
        ("people_involved", 500),
        ("development", 1000),
        ("description", 4000),
    ],
)
def test_text_limits(field: str, limit: int) -> None:
    DisputeInput.model_validate(dispute_data(**{field: "x" * limit}))
    with pytest.raises(ValidationError) as exc:
        DisputeInput.model_validate(dispute_data(**{field: "x" * (limit + 1)}))
    assert _errors(exc) == [((field,), "string_too_long")]


def test_whitespace_is_stripped() -> None:
    data = DisputeInput.model_validate(
        dispute_data(title="  养犬扰邻  ", cause="\t吠叫\n", place=" 楼下 ", description="  ")
    )
    assert data.title == "养犬扰邻"
    assert data.cause == "吠叫"
    assert data.place == "楼下"
    assert data.description == ""


@pytest.mark.parametrize("field", ["title", "cause", "place"])
def test_blank_required_text_is_refused(field: str) -> None:
    with pytest.raises(ValidationError) as exc:
        DisputeInput.model_validate(dispute_data(**{field: "   "}))
    assert _errors(exc) == [((field,), "string_too_short")]


def test_stripping_happens_before_the_length_check() -> None:
    data = DisputeInput.model_validate(dispute_data(title=" " + "题" * 100 + " "))
    assert len(data.title) == 100


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("scale", "many", "int_parsing"),
        ("scale", 1.5, "int_from_float"),
        ("scale", 0, "greater_than_equal"),
        ("scale", 10001, "less_than_equal"),
        ("category", "murder", "enum"),
        ("trend", "sideways", "enum"),
        ("source", "rumour", "enum"),
        ("occurred_at", "yesterday", "datetime_from_date_parsing"),
        ("office_id", 0, "greater_than_equal"),
        ("office_id", "a", "int_parsing"),
        ("title", 123, "string_type"),
        ("parties", "王丽华", "list_type"),
    ],
)
def test_dispute_input_wrong_types(field: str, value: object, error: str) -> None:
    with pytest.raises(ValidationError) as exc:
        DisputeInput.model_validate(dispute_data(**{field: value}))
    assert _errors(exc) == [((field,), error)]


def test_scale_bounds_are_inclusive() -> None:
    assert DisputeInput.model_validate(dispute_data(scale=1)).scale == 1
    assert DisputeInput.model_validate(dispute_data(scale=10000)).scale == 10000


def test_scale_numeric_string_is_coerced() -> None:
    assert DisputeInput.model_validate(dispute_data(scale="3")).scale == 3


def test_dispute_input_forbids_extra_fields() -> None:
    with pytest.raises(ValidationError) as exc:
        DisputeInput.model_validate(dispute_data(status="closed"))
    assert _errors(exc) == [(("status",), "extra_forbidden")]


def test_at_most_20_parties() -> None:
    party = {"name": "甲", "role": "applicant"}
    DisputeInput.model_validate(dispute_data(parties=[party] * 20))
    with pytest.raises(ValidationError) as exc:
        DisputeInput.model_validate(dispute_data(parties=[party] * 21))
    assert _errors(exc) == [(("parties",), "too_long")]


def test_errors_in_a_party_point_at_the_party() -> None:
    with pytest.raises(ValidationError) as exc:
        DisputeInput.model_validate(dispute_data(parties=[{"name": "甲", "role": "judge"}]))
    assert _errors(exc) == [(("parties", 0, "role"), "enum")]


def test_dispute_input_is_frozen() -> None:
    data = DisputeInput.model_validate(dispute_data())
    with pytest.raises(ValidationError):
        data.title = "changed"  # type: ignore[misc]


def test_occurred_at_accepts_naive_and_aware() -> None:
    naive = DisputeInput.model_validate(dispute_data(occurred_at="2024-05-01T10:30"))
    assert naive.occurred_at == datetime(2024, 5, 1, 10, 30)
    aware = DisputeInput.model_validate(dispute_data(occurred_at="2024-05-01T10:30:00+08:00"))
    assert aware.occurred_at.utcoffset() == timedelta(hours=8)


# --- PartyInput -----------------------------------------------------------


def test_party_defaults() -> None:
    party = PartyInput(name="王丽华", role=PartyRole.APPLICANT)
    assert party.id_type is IdType.RESIDENT_ID
    assert party.id_number == ""
    assert party.phone == ""
    assert party.address == ""
    assert party.minor is False
    assert party.represents_party_id is None


@pytest.mark.parametrize("field", ["name", "role"])
def test_party_required_fields(field: str) -> None:
    data: dict[str, Any] = {"name": "王丽华", "role": "applicant"}
    del data[field]
    with pytest.raises(ValidationError) as exc:
        PartyInput.model_validate(data)
    assert _errors(exc) == [((field,), "missing")]


def test_party_name_limits_and_stripping() -> None:
    assert PartyInput(name="  王丽华 ", role=PartyRole.APPLICANT).name == "王丽华"
    assert len(PartyInput(name="名" * 40, role=PartyRole.APPLICANT).name) == 40
    with pytest.raises(ValidationError) as exc:
        PartyInput.model_validate({"name": "名" * 41, "role": "applicant"})
    assert _errors(exc) == [(("name",), "string_too_long")]
    with pytest.raises(ValidationError) as exc:
        PartyInput.model_validate({"name": "  ", "role": "applicant"})
    assert _errors(exc) == [(("name",), "string_too_short")]


def test_valid_resident_id_is_accepted() -> None:
    party = PartyInput.model_validate({"name": "王", "role": "applicant", "id_number": ADULT_ID})
    assert party.id_number == ADULT_ID


@pytest.mark.parametrize(
    "number",
    [
        resident_id(date(2001, 1, 31)),
        resident_id(date(1960, 12, 1), area="440305", seq="987"),
        resident_id(date(2000, 2, 29), area="310104", seq="001"),
        ID_ENDING_IN_X,
    ],
)
def test_computed_resident_ids_are_accepted(number: str) -> None:
    party = PartyInput.model_validate({"name": "王", "role": "applicant", "id_number": number})
    assert party.id_number == number


def test_resident_id_is_normalised() -> None:
    raw = "  " + ID_ENDING_IN_X[:6] + " " + ID_ENDING_IN_X[6:14] + " " + ID_ENDING_IN_X[14:]
    party = PartyInput.model_validate({"name": "王", "role": "applicant", "id_number": raw.lower()})
    assert party.id_number == ID_ENDING_IN_X


@pytest.mark.parametrize(
    "number",
    [
        wrong_check(ADULT_ID),
        wrong_check(ID_ENDING_IN_X),
        ADULT_ID[:-1],  # 17 characters
        ADULT_ID + "1",  # 19 characters
        "11010119900307451Y",  # not a check character
        "A10101199003074514",  # a letter in the body
        # Right check character, impossible birth dates.
        "110101199013074514"[:17] + "0",
        "110101199002300000"[:17] + "0",
        "110101199013071234",
    ],
)
def test_invalid_resident_id_is_refused(number: str) -> None:
    with pytest.raises(ValidationError) as exc:
        PartyInput.model_validate({"name": "王", "role": "applicant", "id_number": number})
    assert _types(exc) == {"invalid_id_number"}


def test_impossible_birth_date_with_correct_check_character_is_refused() -> None:
    body = "11010119900230123"  # 30 February
    from tests.disputes.helpers import check_char

    with pytest.raises(ValidationError) as exc:
        PartyInput.model_validate(
            {"name": "王", "role": "applicant", "id_number": body + check_char(body)}
        )
    assert _types(exc) == {"invalid_id_number"}


def test_other_documents_are_checked_by_format_only() -> None:
    party = PartyInput.model_validate(
        {"name": "Smith", "role": "respondent", "id_type": "passport", "id_number": " e1234567 "}
    )
    assert party.id_number == "E1234567"
    # A resident ID's checksum is not applied to other document types.
    party = PartyInput.model_validate(
        {"name": "Li", "role": "respondent", "id_type": "other", "id_number": wrong_check(ADULT_ID)}
    )
    assert party.id_number == wrong_check(ADULT_ID)


@pytest.mark.parametrize("number", ["E12", "AB@12345", "护照12345", "X" * 33])
def test_invalid_document_number_is_refused(number: str) -> None:
    with pytest.raises(ValidationError) as exc:
        PartyInput.model_validate(
            {"name": "Smith", "role": "respondent", "id_type": "passport", "id_number": number}
        )
    assert _types(exc) == {"invalid_document_number"}


def test_id_number_over_40_characters_is_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        PartyInput.model_validate({"name": "王", "role": "applicant", "id_number": "1" * 41})
    assert _errors(exc) == [(("id_number",), "string_too_long")]


@pytest.mark.parametrize(
    "phone",
    ["13800138001", "+86 138 0013 8001", "0755-2700-1100", "123456", " 13800138001 "],
)
def test_valid_phone_numbers(phone: str) -> None:
    party = PartyInput.model_validate({"name": "王", "role": "applicant", "phone": phone})
    assert party.phone == phone.strip()


@pytest.mark.parametrize(
    "phone",
    ["12345", "abc", "138-0013-800a", "138001380--", "++8613800138001", "(0755)27001100"],
)
def test_invalid_phone_numbers(phone: str) -> None:
    with pytest.raises(ValidationError) as exc:
        PartyInput.model_validate({"name": "王", "role": "applicant", "phone": phone})
    assert _types(exc) == {"invalid_phone"}


def test_accepted_phone_fits_the_party_phone_column() -> None:
    # party.phone is VARCHAR(20): anything the schema accepts must fit in it,
    # or PostgreSQL refuses the insert with a server error.
    from server.models import Party

    column_length = Party.__table__.c.phone.type.length  # type: ignore[attr-defined]
    longest = "+8" + "6" * 19  # 21 characters, matches the phone pattern
    try:
        party = PartyInput.model_validate({"name": "王", "role": "applicant", "phone": longest})
    except ValidationError:
        return
    assert len(party.phone) <= column_length


def test_party_wrong_types() -> None:
    with pytest.raises(ValidationError) as exc:
        PartyInput.model_validate(
            {"name": "王", "role": "applicant", "minor": "perhaps", "represents_party_id": 0}
        )
    assert sorted(_errors(exc)) == [
        (("minor",), "bool_parsing"),
        (("represents_party_id",), "greater_than_equal"),
    ]


def test_party_forbids_extra_fields() -> None:
    with pytest.raises(ValidationError) as exc:
        PartyInput.model_validate({"name": "王", "role": "applicant", "age": 30})
    assert _errors(exc) == [(("age",), "extra_forbidden")]


def test_party_unknown_id_type() -> None:
    with pytest.raises(ValidationError) as exc:
        PartyInput.model_validate({"name": "王", "role": "applicant", "id_type": "licence"})
    assert _errors(exc) == [(("id_type",), "enum")]


# --- TriageInput ----------------------------------------------------------


def test_triage_input_valid() -> None:
    data = TriageInput.model_validate(
        {"risk_level": "high", "assignee_id": 3, "reason": "  可能升级  "}
    )
    assert data.risk_level is RiskLevel.HIGH
    assert data.criminal is False
    assert data.reason == "可能升级"


@pytest.mark.parametrize("field", ["risk_level", "assignee_id", "reason"])
def test_triage_input_required(field: str) -> None:
    data: dict[str, Any] = {"risk_level": "general", "assignee_id": 3, "reason": "理由"}
    del data[field]
    with pytest.raises(ValidationError) as exc:
        TriageInput.model_validate(data)
    assert _errors(exc) == [((field,), "missing")]


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("risk_level", "extreme", "enum"),
        ("assignee_id", 0, "greater_than_equal"),
        ("assignee_id", "chief", "int_parsing"),
        ("criminal", "maybe", "bool_parsing"),
        ("reason", "   ", "string_too_short"),
        ("reason", "x" * 1001, "string_too_long"),
    ],
)
def test_triage_input_invalid(field: str, value: object, error: str) -> None:
    data: dict[str, Any] = {"risk_level": "general", "assignee_id": 3, "reason": "理由"}
    data[field] = value
    with pytest.raises(ValidationError) as exc:
        TriageInput.model_validate(data)
    assert _errors(exc) == [((field,), error)]


def test_triage_input_forbids_extra() -> None:
    with pytest.raises(ValidationError) as exc:
        TriageInput.model_validate(
            {"risk_level": "general", "assignee_id": 3, "reason": "理由", "route": "case_team"}
        )
    assert _errors(exc) == [(("route",), "extra_forbidden")]


# --- TransitionInput ------------------------------------------------------


def test_transition_input_valid() -> None:
    data = TransitionInput.model_validate(
        {"to_status": "in_mediation", "note": " 约定周五调解 ", "expected_version": "2"}
    )
    assert data.to_status is Status.IN_MEDIATION
    assert data.note == "约定周五调解"
    assert data.expected_version == 2
    assert TransitionInput(to_status=Status.CLOSED, note="结案").expected_version is None


@pytest.mark.parametrize(
    ("data", "loc", "error"),
    [
        ({"note": "n"}, "to_status", "missing"),
        ({"to_status": "closed"}, "note", "missing"),
        ({"to_status": "finished", "note": "n"}, "to_status", "enum"),
        ({"to_status": "closed", "note": " "}, "note", "string_too_short"),
        ({"to_status": "closed", "note": "x" * 1001}, "note", "string_too_long"),
        (
            {"to_status": "closed", "note": "n", "expected_version": 0},
            "expected_version",
            "greater_than_equal",
        ),
        (
            {"to_status": "closed", "note": "n", "expected_version": "v1"},
            "expected_version",
            "int_parsing",
        ),
        ({"to_status": "closed", "note": "n", "actor": 1}, "actor", "extra_forbidden"),
    ],
)
def test_transition_input_invalid(data: dict[str, Any], loc: str, error: str) -> None:
    with pytest.raises(ValidationError) as exc:
        TransitionInput.model_validate(data)
    assert _errors(exc) == [((loc,), error)]


# --- RevealInput and DisputeFilter ---------------------------------------


def test_reveal_needs_a_real_reason() -> None:
    assert RevealInput(reason="  核对身份  ").reason == "核对身份"
    with pytest.raises(ValidationError) as exc:
        RevealInput(reason=" 看看 ")
    assert _types(exc) == {"string_too_short"}
    with pytest.raises(ValidationError) as exc:
        RevealInput.model_validate({})
    assert _types(exc) == {"missing"}


def test_dispute_filter_defaults_and_limits() -> None:
    flt = DisputeFilter()
    assert (flt.q, flt.page, flt.per_page, flt.open_only) == ("", 1, 25, False)
    with pytest.raises(ValidationError):
        DisputeFilter(per_page=101)
    with pytest.raises(ValidationError):
        DisputeFilter(page=0)
    with pytest.raises(ValidationError) as exc:
        DisputeFilter.model_validate({"sort": "title"})
    assert _types(exc) == {"extra_forbidden"}
    flt = DisputeFilter.model_validate({"date_from": "2024-05-01", "q": " 王 "})
    assert flt.date_from == date(2024, 5, 1)
    assert flt.q == "王"
    assert DisputeFilter(date_to=datetime(2024, 5, 1, tzinfo=UTC)).date_to is not None
