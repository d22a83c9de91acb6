"""What every admin command shares: the clock, the database, the operator, audit, output,
masking."""

from __future__ import annotations

import asyncio
import csv
import getpass
import io
import json
import os
import re
import sys
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from bot.settings import Settings, SettingsError, load_settings
from flows.outbox import Outgoing
from flows.parsing import mask_phone
from storage.clock import WIB, Clock, local, utcnow
from storage.db import Database
from storage.models import AuditLog

T = TypeVar("T")
# In a terminal Rich fits the window; piped into a file or a test, tables get room to breathe.
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
NO_WRAP = {"id", "kode", "hp", "pekerjaan", "waktu", "batas", "dibuat", "subjek", "tabel"}
err_console = Console(stderr=True, soft_wrap=True, highlight=False)

# --- options every command reuses ------------------------------------------------------------
AsOpt = Annotated[str | None, typer.Option("--as", help="Nama petugas (atau SIJAKON_ADMIN).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Keluaran JSON untuk skrip.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Lewati konfirmasi.")]
RevealOpt = Annotated[bool, typer.Option("--reveal",
                                         help="Tampilkan nomor HP lengkap (dicatat di audit).")]


class Refused(Exception):
    """An action the rules do not allow right now; exits 1 with this one line."""


# --- the clock --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CliEnv:
    """What a command takes from its caller besides arguments and settings: the clock.

    `sijakon-admin` runs with the defaults; a test passes its own as the Click context object
    (`CliRunner().invoke(app, args, obj=CliEnv(clock=...))`), so the CLI and the bot in one
    test share one clock and no result depends on the time of day.
    """

    clock: Clock = utcnow


# The environment of the command running now. A context variable rather than a lookup of the
# Click context: asyncio.run (in `run`) and asyncio.to_thread copy it into the tasks and
# threads they start, where no Click context exists (and Typer vendors its own Click, whose
# context stack `click.get_current_context` does not see).
_current: ContextVar[CliEnv | None] = ContextVar("sijakon_cli_env", default=None)


def enter(ctx: typer.Context) -> None:
    """Make the caller's `CliEnv` (the context object; the defaults when none was given) the
    environment of this command until it ends. The root callback of `app` calls it."""
    token = _current.set(ctx.ensure_object(CliEnv))
    ctx.call_on_close(lambda: _current.reset(token))


def cli_env() -> CliEnv:
    """The running command's environment (the defaults outside a command)."""
    return _current.get() or CliEnv()


def now() -> datetime:
    """The time for every stamp, deadline and "today" of a command (aware UTC)."""
    return cli_env().clock()


def settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        err_console.print(f"sijakon-admin: {escape(str(exc))}")
        raise typer.Exit(2) from None


def run(fn: Callable[[Database], Awaitable[T]]) -> T:
    """Open the database (migrating it to head), run `fn`, close; refusals exit 1. `fn` runs
    in a copy of the command's context, so `now()` inside it is the command's clock."""

    async def main() -> T:
        cfg = settings()
        cfg.sijakon_data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(cfg.database_url)
        try:
            await db.migrate()
            return await fn(db)
        finally:
            await db.close()

    try:
        return asyncio.run(main())
    except Refused as exc:
        refuse_exit(str(exc))


def refuse_exit(reason: str) -> NoReturn:
    """Print one line saying why, exit 1."""
    err_console.print(f"[red]Ditolak:[/red] {escape(reason)}")
    raise typer.Exit(1)


def operator(name: str | None) -> str:
    """The named officer making a change (`--as` or SIJAKON_ADMIN); refused when missing."""
    who = (name or os.environ.get("SIJAKON_ADMIN") or "").strip()
    if not who:
        refuse_exit("sebutkan petugas yang melakukan perubahan dengan --as NAMA "
                    "atau variabel SIJAKON_ADMIN")
    return who


def reader(name: str | None) -> str:
    """Who is looking at personal data: the named officer, else the login name (audited)."""
    who = (name or os.environ.get("SIJAKON_ADMIN") or "").strip()
    if who:
        return who
    try:
        return f"os:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name in some containers
        return "os:unknown"


