"""`sijakon-admin demo seed`: a handful of activated demo tukang and a demo officer, clearly
marked, idempotent.

The demo officer (`demo`, an admin) lets a demo database be explored with `--as demo`; it
stops counting once a real officer is registered (admin_cli/common.py `authorize`)."""

from __future__ import annotations

from datetime import timedelta

import typer
from sqlalchemy import select

from admin_cli.common import console, now, run
from storage.db import Database
from storage.models import ChannelAccount, Officer, TukangProfile, User

app = typer.Typer(help="Data contoh untuk mencoba bot.", no_args_is_help=True)

# name, console address, phone, skills, areas, jenjang
DEMO_TUKANG: list[tuple[str, str, str, list[str], list[str], int]] = [
    ("Andi (demo)", "andi", "+6281200000001", ["SI013026", "SI013001"],
     ["217110", "217106", "217109"], 3),
    ("Bambang (demo)", "bambang", "+6281200000002", ["ME011001"],
     ["217110", "217103", "217112"], 2),
    ("Citra (demo)", "citra", "+6281200000003", ["SI013003", "SI013002", "SI013013"],
     ["217111", "217112", "217103"], 3),
    ("Dedi (demo)", "dedi", "+6281200000004", ["ME012001", "SI013029"],
     ["217104", "217110", "217107"], 2),
    ("Eko (demo)", "eko", "+6281200000005", ["SI013027", "SI013015", "ME013001"],
     ["217102", "217106", "217110", "217109"], 4),
    ("Fajar (demo)", "fajar", "+6281200000006", ["SI013026", "SI013017"],
     ["217107", "217108", "217105", "217111"], 3),
]
DEMO_OFFICER = "demo"


async def seed_demo(db: Database) -> int:
    """Add the demo tukang that are missing; returns how many were added."""
    at = now()
    added = 0
    async with db.transaction() as s:
        for name, address, phone, skills, areas, jenjang in DEMO_TUKANG:
            exists = (await s.execute(select(User.id).where(User.phone == phone,
                                                            User.is_demo.is_(True)))).first()
            if exists:
                continue
            user = User(name=name, phone=phone, phone_verified=False, role="tukang",
                        kecamatan_code=areas[0], consent_at=at, is_demo=True,
                        created_at=at, updated_at=at)
            s.add(user)
            await s.flush()
            assert user.id is not None
            s.add(ChannelAccount(user_id=user.id, channel="console", address=address,
                                 created_at=at, last_seen_at=at, last_inbound_at=at))
            s.add(TukangProfile(user_id=user.id, skk_number=f"DEMO-{user.id:05d}",
                                jenjang=jenjang, skk_valid_until=(at + timedelta(days=900)).date(),
                                skills=skills, areas=areas, status="active",
                                decided_by="demo", decided_at=at,
                                decision_reason="data contoh", submitted_at=at))
            added += 1
        if (await s.execute(select(Officer.id).where(Officer.name == DEMO_OFFICER))).first() \
                is None:
            s.add(Officer(name=DEMO_OFFICER, display_name="Petugas Demo", role="admin",
                          is_demo=True, created_at=at))
    return added


@app.command("seed")
def seed() -> None:
    """Tambahkan tukang contoh (aktif, bertanda demo). Aman dijalankan berkali-kali."""
    added = run(seed_demo)
    console.print(f"Tukang demo ditambahkan: {added} (total {len(DEMO_TUKANG)}). "
                  "Di konsol, tukang demo berbicara sebagai: "
                  + ", ".join(t[1] for t in DEMO_TUKANG))
    console.print(f"Petugas demo: {DEMO_OFFICER} (admin, hanya di basis data contoh). "
                  f"Contoh: sijakon-admin --as {DEMO_OFFICER} tukang list")
