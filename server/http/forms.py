"""Turning input into validated models, and validation errors into messages.

Both the pages and the API use this, so a field gets the same message
wherever it was typed.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from server.errors import N_, DomainError, ValidationFailed
from server.i18n import gettext

M = TypeVar("M", bound=BaseModel)

MESSAGES: dict[str, str] = {
    "missing": N_("This field is required."),
    "string_too_short": N_("This field is required."),
    "string_too_long": N_("At most %(max_length)s characters."),
    "string_type": N_("Must be text."),
    "int_parsing": N_("Must be a whole number."),
    "int_type": N_("Must be a whole number."),
    "int_from_float": N_("Must be a whole number."),
    "greater_than_equal": N_("Must be at least %(ge)s."),
    "less_than_equal": N_("Must be at most %(le)s."),
    "enum": N_("Choose one of the offered options."),
    "literal_error": N_("Choose one of the offered options."),
    "bool_parsing": N_("Must be yes or no."),
    "bool_type": N_("Must be yes or no."),
    "datetime_parsing": N_("Enter a date and time, e.g. 2026-11-25 14:30."),
    "datetime_from_date_parsing": N_("Enter a date and time, e.g. 2026-11-25 14:30."),
    "datetime_type": N_("Enter a date and time, e.g. 2026-11-25 14:30."),
    "date_parsing": N_("Enter a date, e.g. 2026-11-25."),
    "date_from_datetime_parsing": N_("Enter a date, e.g. 2026-11-25."),
    "time_parsing": N_("Enter a time, e.g. 14:30."),
    "time_type": N_("Enter a time, e.g. 14:30."),
    "list_type": N_("Must be a list."),
    "too_long": N_("Too many entries."),
    "extra_forbidden": N_("Unknown field."),
    "model_type": N_("Must be an object."),
    "dict_type": N_("Must be an object."),
    "invalid_id_number": N_("Not a valid resident ID number (18 characters, check digit)."),
    "invalid_document_number": N_("Not a valid document number (4-32 letters or digits)."),
    "invalid_phone": N_("Not a valid phone number."),
    "no_party": N_("Register at least one party."),
    "invalid_court": N_("The name of a court, ending in 法院 or 法庭 (e.g. 白石区人民法院)."),
    "court_address_without_court": N_("Enter the court's name along with its address."),
    "invalid_username": N_("3-40 lower-case letters, digits, dot, dash or underscore."),
}
FALLBACK = N_("This value is not valid.")


class InputInvalid(ValidationFailed):
    """Input that failed validation; ``fields`` already holds translated messages."""


def _key(loc: tuple[int | str, ...], ctx: dict[str, Any]) -> str:
    parts = [str(p) for p in loc]
    if "field" in ctx:
        parts.append(str(ctx["field"]))
    return ".".join(parts) or "__root__"


def field_errors(exc: ValidationError) -> dict[str, str]:
    """``{"title": "This field is required.", "parties.0.phone": ...}``, translated."""
    result: dict[str, str] = {}
    for err in exc.errors(include_url=False):
        ctx = dict(err.get("ctx") or {})
        key = _key(tuple(err["loc"]), ctx)
        template = MESSAGES.get(err["type"], FALLBACK)
        try:
            text = gettext(template) % ctx if "%(" in template else gettext(template)
        except (KeyError, TypeError, ValueError):
            text = gettext(FALLBACK)
        result.setdefault(key, text)
    return result


def parse(model: type[M], data: dict[str, Any]) -> M:
    """Validate ``data``; a failure becomes one ``ValidationFailed`` with every field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InputInvalid(N_("Some fields need correcting."), fields=field_errors(exc)) from exc


def field_messages(error: DomainError) -> dict[str, str]:
    """Messages to show next to fields. Domain refusals name a field with a code;
    the refusal's own message is what belongs beside it."""
    if isinstance(error, InputInvalid):
        return dict(error.fields)
    text = gettext(error.message) % error.params if error.params else gettext(error.message)
    return {name: text for name in error.fields}
