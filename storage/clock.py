"""Time in one convention: aware UTC datetimes (SQLModel's UTCDateTime refuses naive ones)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

WIB = ZoneInfo("Asia/Jakarta")  # Batam keeps Western Indonesian Time, UTC+7


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Aware UTC, treating a naive value as UTC (what SQLite hands back from raw SQL)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def local(value: datetime) -> datetime:
    """A time as people in Batam read it."""
    return as_utc(value).astimezone(WIB)
