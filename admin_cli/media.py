"""`sijakon-admin media`: the files people sent that no row points at any more.

The bot's scheduler sweeps them every hour (storage/media_sweep.py, flows/timers.py); an
officer can see them (`orphans`, any role: file names are random, nothing personal) and sweep
them at once (`sweep`, an admin's change, audited with its counts as `media.sweep`).
`sweep --dry-run` lists the same files and deletes nothing.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from admin_cli.common import (
    AsOpt,
    JsonOpt,
    YesOpt,
    confirm,
    emit,
    emit_json,
    now,
    operator,
    run,
    say,
    settings,
    when,
)
from storage import media_sweep
from storage.db import Database

app = typer.Typer(help="File kiriman warga dan tukang: yang tidak dirujuk data mana pun.",
                  no_args_is_help=True)
GraceOpt = Annotated[int, typer.Option(
    "--grace-minutes", min=10, max=7 * 24 * 60,
    help="Hanya file yang lebih tua dari ini (menit); yang lebih baru mungkin masih dipakai "
         "percakapan yang sedang berjalan.")]


def _rows(orphans: list[media_sweep.Orphan], media_dir: Path) -> list[dict[str, object]]:
    return [{"file": o.path.relative_to(media_dir).as_posix(), "kb": round(o.size / 1024, 1),
             "diubah": when(o.modified)} for o in orphans]


def _list(orphans: list[media_sweep.Orphan], media_dir: Path, grace: int, as_json: bool,
          title: str) -> None:
    emit(_rows(orphans, media_dir), ["file", "kb", "diubah"], as_json=as_json, title=title,
         empty=f"Tidak ada file tanpa rujukan yang lebih tua dari {grace} menit.")
    if orphans and not as_json:
        size = sum(o.size for o in orphans) / (1024 * 1024)
        say(f"{len(orphans)} file ({size:.1f} MB) tidak dirujuk data mana pun.")


async def _find(db: Database, media_dir: Path, grace: int) -> list[media_sweep.Orphan]:
    async with db.read() as s:
        return await media_sweep.find(s, media_dir, now(), timedelta(minutes=grace))


@app.command("orphans")
def orphans(grace_minutes: GraceOpt = 60, json_: JsonOpt = False) -> None:
    """File yang tidak dirujuk data mana pun (yang akan dihapus oleh sweep)."""
    media_dir = settings().media_dir
    found = run(lambda db: _find(db, media_dir, grace_minutes))
    _list(found, media_dir, grace_minutes, json_, "File tanpa rujukan")


@app.command("sweep")
def sweep(
    dry_run: Annotated[bool, typer.Option("--dry-run",
                                          help="Hanya tampilkan; tidak ada yang dihapus.")]
    = False,
    grace_minutes: GraceOpt = 60,
    as_: AsOpt = None, yes: YesOpt = False, json_: JsonOpt = False,
) -> None:
    """Hapus file yang tidak dirujuk data mana pun (bot juga melakukannya tiap jam)."""
    media_dir = settings().media_dir
    if dry_run:
        found = run(lambda db: _find(db, media_dir, grace_minutes))
        _list(found, media_dir, grace_minutes, json_,
              "Yang akan dihapus (uji coba, belum ada yang dihapus)")
        return
    who = operator(as_)
    confirm(f"Hapus semua file tanpa rujukan yang lebih tua dari {grace_minutes} menit?", yes)

    async def go(db: Database) -> tuple[int, int]:
        files = freed = 0
        more = True
        while more:  # one chunk per transaction: the bot keeps writing in between
            async with db.transaction() as s:
                swept = await media_sweep.sweep(s, media_dir, now(),
                                                grace=timedelta(minutes=grace_minutes))
            files, freed, more = files + swept.deleted, freed + swept.freed, swept.more
            more = more and swept.deleted > 0
        async with db.transaction() as s:
            media_sweep.record(s, now(), media_sweep.Swept([], files, freed, False),
                               actor=f"admin:{who}", grace_minutes=grace_minutes)
        return files, freed

    files, freed = run(go)
    if json_:
        emit_json({"dihapus": files, "byte": freed})
        return
    say(f"Selesai: {files} file ({freed / (1024 * 1024):.1f} MB) dihapus; dicatat di audit "
        f"({media_sweep.ACTION}).")
