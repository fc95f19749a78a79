"""Frozen agreement texts, encrypted at rest and plain in Python.

A frozen text names every party with their full ID number, so the database
keeps it encrypted with the same key family as the parties' own numbers
(server/pii.py). The encryption happens at the ORM edge rather than in each
caller: whoever reads ``AgreementDraft.frozen_text`` (the pages, the room,
the sealing step) gets the plain text, and no code path can store it in the
clear by forgetting a call. The key travels in the session's ``info``
(``make_session_factory(engine, vault=...)``): a session without one reads
the stored form unchanged and refuses to write a frozen text.

Stored form: ``enc1:`` and a Fernet token over the zlib-compressed UTF-8
text (compressed because Fernet's base64 grows CJK text by a third). Its
length depends on how well the text compresses, so the column is TEXT
(migration 0006) and the only length rule is on the plain text
(``MAX_FROZEN_TEXT_CHARS``, server/agreements/service.py). Texts written
before encryption are read as they are (``concord migrate`` encrypts them,
server/migrate.py). The SHA-256 that signatures name is over the plain text,
so encrypting changes no signature.
"""

from __future__ import annotations

import zlib
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapper, QueryContext, Session, attributes, object_session

from server.models.agreement import AgreementDraft
from server.pii import PiiVault

#: Where a session keeps its vault (``Session.info``).
VAULT_INFO_KEY = "concord.pii_vault"
SEALED_PREFIX = "enc1:"
_FIELD = "frozen_text"


def is_sealed(stored: str) -> bool:
    return stored.startswith(SEALED_PREFIX)


def seal_text(vault: PiiVault, plain: str) -> str:
    """The stored form of ``plain``; an empty text stays empty (nothing was frozen yet)."""
    if not plain:
        return ""
    return SEALED_PREFIX + vault.encrypt_bytes(zlib.compress(plain.encode("utf-8"), 9))


def open_text(vault: PiiVault, stored: str) -> str:
    """The plain text of a stored one; a text from before encryption is returned as it is."""
    if not is_sealed(stored):
        return stored
    return zlib.decompress(vault.decrypt_bytes(stored[len(SEALED_PREFIX) :])).decode("utf-8")


def vault_of(session: Session | None) -> PiiVault | None:
    if session is None:
        return None
    vault = session.info.get(VAULT_INFO_KEY)
    return vault if isinstance(vault, PiiVault) else None


def _show_plain(target: AgreementDraft, vault: PiiVault | None) -> None:
    """Replace the loaded stored form with the plain text, without marking the row changed."""
    stored = target.__dict__.get(_FIELD)
    if vault is not None and isinstance(stored, str) and is_sealed(stored):
        attributes.set_committed_value(target, _FIELD, open_text(vault, stored))


@event.listens_for(AgreementDraft, "load")
def _on_load(target: AgreementDraft, context: QueryContext) -> None:
    _show_plain(target, vault_of(context.session))


@event.listens_for(AgreementDraft, "refresh")
def _on_refresh(target: AgreementDraft, context: QueryContext, attrs: Any) -> None:
    if attrs is None or _FIELD in attrs:
        _show_plain(target, vault_of(context.session))


def _before_write(target: AgreementDraft) -> None:
    history = attributes.get_history(target, _FIELD)
    if not history.added:
        return
    value = history.added[0]
    if not isinstance(value, str) or not value or is_sealed(value):
        return
    vault = vault_of(object_session(target))
    if vault is None:
        raise RuntimeError("frozen texts are stored encrypted: this session has no PII vault")
    target.frozen_text = seal_text(vault, value)


def _after_write(target: AgreementDraft) -> None:
    _show_plain(target, vault_of(object_session(target)))


@event.listens_for(AgreementDraft, "before_insert")
def _on_before_insert(_mapper: Mapper[Any], _conn: Connection, target: AgreementDraft) -> None:
    _before_write(target)


@event.listens_for(AgreementDraft, "before_update")
def _on_before_update(_mapper: Mapper[Any], _conn: Connection, target: AgreementDraft) -> None:
    _before_write(target)


@event.listens_for(AgreementDraft, "after_insert")
def _on_after_insert(_mapper: Mapper[Any], _conn: Connection, target: AgreementDraft) -> None:
    _after_write(target)


@event.listens_for(AgreementDraft, "after_update")
def _on_after_update(_mapper: Mapper[Any], _conn: Connection, target: AgreementDraft) -> None:
    _after_write(target)
