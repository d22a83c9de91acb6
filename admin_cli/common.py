"""What every admin command shares: the clock, the database, the acting officer, audit,
output, masking."""

from __future__ import annotations

import asyncio
import csv
import functools
import io
import json
import os
import re
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from typer.core import TyperGroup

from bot.settings import Settings, SettingsError, load_settings
from bot.startup import check_data_dir, one_line
from flows.outbox import Outgoing
from flows.parsing import mask_phone
from storage.clock import WIB, Clock, local, utcnow
from storage.db import Database
from storage.models import AuditLog, Officer

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


def enter(ctx: typer.Context, as_: str | None = None) -> None:
    """Make the caller's `CliEnv` (the context object; the defaults when none was given) and
    the officer named by `sijakon-admin --as` the environment of this command until it ends.
    The root callback of `app` calls it."""
    token = _current.set(ctx.ensure_object(CliEnv))
    named = _root_as.set(as_)

    def leave() -> None:
        _root_as.reset(named)
        _current.reset(token)

    ctx.call_on_close(leave)


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
        check_data_dir(cfg)
        db = Database(cfg.database_url)
        try:
            await db.migrate()
            return await fn(db)
        finally:
            await db.close()

    try:
        with one_line("sijakon-admin"):  # unreachable database, unwritable data dir: one line
            return asyncio.run(main())
    except Refused as exc:
        refuse_exit(str(exc))


def refuse_exit(reason: str) -> NoReturn:
    """Print one line saying why, exit 1."""
    err_console.print(f"[red]Ditolak:[/red] {escape(reason)}")
    raise typer.Exit(1)


# --- the acting officer (Perwako Batam 65/2021 Pasal 6(3)) -----------------------------------
class Role(StrEnum):
    """What an officer may do (docs/admin-guide.md, "Petugas dan peran")."""

    ADMIN = "admin"  # everything
    VIEWER = "viewer"  # look only, phone numbers masked
    PDP = "pdp"  # the data administrator: look, reveal, and the privacy commands


class Access(StrEnum):
    """What a command does, which decides who may run it."""

    READ = "read"  # shows data: every role
    PRIVACY = "privacy"  # a data administrator's act (export, erase, retention): pdp, admin
    WRITE = "write"  # changes anything else: admin only


ALLOWED: dict[str, frozenset[Access]] = {
    Role.ADMIN: frozenset(Access),
    Role.PDP: frozenset({Access.READ, Access.PRIVACY}),
    Role.VIEWER: frozenset({Access.READ}),
}
NEEDS = {Access.READ: "peran apa saja", Access.PRIVACY: "peran pdp atau admin",
         Access.WRITE: "peran admin"}
BOOTSTRAP_ACTOR = "(awal)"  # a bootstrap command run before any officer exists


@dataclass(frozen=True, slots=True)
class Rule:
    """How a command is checked. The default, for any command nobody declared, is a change
    only an admin may make, so a new command is safe until someone says otherwise."""

    access: Access = Access.WRITE
    bootstrap: bool = False  # runs without an officer while no officer is registered
    exempt: bool = False  # never reads the officer table (a restore into an empty database)


@dataclass(frozen=True, slots=True)
class Acting:
    """Who runs this command: a checked officer, or a name taken on trust by a bootstrap or
    exempt command (`role` None)."""

    name: str
    role: str | None = None


_root_as: ContextVar[str | None] = ContextVar("sijakon_cli_root_as", default=None)
_acting: ContextVar[Acting | None] = ContextVar("sijakon_cli_acting", default=None)


def officer_exit(reason: str) -> NoReturn:
    """Refuse to run as this officer: one line saying why, exit 2."""
    err_console.print(f"[red]Ditolak:[/red] {escape(reason)}")
    raise typer.Exit(2)


@dataclass(frozen=True, slots=True)
class _Roll:
    """What the officer table says for one command: whether a real (non-demo) officer is
    registered, whether a demo one is, and the officer named (if any)."""

    real: bool = False
    demo: bool = False
    officer: Officer | None = None


async def _roll(name: str) -> _Roll:
    """Read the officer table (a database without it yet, before `db upgrade`, has none)."""
    cfg = settings()
    check_data_dir(cfg)
    db = Database(cfg.database_url)
    try:
        async with db.read_engine.connect() as conn:
            if not await conn.run_sync(lambda c: inspect(c).has_table("officer")):
                return _Roll()
        async with db.read() as s:
            kinds = set((await s.execute(select(Officer.is_demo).distinct())).scalars())
            found = (await s.execute(select(Officer).where(Officer.name == name.casefold()))
                     ).scalar_one_or_none() if name else None
        return _Roll(real=False in kinds, demo=True in kinds, officer=found)
    finally:
        await db.close()


