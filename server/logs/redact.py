"""Personal data and secrets out of log lines, whatever logged them.

Log files travel further than the database: to a ticket, a colleague's
laptop, a log service. So what a line carries is masked before any handler
writes it, in the message, its arguments and any traceback:

* mainland resident ID numbers (18 characters: 17 digits and a check digit or
  ``X``, also typed in groups with spaces);
* mainland mobile numbers (11 digits from ``13``-``19``, with or without
  ``+86`` and separators);
* the secrets in links and cookies: invitation and signing links
  (``/j/<token>``, ``/sign/<token>``), verification codes (``/verify/<code>``),
  a ``token=`` query or field, the session cookies, and any other value named
  like a token, password, secret or credential;
* anything else shaped like one of our tokens: they are ``secrets.token_urlsafe``
  of 32 bytes or more (server/sessions/invitations.py, server/auth/sessions.py),
  43 or more characters of the URL-safe base64 alphabet. A run of 40 or more
  such characters that is not a plain lower-case word is masked; the ids
  lines should carry (database ids, ``inv-3``, 16-digit request ids) are far
  shorter.

The rules over-mask on purpose (a 64-digit hash, any 18-digit number): a
lost digit in a log costs nothing, a leaked ID number cannot be taken back.
Names cannot be recognised by a pattern: code logs ids, never names
(see docs/operations.md, "Logs").
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

ID_MASK = "<id-number>"
PHONE_MASK = "<phone>"
TOKEN_MASK = "<token>"

#: Paths whose next segment is a secret (server/http/pages/door.py, signing.py, verify.py).
_SECRET_PATH = re.compile(r"(/(?:j|sign|verify)/)[^/?#\s\"'<>]+")
#: ``name=value``, ``name: value`` and JSON ``"name": "value"`` for secret-bearing names.
_SECRET_FIELD = re.compile(
    r"""(?ix)
    (
      \b(?:[a-z_]*token|password|passphrase|secret(?:_key)?|credential|verify_code
          |concord_session|concord_pre)
      ["']?\s*[:=]\s*["']?
    )
    [^\s"'&;,)}\]]+
    """
)
_URLSAFE = "A-Za-z0-9_-"
_LONG_TOKEN = re.compile(rf"(?<![{_URLSAFE}])(?![a-z_]+(?![{_URLSAFE}]))[{_URLSAFE}]{{40,}}")
# ASCII digits only (what the forms accept, server/pii.py); a digit on either side means
# some longer number, which the rules leave alone.
_ID_NUMBER = re.compile(r"(?<![0-9])[0-9]{6} ?[0-9]{8} ?[0-9]{3}[0-9Xx](?![0-9])")
_MOBILE = re.compile(r"(?<![0-9])(?:\+?86[ -]?)?1[3-9][0-9](?:[ -]?[0-9]{4}){2}(?![0-9])")


def redact(text: str) -> str:
    """``text`` with every ID number, mobile number and secret masked."""
    text = _SECRET_PATH.sub(rf"\1{TOKEN_MASK}", text)
    text = _SECRET_FIELD.sub(rf"\1{TOKEN_MASK}", text)
    text = _LONG_TOKEN.sub(TOKEN_MASK, text)
    text = _ID_NUMBER.sub(ID_MASK, text)
    return _MOBILE.sub(PHONE_MASK, text)


#: Record attributes of our own that carry request details (the access log's ``http``).
STRUCTURED_FIELDS = ("http",)


class RedactingFilter(logging.Filter):
    """Masks a record before a handler writes it: message and arguments, traceback, stack.

    The arguments are merged into the message first (a phone number passed as
    ``%s`` is as personal as one in the text), and the traceback is formatted
    here so its text is masked too (``logging.Formatter`` reuses ``exc_text``).
    A record that reaches several handlers is masked once and passes again
    unchanged.
    """

    def __init__(self) -> None:
        super().__init__()
        self._traceback = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the message: keep both, masked
            message = f"{record.msg!r} % {record.args!r}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._traceback.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for name in STRUCTURED_FIELDS:
            value = getattr(record, name, None)
            if isinstance(value, Mapping):
                setattr(record, name, _redact_mapping(value))
        return True


def _redact_mapping(value: Mapping[str, Any]) -> dict[str, Any]:
    return {key: redact(item) if isinstance(item, str) else item for key, item in value.items()}
