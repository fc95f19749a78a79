"""Helpers shared by the tables."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Aware UTC; SQLModel's UTCDateTime stores it alike on SQLite and PostgreSQL."""
    return datetime.now(UTC)
