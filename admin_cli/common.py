"""What every admin command shares: the database, the operator, audit, output, masking."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from bot.settings import Settings, SettingsError, load_settings
from storage.clock import utcnow
from storage.db import Database
from storage.models import AuditLog

T = TypeVar("T")
console = Console(soft_wrap=True)
err_console = Console(stderr=True)


class Refused(Exception):
    """An action the rules do not allow right now; exits 1 with this one line."""


def settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        err_console.print(f"sijakon-admin: {exc}")
        raise typer.Exit(2) from None


def run(fn: Callable[[Database], Awaitable[T]]) -> T:
    """Open the database (migrating it to head), run `fn`, close; refusals exit 1."""

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
        err_console.print(f"[red]Ditolak:[/red] {exc}")
        raise typer.Exit(1) from None


def operator(name: str | None) -> str:
    """The named officer making a change (`--as` or SIJAKON_ADMIN); refused when missing."""
    who = (name or os.environ.get("SIJAKON_ADMIN") or "").strip()
    if not who:
        err_console.print("sijakon-admin: sebutkan petugas dengan --as NAMA atau SIJAKON_ADMIN")
        raise typer.Exit(2)
    return who


def audit(session: Any, actor: str, action: str, subject_type: str = "",
          subject_id: int | None = None, **detail: Any) -> None:
    session.add(AuditLog(actor=f"admin:{actor}", action=action, subject_type=subject_type,
                         subject_id=subject_id, detail=detail, at=utcnow()))


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[str], *, as_json: bool,
         title: str | None = None) -> None:
    """Rows as a Rich table for people, or JSON for scripts."""
    if as_json:
        typer.echo(json.dumps([{k: _jsonable(v) for k, v in r.items()} for r in rows],
                              ensure_ascii=False, indent=2))
        return
    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for r in rows:
        table.add_row(*("" if r.get(c) is None else str(_jsonable(r.get(c))) for c in columns))
    console.print(table)