def authorize(command: str, rule: Rule, given: str | None, *, reveal: bool = False) -> Acting:
    """Check that the officer named (the command's `--as`, else `sijakon-admin --as`, else
    SIJAKON_ADMIN) may run `command`; refuse with exit 2 otherwise.

    Bootstrap: while no real officer is registered, a bootstrap command runs without one
    (demo officers, made by `demo seed`, work only in such a demo database)."""
    name = (given or _root_as.get() or os.environ.get("SIJAKON_ADMIN") or "").strip()
    if rule.exempt:
        return Acting(name)
    with one_line("sijakon-admin"):  # the first to open the database: its errors as one line
        roll = asyncio.run(_roll(name))
    officer = roll.officer
    if not roll.real and rule.bootstrap and (officer is None or not officer.active):
        return Acting(name or BOOTSTRAP_ACTOR)
    if officer is None and not roll.real:
        officer_exit("belum ada petugas terdaftar; tambahkan admin pertama: sijakon-admin "
                     "officer add NAMA --role admin"
                     + (" (di basis data contoh: --as demo)" if roll.demo else ""))
    if not name:
        officer_exit("sebutkan petugas dengan --as NAMA atau variabel SIJAKON_ADMIN")
    if officer is None:
        officer_exit(f"petugas {name!r} tidak terdaftar (lihat sijakon-admin officer list)")
    if officer.is_demo and roll.real:
        officer_exit(f"petugas demo {officer.name!r} hanya berlaku di basis data contoh; "
                     "pakai nama petugas sungguhan")
    if not officer.active:
        officer_exit(f"petugas {officer.name!r} sudah dinonaktifkan")
    if rule.access not in ALLOWED.get(officer.role, frozenset()):
        officer_exit(f"petugas {officer.name!r} berperan {officer.role}; "
                     f"sijakon-admin {command} butuh {NEEDS[rule.access]}")
    if reveal and officer.role == Role.VIEWER:
        officer_exit(f"petugas {officer.name!r} berperan viewer; nomor HP lengkap (--reveal) "
                     "hanya untuk peran pdp atau admin")
    return Acting(officer.name, officer.role)


def rule_for(command: str, rules: Mapping[str, Rule]) -> Rule:
    """The rule of `command` ("tukang activate"), else of its group ("demo"), else the
    default: a change for an admin."""
    words = command.split()
    for n in range(len(words), 0, -1):
        found = rules.get(" ".join(words[:n]))
        if found is not None:
            return found
    return Rule()


def guard_commands(group: TyperGroup, rules: Mapping[str, Rule],
                   as_option: Any = None, prefix: str = "") -> None:
    """Make every command under `group` check its officer first (`authorize`), after its
    arguments are read (so `--help` and usage errors need no officer) and before it does
    anything. A command without an `--as` of its own gets `as_option` (the root's), so
    `--as NAMA` works after every command. Called on the command tree Typer has just built
    for this invocation."""
    for name, cmd in group.commands.items():
        path = f"{prefix} {name}".strip()
        if isinstance(cmd, TyperGroup):
            guard_commands(cmd, rules, as_option, path)
            continue
        if cmd.callback is None:
            continue
        lent = as_option is not None and all(p.name != "as_" for p in cmd.params)
        if lent:
            cmd.params.append(as_option)
        cmd.callback = _guarded(path, rule_for(path, rules), cmd.callback, lent=lent)


def _guarded(command: str, rule: Rule, callback: Callable[..., Any], *,
             lent: bool) -> Callable[..., Any]:
    @functools.wraps(callback)
    def as_officer(**params: Any) -> Any:
        given = params.pop("as_", None) if lent else params.get("as_")
        acting = authorize(command, rule, given, reveal=bool(params.get("reveal")))
        token = _acting.set(acting)
        try:
            return callback(**params)
        finally:
            _acting.reset(token)

    return as_officer


def acting() -> Acting:
    """The officer this command runs as; refused (exit 2) when there is none to name."""
    who = _acting.get()
    if who is None or not who.name:
        officer_exit("sebutkan petugas dengan --as NAMA atau variabel SIJAKON_ADMIN")
    return who


def operator(name: str | None = None) -> str:
    """The officer making a change. `authorize` already weighed the command's `--as`
    (`name`, kept so commands read as before) before the command started."""
    return acting().name


def reader(name: str | None = None) -> str:
    """The officer looking at personal data (recorded in the audit log under this name)."""
    return acting().name


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
