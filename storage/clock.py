"""Time in one convention: aware UTC datetimes (SQLModel's UTCDateTime refuses naive ones).

`utcnow` is the only place in the project that reads the wall clock. Everything else takes a
clock (a `Callable[[], datetime]`) whose default is `utcnow`: the engine, the scheduler, the
delivery worker and the admin CLI (`admin_cli.common.now`), so a test hands every part one
clock of its own and no result depends on the time of day the suite runs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

WIB = ZoneInfo("Asia/Jakarta")  # Batam keeps Western Indonesian Time, UTC+7

Clock = Callable[[], datetime]  # what every component takes: aware UTC "now"


def utcnow() -> datetime:
    """The wall clock, aware UTC: the default clock, read nowhere else."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Aware UTC, treating a naive value as UTC (what SQLite hands back from raw SQL)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def local(value: datetime) -> datetime:
    """A time as people in Batam read it."""
    return as_utc(value).astimezone(WIB)
