"""`sijakon-admin privacy`: a person's right to see and to erase their data, and the
retention periods (UU 27/2022: data kept only as long as it is needed).

All are formal acts of the data administrator (Perwako Batam 65/2021 Pasal 6(3)), so all need
a named officer and are audited. The work is done by flows/privacy.py, which the bot's
Pengaturan menu uses too, and by flows/timers.py, whose retention the bot's scheduler runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from admin_cli.common import (
    AsOpt,
    JsonOpt,
    Refused,
    YesOpt,
    audit,
    confirm,
    day,
    emit,
    emit_json,
    now,
    operator,
    run,
    say,
    settings,
)
from bot.settings import Settings
from flows.context import FlowConfig
from flows.privacy import ErasureRefused, erase_user, export_user_data
from flows.timers import CATEGORIES, keeps, pending, purge_once
from storage import retention as rules
from storage.clock import local
from storage.db import Database

app = typer.Typer(help="Data pribadi: ekspor dan hapus (anonimkan).", no_args_is_help=True)
IdArg = Annotated[int, typer.Argument(help="ID pengguna.")]


@app.command("export")
def export(
    user_id: IdArg,
    out: Annotated[Path | None, typer.Option("--out", help="Tulis ke file ini, bukan layar.")]
    = None,
    as_: AsOpt = None,
) -> None:
    """Semua data yang disimpan tentang seseorang, sebagai JSON."""
    who = operator(as_)

    async def go(db: Database) -> dict[str, Any]:
        async with db.transaction() as s:
            try:
                data = await export_user_data(s, user_id)
            except LookupError:
                raise Refused(f"tidak ada pengguna dengan ID {user_id}") from None
            audit(s, who, "privacy.export", "user", user_id,
                  to="file" if out else "stdout")
        return data

    data = run(go)
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")
        say(f"Data pengguna #{user_id} ditulis ke {out}.")


@app.command("erase")
def erase(user_id: IdArg, as_: AsOpt = None, yes: YesOpt = False) -> None:
    """Hapus data pribadi (nama, HP, akun, teks, file); riwayat anonim tetap disimpan."""
    who = operator(as_)
    confirm(f"Hapus data pribadi pengguna #{user_id}? Ini tidak bisa dibatalkan.", yes)

    async def go(db: Database) -> None:
        async with db.transaction() as s:
            try:
                await erase_user(s, user_id, now(), actor=f"admin:{who}")
            except LookupError:
                raise Refused(f"tidak ada pengguna dengan ID {user_id}") from None
            except ErasureRefused as exc:
                raise Refused(exc.reason) from None

    run(go)
    say(f"Data pribadi pengguna #{user_id} dihapus; riwayat anonim tetap tersimpan.")


# What each retention category is, for the officer (docs/admin-guide.md, "Retensi data").
CATEGORY_NAMES = {
    "outbox": "pesan keluar yang sudah terkirim/final",
    "dedupe": "ID pesan masuk (pencegah ganda)",
    "conversation": "percakapan orang yang lama diam",
    "job_media": "foto pekerjaan yang sudah selesai",
    "complaint_media": "bukti & file pernyataan pengaduan yang sudah diputus",
    "tukang_media": "foto SKK dan profil tukang yang ditolak/dikeluarkan",
}


def retention_config(cfg: Settings) -> FlowConfig:
    """The periods the bot's scheduler uses (`Settings.retention_keep`, as bot.runtime)."""
    return FlowConfig(data_dir=cfg.sijakon_data_dir, **cfg.retention_keep())


@app.command("retention")
def retention(
    dry_run: Annotated[bool, typer.Option("--dry-run",
                                          help="Hanya tampilkan apa yang akan dihapus.")] = False,
    as_: AsOpt = None, yes: YesOpt = False, json_: JsonOpt = False,
) -> None:
    """Hapus data yang melewati masa simpannya (bot juga melakukannya tiap 6 jam)."""
    config = retention_config(settings())
    periods = keeps(config)

    async def survey(db: Database) -> dict[str, rules.Pending]:
        async with db.read() as s:
            return await pending(s, now(), config)

    if dry_run:
        found = run(survey)
        rows = [{"kategori": name, "isi": CATEGORY_NAMES[name],
                 "masa_simpan_hari": periods[name].days, "baris": found[name].rows,
                 "file": found[name].files,
                 "terlama": day(local(found[name].oldest).date()) if found[name].oldest
                 else ""}
                for name in CATEGORIES]
        if json_:
            emit_json(rows)
            return
        emit(rows, ["kategori", "isi", "masa_simpan_hari", "baris", "file", "terlama"],
             as_json=False, title="Yang akan dihapus (uji coba, belum ada yang dihapus)")
        say("Jalankan tanpa --dry-run untuk menghapusnya. Laporan triwulan dan riwayat akses "
            "(audit) tidak berubah: baris pekerjaan, pengaduan dan survei tetap disimpan.")
        return

    who = operator(as_)
    confirm("Hapus sekarang semua data yang melewati masa simpannya? Ini tidak bisa "
            "dibatalkan.", yes)

    async def go(db: Database) -> tuple[dict[str, int], int]:
        total = dict.fromkeys(CATEGORIES, 0)
        files = 0
        more = True
        while more:  # one chunk per transaction: the bot keeps writing in between
            async with db.transaction() as s:
                counts, gone, more = await purge_once(s, now(), config)
            for name, n in counts.items():
                total[name] += n
            files += gone
            more = more and any(counts.values())
        async with db.transaction() as s:
            audit(s, who, "retention.run", "retention", deleted=total, files=files,
                  more=False)
        return total, files

    total, files = run(go)
    if json_:
        emit_json({"dihapus": total, "file": files})
        return
    emit([{"kategori": name, "isi": CATEGORY_NAMES[name], "baris": total[name]}
          for name in CATEGORIES], ["kategori", "isi", "baris"], as_json=False,
         title="Data yang dihapus")
    say(f"Selesai: {sum(total.values())} baris, {files} file dihapus; dicatat di audit "
        "(retention.run).")