def audit(session: Any, actor: str, action: str, subject_type: str = "",
          subject_id: int | None = None, **detail: Any) -> None:
    """Record who did what to whom, stamped by the command's clock."""
    session.add(AuditLog(actor=f"admin:{actor}", action=action, subject_type=subject_type,
                         subject_id=subject_id, detail=detail, at=now()))


async def audit_view(db: Database, actor: str, what: str, subject_type: str = "",
                     subject_id: int | None = None, *, reveal: bool = False,
                     **detail: Any) -> None:
    """Record a display of personal data before it is shown (its own short transaction)."""
    async with db.transaction() as s:
        audit(s, actor, "admin.reveal" if reveal else "admin.view", subject_type, subject_id,
              what=what, **detail)


def confirm(question: str, yes: bool) -> None:
    """Ask before a destructive or notifying action; `--yes` skips; 'no' exits 1."""
    if yes:
        return
    if not typer.confirm(question, default=False):
        refuse_exit("dibatalkan oleh petugas")


async def send(session: AsyncSession, out: Outgoing) -> None:
    """Write collected notifications to the outbox in the caller's transaction."""
    await out.write(session, now())


# --- formatting -------------------------------------------------------------------------------
def phone(value: str | None, reveal: bool) -> str:
    return (value or "-") if reveal else mask_phone(value)


def when(value: datetime | None) -> str:
    """A time as an officer in Batam reads it."""
    return local(value).strftime("%d-%m-%Y %H:%M") if value else ""


def day(value: date | None) -> str:
    return value.strftime("%d-%m-%Y") if value else ""


def parse_date(text: str | None) -> date | None:
    """YYYY-MM-DD or DD-MM-YYYY (how officers write dates); a bad one is a usage error."""
    if not text:
        return None
    raw = text.strip()
    m = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", raw)
    n = re.fullmatch(r"(\d{1,2})-(\d{1,2})-(\d{4})", raw)
    try:
        if m:
            return date(int(m[1]), int(m[2]), int(m[3]))
        if n:
            return date(int(n[3]), int(n[2]), int(n[1]))
        raise ValueError
    except ValueError:
        raise typer.BadParameter(f"tanggal {text!r}: tulis YYYY-MM-DD atau DD-MM-YYYY") from None


def parse_day(text: str | None, *, end: bool = False) -> datetime | None:
    """YYYY-MM-DD or DD-MM-YYYY as the start (or end) of that day in WIB, as aware UTC."""
    d = parse_date(text)
    if d is None:
        return None
    start = datetime.combine(d, time(0, 0), tzinfo=WIB)
    return (start + timedelta(days=1) if end else start).astimezone(UTC)


def today_wib() -> date:
    """Today's date on a Batam clock, by the command's clock."""
    return local(now()).date()


def add_working_days(start: datetime, days: int) -> datetime:
    """`days` working days (Monday-Friday, WIB) after `start`; holidays are not known here."""
    at = local(start)
    left = days
    while left > 0:
        at += timedelta(days=1)
        if at.weekday() < 5:
            left -= 1
    return at.astimezone(UTC)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "ya" if value else "tidak"
    if isinstance(value, datetime):
        return when(value)
    if isinstance(value, date):
        return day(value)
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def emit_json(data: Any) -> None:
    typer.echo(json.dumps(_jsonable(data), ensure_ascii=False, indent=2))


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[str], *, as_json: bool,
         title: str | None = None, empty: str = "Tidak ada data.") -> None:
    """Rows as a Rich table for people, or JSON for scripts."""
    if as_json:
        emit_json([dict(r) for r in rows])
        return
    if not rows:
        console.print(escape(empty))
        return
    table = Table(title=title)
    for col in columns:
        table.add_column(col, no_wrap=col in NO_WRAP)
    for r in rows:
        table.add_row(*(escape(_cell(r.get(c))) for c in columns))
    console.print(table)


def emit_record(record: dict[str, Any], *, title: str | None = None) -> None:
    """One record as a two-column table (field, value)."""
    table = Table(title=title, show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    for k, v in record.items():
        table.add_row(escape(k), escape(_cell(v)))
    console.print(table)


def emit_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow({c: _cell(r.get(c)) for c in columns})
    typer.echo(buf.getvalue().rstrip("\n"))


def say(text: str) -> None:
    """A plain line for people (markup escaped)."""
    console.print(escape(text))
