"""`sijakon-admin skk`: the national SKK holder list the Dinas imports, to check a tukang's
SKK at activation (`tukang show`, `tukang pending`, `tukang activate` compare with it).

An import replaces the whole list, so the list is always one export of the registry, never
a mix of old and new ones; a row that cannot be read is named by its line and left out, the
rest still counts. Who imported what, and how much changed, goes to the audit log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import select

from admin_cli.common import (
    AsOpt,
    JsonOpt,
    YesOpt,
    audit,
    confirm,
    emit_json,
    now,
    operator,
    refuse_exit,
    run,
    say,
    when,
)
from storage.db import Database
from storage.models import AuditLog, SkkHolder
from storage.skk import COLUMNS, Parsed, list_size, parse_csv, replace_list

app = typer.Typer(help="Daftar pemegang SKK dari registri nasional, untuk memeriksa tukang.",
                  no_args_is_help=True)

MAX_FILE = 50 * 1024 * 1024  # a whole province's export is a few MB
SHOWN_ERRORS = 30  # bad lines listed one by one; the rest counted


def number(n: int) -> str:
    """An integer as Indonesians write it: 12.345."""
    return f"{n:,}".replace(",", ".")


def _read(path: Path) -> Parsed:
    """The file parsed, before the database is opened; unreadable or too big: refused."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE:
            refuse_exit(f"{path} berukuran {number(size)} byte; paling besar "
                        f"{number(MAX_FILE)} byte")
        data = path.read_bytes()
    except OSError as exc:
        refuse_exit(f"{path} tidak bisa dibaca: {exc.strerror}")
    return parse_csv(data)


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="File CSV ekspor registri SKK (nomor; nama; "
                                              "jabatan kerja; jenjang; berlaku sampai).")],
    as_: AsOpt = None, yes: YesOpt = False, json_: JsonOpt = False,
) -> None:
    """Impor daftar pemegang SKK (CSV dari registri nasional); menggantikan daftar lama.

    Baris judul, BOM, pemisah titik koma atau koma diterima; baris yang rusak disebut nomor
    barisnya dan dilewati, baris lain tetap diimpor."""
    who = operator(as_)
    parsed = _read(file)
    if not parsed.rows:
        why = f"; baris {parsed.errors[0][0]}: {parsed.errors[0][1]}" if parsed.errors else ""
        refuse_exit(f"{file.name}: tidak ada baris yang terbaca{why}. Kolom yang diharapkan: "
                    f"{', '.join(COLUMNS)}")

    async def existing(db: Database) -> tuple[int, int]:
        async with db.read() as s:
            keys = set((await s.execute(select(SkkHolder.key))).scalars())
        return len(keys), len(keys - {r.key for r in parsed.rows})

    before, dropping = run(existing)
    if before and dropping * 2 > before:  # half the list gone: perhaps the wrong file
        confirm(f"Impor ini menghapus {number(dropping)} dari {number(before)} pemegang SKK "
                "di daftar. Lanjutkan?", yes)

    async def go(db: Database) -> dict[str, Any]:
        async with db.transaction() as s:
            done = await replace_list(s, parsed.rows, now())
            total = await list_size(s)
            audit(s, who, "skk.import", file=file.name, rows=len(parsed.rows),
                  skipped=len(parsed.errors), added=done.added, changed=done.changed,
                  removed=done.removed, total=total,
                  bad_lines=[n for n, _ in parsed.errors[:200]])
        return {"file": file.name, "baris_terbaca": len(parsed.rows),
                "baris_dilewati": len(parsed.errors), "ditambah": done.added,
                "diubah": done.changed, "dihapus": done.removed, "tetap": done.unchanged,
                "jumlah_daftar": total,
                "kesalahan": [{"baris": n, "alasan": why} for n, why in parsed.errors]}

    rec = run(go)
    if json_:
        emit_json(rec)
        return
    say(f"Daftar SKK diimpor dari {file.name}: {number(rec['baris_terbaca'])} baris terbaca, "
        f"{number(rec['baris_dilewati'])} baris dilewati.")
    say(f"Ditambah {number(rec['ditambah'])}, diubah {number(rec['diubah'])}, "
        f"dihapus {number(rec['dihapus'])}, tetap {number(rec['tetap'])}; "
        f"daftar kini berisi {number(rec['jumlah_daftar'])} pemegang SKK.")
    for err in parsed.errors[:SHOWN_ERRORS]:
        say(f"Baris {err[0]} dilewati: {err[1]}")
    if len(parsed.errors) > SHOWN_ERRORS:
        say(f"... dan {number(len(parsed.errors) - SHOWN_ERRORS)} baris lain dilewati "
            "(semuanya: --json).")



@app.command("status")
def status(json_: JsonOpt = False) -> None:
    """Berapa pemegang SKK di daftar, dan kapan serta oleh siapa terakhir diimpor."""

    async def go(db: Database) -> dict[str, Any]:
        async with db.read() as s:
            total = await list_size(s)
            last = (await s.execute(select(AuditLog).where(AuditLog.action == "skk.import")
                                    .order_by(AuditLog.at.desc(), AuditLog.id.desc()).limit(1))
                    ).scalar_one_or_none()
        return {"jumlah_daftar": total, "terakhir_diimpor": last.at if last else None,
                "oleh": last.actor.removeprefix("admin:") if last else None,
                "file": (last.detail or {}).get("file") if last else None}

    rec = run(go)
    if json_:
        emit_json(rec)
    elif rec["terakhir_diimpor"] is None:
        say("Daftar SKK belum pernah diimpor (sijakon-admin skk import FILE.csv).")
    else:
        say(f"Daftar SKK berisi {number(rec['jumlah_daftar'])} pemegang, terakhir diimpor "
            f"{when(rec['terakhir_diimpor'])} oleh {rec['oleh']} dari {rec['file']}.")
