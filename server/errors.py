"""Domain errors. Each carries a stable code; the HTTP layer renders them.

Messages are English msgids marked with ``N_`` so they are extracted into the
catalogue; the edge translates them into the reader's language. Parameters
stay separate so a translation can place them where its grammar wants.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


def N_(message: str) -> str:
    """Mark a string for translation without translating it here."""
    return message


class ErrorCode(StrEnum):
    INVALID_REQUEST = "invalid_request"
    VALIDATION_FAILED = "validation_failed"
    NOT_AUTHENTICATED = "not_authenticated"
    NOT_ALLOWED = "not_allowed"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    ILLEGAL_TRANSITION = "illegal_transition"
    LIMIT_EXCEEDED = "limit_exceeded"
    CHAT_TOO_FAST = "chat_too_fast"
    CHAT_TOO_LONG = "chat_too_long"
    CSRF_FAILED = "csrf_failed"
    MINUTES_SIGNED_OFF = "minutes_signed_off"
    MINUTES_UNKNOWN_SPEAKER = "minutes_unknown_speaker"
    MINUTES_CONFLICT = "minutes_conflict"
    MEDIA_PORTS_EXHAUSTED = "media_ports_exhausted"
    CODEC_UNSUPPORTED = "codec_unsupported"
    INTERNAL_ERROR = "internal_error"


class DomainError(Exception):
    """A refusal the user can act on."""

    code: ErrorCode = ErrorCode.INVALID_REQUEST

    def __init__(
        self,
        message: str,
        *,
        params: dict[str, Any] | None = None,
        fields: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.params = params or {}
        self.fields = fields or {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!s}, message={self.message!r})"


class ValidationFailed(DomainError):
    code = ErrorCode.VALIDATION_FAILED


class NotAuthenticated(DomainError):
    code = ErrorCode.NOT_AUTHENTICATED


class NotAllowed(DomainError):
    code = ErrorCode.NOT_ALLOWED


class NotFound(DomainError):
    code = ErrorCode.NOT_FOUND


class Conflict(DomainError):
    code = ErrorCode.CONFLICT


class IllegalTransition(DomainError):
    code = ErrorCode.ILLEGAL_TRANSITION


class LimitExceeded(DomainError):
    code = ErrorCode.LIMIT_EXCEEDED


class ChatTooFast(LimitExceeded):
    """A participant posts chat lines faster than the room lets anyone."""

    code = ErrorCode.CHAT_TOO_FAST


class ChatTooLong(ValidationFailed):
    """A chat line longer than the room keeps."""

    code = ErrorCode.CHAT_TOO_LONG


class CsrfFailed(DomainError):
    code = ErrorCode.CSRF_FAILED


class MinutesSignedOff(Conflict):
    """The presiding officer has signed the minutes off: they no longer change."""

    code = ErrorCode.MINUTES_SIGNED_OFF


class MinutesUnknownSpeaker(ValidationFailed):
    """A minutes entry names someone who is not a participant of the session."""

    code = ErrorCode.MINUTES_UNKNOWN_SPEAKER


class MinutesConflict(Conflict):
    """Two edits of one minutes entry at once: the second is told, not merged."""

    code = ErrorCode.MINUTES_CONFLICT
