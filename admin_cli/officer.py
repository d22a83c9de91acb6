"""`sijakon-admin officer`: the named officers who may use this tool, and their roles.

Perwako Batam 65/2021 Pasal 6(3) names a data administrator; UU 27/2022 asks who touched
whose data. So every command acts as a registered, active officer (admin_cli/app.py `RULES`),
and the one active `pdp` officer is the data administrator the bot's privacy notice names.
An officer is never deleted, only disabled: the audit log keeps pointing at a real person.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer
from sqlalchemy import func, select

from admin_cli.common import (
    BOOTSTRAP_ACTOR,
    AsOpt,
    JsonOpt,
    Refused,
    Role,
    audit,
    audit_view,
    emit,
    now,
    operator,
    reader,
    run,
    say,
)
from storage.db import Database
from storage.models import Officer

app = typer.Typer(help="Petugas Dinas dan perannya (admin, viewer, pdp).", no_args_is_help=True)

NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,39}")
ROLE_TEXT = {Role.ADMIN: "semua perintah", Role.VIEWER: "hanya melihat",
             Role.PDP: "pejabat pelindungan data: melihat dan perintah privacy"}
NameArg = Annotated[str, typer.Argument(
    help="Nama singkat yang dipakai di --as, mis. siti (huruf kecil, angka, . _ -).")]


def officer_name(text: str) -> str:
    """The name as `--as` matches it (lower-case); a malformed one is a usage error."""
    name = text.strip().casefold()
    if not NAME.fullmatch(name):
        raise typer.BadParameter(f"nama {text!r}: pakai huruf kecil, angka, titik, garis bawah "
                                 "atau tanda hubung (paling banyak 40)", param_hint="NAME")
    return name


def _one_line(text: str | None, what: str, limit: int) -> str:
    value = " ".join((text or "").split())
    if len(value) > limit:
        raise typer.BadParameter(f"{what} paling banyak {limit} karakter")
    return value


@app.command("add")
def add(
    name: NameArg,
    role: Annotated[Role, typer.Option("--role", help="admin (semua), viewer (hanya melihat), "
                                       "pdp (pejabat pelindungan data).")],
    contact: Annotated[str | None, typer.Option(
        help="Telepon atau email untuk warga; wajib untuk pdp (tampil di pemberitahuan privasi).")]
    = None,
    display: Annotated[str | None, typer.Option(
        help="Nama lengkap, mis. \"Siti Rahmawati, S.T.\" (bawaan: NAME).")] = None,
    as_: AsOpt = None,
) -> None:
    """Daftarkan petugas. Petugas pertama harus admin; hanya satu pdp yang aktif."""
    key = officer_name(name)
    shown = _one_line(display, "--display", 120) or name.strip()
    reach = _one_line(contact, "--contact", 120)
    if role == Role.PDP and not reach:
        raise typer.BadParameter("pejabat pelindungan data butuh --contact (telepon atau email "
                                 "yang bisa dihubungi warga)", param_hint="--contact")
    who = operator(as_)

    async def go(db: Database) -> None:
        async with db.transaction() as s:
            if (await s.execute(select(Officer.id).where(Officer.name == key))).first():
                raise Refused(f"petugas {key!r} sudah terdaftar (nama tidak bisa dipakai ulang)")
            real = (await s.execute(select(func.count()).select_from(Officer)
                                    .where(Officer.is_demo.is_(False)))).scalar() or 0
            if not real and role != Role.ADMIN:
                raise Refused("petugas pertama harus admin (--role admin)")
            if role == Role.PDP:
                pdp = (await s.execute(select(Officer.name).where(
                    Officer.role == Role.PDP.value, Officer.active.is_(True)))).scalar()
                if pdp:
                    raise Refused(f"{pdp!r} sudah menjadi pejabat pelindungan data; "
                                  f"nonaktifkan dulu: sijakon-admin officer disable {pdp}")
            row = Officer(name=key, display_name=shown, role=role.value, contact=reach,
                          created_at=now())
            s.add(row)
            await s.flush()
            # the first admin, added before anyone could name themselves, is recorded as the
            # one who added themselves
            audit(s, key if who == BOOTSTRAP_ACTOR else who, "officer.add", "officer", row.id,
                  name=key, role=role.value, contact=bool(reach))

    run(go)
    say(f"Petugas {key} ({shown}) terdaftar sebagai {role.value}: {ROLE_TEXT[role]}.")


@app.command("list")
def list_(as_: AsOpt = None, json_: JsonOpt = False) -> None:
    """Semua petugas, yang aktif dan yang sudah dinonaktifkan."""

    async def go(db: Database) -> list[dict[str, Any]]:
        async with db.read() as s:
            rows = (await s.execute(select(Officer).order_by(Officer.id))).scalars().all()
        await audit_view(db, reader(as_), "officer.list", rows=len(rows))
        return [{"nama": o.name, "nama_lengkap": o.display_name, "peran": o.role,
                 "kontak": o.contact, "aktif": o.active, "demo": o.is_demo,
                 "dibuat": o.created_at, "dinonaktifkan": o.disabled_at} for o in rows]

    emit(run(go), ["nama", "nama_lengkap", "peran", "kontak", "aktif", "demo", "dibuat",
                   "dinonaktifkan"], as_json=json_, title="Petugas",
         empty="Belum ada petugas. Tambahkan: sijakon-admin officer add NAMA --role admin")


@app.command("disable")
def disable(name: NameArg, as_: AsOpt = None) -> None:
    """Nonaktifkan petugas: namanya tidak bisa dipakai lagi; catatan auditnya tetap."""
    key = officer_name(name)
    who = operator(as_)

    async def go(db: Database) -> None:
        async with db.transaction() as s:
            row = (await s.execute(select(Officer).where(Officer.name == key))).scalar()
            if row is None:
                raise Refused(f"petugas {key!r} tidak terdaftar")
            if not row.active:
                raise Refused(f"petugas {key!r} sudah dinonaktifkan")
            if row.role == Role.ADMIN and not row.is_demo:
                admins = (await s.execute(select(func.count()).select_from(Officer).where(
                    Officer.role == Role.ADMIN.value, Officer.active.is_(True),
                    Officer.is_demo.is_(False)))).scalar() or 0
                if admins <= 1:
                    raise Refused(f"{key!r} adalah admin aktif terakhir; tambahkan admin lain "
                                  "dulu")
            row.active, row.disabled_at = False, now()
            audit(s, who, "officer.disable", "officer", row.id, name=key, role=row.role)

    run(go)
    say(f"Petugas {key} dinonaktifkan.")
