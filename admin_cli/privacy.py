"""`sijakon-admin privacy`: a person's right to see and to erase their data.

Both are formal acts of the data administrator (Perwako Batam 65/2021 Pasal 6(3)), so both
need a named officer and are audited. The work is done by flows/privacy.py, which the bot's
Pengaturan menu uses too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from admin_cli.common import AsOpt, Refused, YesOpt, audit, confirm, now, operator, run, say
from flows.privacy import ErasureRefused, erase_user, export_user_data
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
