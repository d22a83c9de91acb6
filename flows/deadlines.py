"""Working days in Batam and the Pasal 9 deadlines, and the waking hours an offer's time
counts in (`Waking`): the one copy of each rule.

A working day is Monday to Friday (WIB) that is not an Indonesian national holiday nor a cuti
bersama (the `holidays` package, categories public and government), with the Dinas's own
changes from an override file (SIJAKON_HOLIDAYS_FILE, docs/admin-guide.md "Hari libur"): one
date a line, `YYYY-MM-DD` with an optional `,keterangan`; a line `-YYYY-MM-DD` makes a listed
day a working day again (a cuti bersama the government moved); `#` starts a comment.

The officers' list (`sijakon-admin complaints`), the overdue gauge (bot/metrics.py), the
statement reminders and the objection period all ask here, so they never disagree.

The file is checked at start-up (bot/settings.py) and read again whenever it changes. A bad
edit while the bot runs (a typo, the file gone) must not break conversations: the last good
calendar stays in use and one warning names the line, until the file is fixed.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

import holidays

from storage.clock import WIB, as_utc, local

_T = TypeVar("_T", bound=Callable[..., Awaitable[int]])

log = logging.getLogger(__name__)

VERIFY_WORKING_DAYS = 3  # a new complaint is verified within 3 working days (SP4N-LAPOR)
STATEMENT_WORKING_DAYS = 5  # the tukang's statement, unless the officer says otherwise
FOLLOW_UP_WORKING_DAYS = 5  # the decision after the statement
REMIND_BEFORE = (2, 1)  # working days before the statement deadline
OPEN = ("submitted", "awaiting_statement", "under_review")

# What is due next, as stable codes (`--json`, the gauge); people read `NEXT_LABELS`.
NEXT_LABELS = {"verify": "verifikasi", "statement": "pernyataan tukang",
               "decision": "keputusan"}

_LINE = re.compile(r"^(-?)\s*(\d{4})-(\d{2})-(\d{2})\s*(?:[,;]\s*(.*))?$")


class HolidayFileError(ValueError):
    """The override file has a line that is not a date; the message names the line."""


@dataclass(frozen=True, slots=True)
class Calendar:
    """Which days are not working days: the national list plus `extra`, minus `removed`."""

    extra: frozenset[date] = frozenset()
    removed: frozenset[date] = frozenset()

    def holiday(self, day: date) -> str | None:
        """The name of the holiday on `day` (national or the Dinas's own), else None."""
        if day in self.removed:
            return None
        if day in self.extra:
            return "libur daerah"
        return _national(day.year).get(day)

    def working(self, day: date) -> bool:
        return day.weekday() < 5 and self.holiday(day) is None

    def add(self, start: datetime, days: int) -> datetime:
        """`days` working days after `start`, at the same time of day (WIB); aware UTC."""
        at = local(as_utc(start))
        left = days
        while left > 0:
            at += timedelta(days=1)
            if self.working(at.date()):
                left -= 1
        return at.astimezone(UTC)

    def before(self, end: datetime, days: int) -> datetime:
        """`days` working days before `end`, at the same time of day (WIB); aware UTC."""
        at = local(as_utc(end))
        left = days
        while left > 0:
            at -= timedelta(days=1)
            if self.working(at.date()):
                left -= 1
        return at.astimezone(UTC)

    def skipped(self, start: datetime, end: datetime) -> list[tuple[date, str]]:
        """The holidays on weekdays between `start` and `end` (what a deadline stepped over)."""
        out = []
        day = local(as_utc(start)).date() + timedelta(days=1)
        last = local(as_utc(end)).date()
        while day <= last:
            name = self.holiday(day)
            if name and day.weekday() < 5:
                out.append((day, name))
            day += timedelta(days=1)
        return out


_NATIONAL: dict[int, holidays.HolidayBase] = {}


def _national(year: int) -> holidays.HolidayBase:
    """Indonesia's holidays and cuti bersama of `year` (made once per year per process)."""
    found = _NATIONAL.get(year)
    if found is None:
        found = _NATIONAL[year] = holidays.country_holidays(
            "ID", years=year, categories=("public", "government"), language="id")
    return found


def parse_holidays(lines: Iterable[str]) -> Calendar:
    """A calendar from the override file's lines; a malformed line raises HolidayFileError."""
    extra: set[date] = set()
    removed: set[date] = set()
    for n, raw in enumerate(lines, start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = _LINE.match(line)
        try:
            if m is None:
                raise ValueError
            day = date(int(m[2]), int(m[3]), int(m[4]))
        except ValueError:
            raise HolidayFileError(f"baris {n}: {raw.strip()!r} bukan tanggal YYYY-MM-DD") \
                from None
        (removed if m[1] else extra).add(day)
    return Calendar(frozenset(extra), frozenset(removed))


# per path: the version (mtime) last read and its calendar, or the error it had
_READ: dict[str, tuple[float | None, Calendar | HolidayFileError]] = {}
_GOOD: dict[str, Calendar] = {}  # per path: the last calendar read without error


def _read(path: Path) -> tuple[float | None, Calendar | HolidayFileError]:
    try:
        stamp = path.stat().st_mtime
    except FileNotFoundError:
        return None, HolidayFileError(f"file hari libur {path} tidak ada")
    except OSError as exc:
        return None, HolidayFileError(f"file hari libur {path} tidak bisa dibaca: {exc.strerror}")
    seen = _READ.get(str(path))
    if seen is not None and seen[0] == stamp:
        return seen
    try:
        return stamp, parse_holidays(path.read_text(encoding="utf-8").splitlines())
    except HolidayFileError as exc:
        return stamp, exc
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "bukan teks UTF-8"
        return stamp, HolidayFileError(f"file hari libur {path} tidak bisa dibaca: {why}")


def calendar(path: Path | None = None) -> Calendar:
    """The working-day calendar: national holidays, with the override file at `path` if any
    (read again when it changes, so an edit needs no restart).

    Raises HolidayFileError when the file is bad and no good version of it was read before in
    this process (start-up, the CLI). Afterwards a bad version keeps the last good calendar
    and is logged once, naming the line."""
    if path is None:
        return Calendar()
    key = str(path)
    seen = _READ.get(key)
    stamp, found = _read(path)
    if seen is None or seen[0] != stamp or not (
            seen[1] is found or str(seen[1]) == str(found)):  # the file gone: a new error each call
        _READ[key] = (stamp, found)
        if isinstance(found, HolidayFileError) and key in _GOOD:
            log.warning("SIJAKON_HOLIDAYS_FILE: %s; the last good calendar stays in use until "
                        "the file is fixed", found)
    if isinstance(found, Calendar):
        _GOOD[key] = found
        return found
    good = _GOOD.get(key)
    if good is None:
        raise found
    return good


def complaint_next(status: str, created_at: datetime, requested_at: datetime | None,
                   statement_due_at: datetime | None, statement_at: datetime | None,
                   cal: Calendar) -> tuple[str, datetime | None]:
    """(what the Dinas does next, by when) for a complaint; ("", None) once decided.

    A new complaint is verified (statement requested, or decided) within 3 working days; the
    statement is awaited until its deadline; after the statement (or its deadline) the Dinas
    decides within 5 working days."""
    if status == "submitted":
        return "verify", cal.add(created_at, VERIFY_WORKING_DAYS)
    if status == "awaiting_statement" and statement_at is None and statement_due_at:
        return "statement", as_utc(statement_due_at)
    if status in ("under_review", "awaiting_statement"):
        base = statement_at or statement_due_at or requested_at or created_at
        return "decision", cal.add(base, FOLLOW_UP_WORKING_DAYS)
    return "", None


def complaint_due(status: str, created_at: datetime, requested_at: datetime | None,
                  statement_due_at: datetime | None, statement_at: datetime | None,
                  cal: Calendar | None = None) -> datetime | None:
    """When the Dinas's next step on a complaint is due; None once decided."""
    return complaint_next(status, created_at, requested_at, statement_due_at, statement_at,
                          cal or Calendar())[1]


# --- waking hours (Step 8): an offer's time counts only while people are awake ----------------

DEFAULT_WAKING = (time(6), time(21))  # SIJAKON_WAKING_HOURS's default, local (WIB)


@dataclass(frozen=True, slots=True)
class Waking:
    """The daily hours (WIB, start before end) in which an offer's time runs.

    A tukang asleep at 23:00 should not lose a job for not answering, so the clock of an
    offer stops at `end` and starts again at `start` the next morning. WIB has no daylight
    saving, so every day has the same window."""

    start: time = DEFAULT_WAKING[0]
    end: time = DEFAULT_WAKING[1]

    def __post_init__(self) -> None:
        if self.start >= self.end:
            raise ValueError(f"waking hours start before they end, not {self.start}-{self.end}")

    def _window(self, day: date) -> tuple[datetime, datetime]:
        """`day`'s waking window as local (WIB) datetimes."""
        return (datetime.combine(day, self.start, tzinfo=WIB),
                datetime.combine(day, self.end, tzinfo=WIB))

    def add(self, at: datetime, span: timedelta) -> datetime:
        """`span` of waking time after `at`, as aware UTC: 22:00 + 3 h is 09:00 the next day,
        20:00 + 3 h is 08:00 (one hour before 21:00, two after 06:00). A span ending exactly
        at the end of the window ends there, not the next morning."""
        here = local(as_utc(at))
        left = span
        day = here.date()
        while True:
            start, end = self._window(day)
            here = max(here, start)
            if here < end:
                room = end - here
                if left <= room:
                    return (here + left).astimezone(UTC)
                left -= room
            day += timedelta(days=1)

    def awake(self, at: datetime) -> bool:
        """Whether `at` is inside the waking hours."""
        return self.start <= local(as_utc(at)).time() < self.end

    def between(self, a: datetime, b: datetime) -> timedelta:
        """The waking time from `a` to `b` (zero when `b` is not after `a`)."""
        lo, hi = local(as_utc(a)), local(as_utc(b))
        total = timedelta()
        day = lo.date()
        while day <= hi.date():
            start, end = self._window(day)
            span = min(end, hi) - max(start, lo)
            if span > timedelta():
                total += span
            day += timedelta(days=1)
        return total


def waking(config: object) -> Waking:
    """The waking hours of a `FlowConfig`: its `waking_hours` (start, end) once bot/ hands
    them in, else the default 06:00-21:00."""
    hours = getattr(config, "waking_hours", None)
    return Waking(*hours) if hours else Waking()


def waking_only(timer: _T) -> _T:
    """A timer that messages people (reminders, invitations, notices that can wait) runs
    only in waking hours (SIJAKON_WAKING_HOURS): a reminder is no reason to wake anyone, and
    what is due at night goes out on the first run after the morning starts."""

    @functools.wraps(timer)
    async def run(session: Any, now: datetime, out: Any, config: Any) -> int:
        if not waking(config).awake(now):
            return 0
        return await timer(session, now, out, config)

    return cast(_T, run)
