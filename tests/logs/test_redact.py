"""What the redacting filter masks, in messages, arguments and tracebacks, and what it keeps."""

from __future__ import annotations

import logging
import secrets
import sys
from datetime import date

import pytest

from server.logs.redact import ID_MASK, PHONE_MASK, TOKEN_MASK, RedactingFilter, redact
from server.sessions.invitations import new_token
from tests.disputes.helpers import resident_id

ID_WITH_X = "11010519491231002X"


@pytest.mark.parametrize(
    "text",
    [
        resident_id(date(1990, 3, 7)),
        ID_WITH_X,
        ID_WITH_X.lower(),
        "110105 19491231 002X",
    ],
)
def test_id_numbers_are_masked(text: str) -> None:
    assert redact(f"party id={text}, ok") == f"party id={ID_MASK}, ok"


@pytest.mark.parametrize(
    "text",
    ["13800138001", "+8613800138001", "+86 138-0013-8001", "86 13800138001", "138 0013 8001"],
)
def test_mobile_numbers_are_masked(text: str) -> None:
    assert redact(f"phone: {text}.") == f"phone: {PHONE_MASK}."


@pytest.mark.parametrize(
    "text",
    [
        "room 12: inv-3 join -> lobby",
        "request 0123456789abcdef",
        "12345678901",  # 11 digits but no mobile prefix
        "2138001380012",  # a longer number that only contains a mobile number
        "1234567890123456789",  # 19 digits: not an ID number
        "server.rooms.aiortc_adapter.sending: forwarding_a_packet_to_a_subscriber_failed",
        "/sessions/12/room",
        "session=12",
    ],
)
def test_ids_and_plain_text_are_kept(text: str) -> None:
    assert redact(text) == text


def test_tokens_in_links_queries_fields_and_alone_are_masked() -> None:
    token = new_token()
    cases = {
        f"GET /j/{token}/room": f"GET /j/{TOKEN_MASK}/room",
        f"GET /j/{token}": f"GET /j/{TOKEN_MASK}",
        "GET /j/short-bad-token": f"GET /j/{TOKEN_MASK}",
        f"POST /sign/{token}": f"POST /sign/{TOKEN_MASK}",
        "GET /verify/Zx9-Q2abcdEFgh_1": f"GET /verify/{TOKEN_MASK}",
        f"/ws/room?token={token}&x=1": f"/ws/room?token={TOKEN_MASK}&x=1",
        '{"token": "abc", "n": 1}': f'{{"token": "{TOKEN_MASK}", "n": 1}}',
        "Cookie: concord_session=abc; concord_pre=def": (
            f"Cookie: concord_session={TOKEN_MASK}; concord_pre={TOKEN_MASK}"
        ),
        "password=hunter2": f"password={TOKEN_MASK}",
        f"made {token} for inv-3": f"made {TOKEN_MASK} for inv-3",
        f"key {secrets.token_urlsafe(48)}": f"key {TOKEN_MASK}",
    }
    for text, expected in cases.items():
        assert redact(text) == expected, text


def record(msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("t", logging.INFO, __file__, 1, msg, args, None)


def test_the_filter_masks_arguments_and_merges_them() -> None:
    rec = record("party %s phone %s link %s", ID_WITH_X, "13800138001", "/j/abc")
    assert RedactingFilter().filter(rec)
    assert rec.getMessage() == f"party {ID_MASK} phone {PHONE_MASK} link /j/{TOKEN_MASK}"
    assert rec.args is None


def test_the_filter_masks_tracebacks_and_structured_fields() -> None:
    try:
        raise ValueError(f"bad number {ID_WITH_X}")
    except ValueError:
        rec = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    rec.__dict__["http"] = {"path": "/j/secret-token", "status": 200}
    RedactingFilter().filter(rec)
    assert rec.exc_text is not None and ID_WITH_X not in rec.exc_text and ID_MASK in rec.exc_text
    assert rec.__dict__["http"] == {"path": f"/j/{TOKEN_MASK}", "status": 200}
    # A formatter uses the masked text it finds.
    assert ID_WITH_X not in logging.Formatter().format(rec)


def test_arguments_that_do_not_fit_are_kept_masked_not_raised() -> None:
    rec = record("two %s %s", "13800138001")
    assert RedactingFilter().filter(rec)
    assert "13800138001" not in rec.getMessage() and PHONE_MASK in rec.getMessage()
