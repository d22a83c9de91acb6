"""`tukang show` of a removed tukang with a keberatan: the officer reads its state in
Indonesian; `--json` keeps the English code for scripts."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from storage.db import Database
from storage.models import Objection, TukangProfile
from tests.admin.conftest import NOW, Admin
from tests.factories import make_tukang


async def test_show_names_the_objection_state_in_indonesian(db: Database, admin: Admin) -> None:
    """"K-2611-0001 (menunggu keputusan)" on screen, "K-2611-0001 (submitted)" in JSON."""
    tk = await make_tukang(db, "andi", name="Andi Wijaya", status="removed")
    async with db.transaction() as s:
        p = (await s.execute(select(TukangProfile).where(TukangProfile.user_id == tk))
             ).scalar_one()
        p.decided_at = NOW - timedelta(days=1)
        s.add(Objection(code="K-2611-0001", tukang_id=tk, text="Saya keberatan.",
                        removed_at=p.decided_at, created_at=NOW))
    r = await admin("tukang", "show", str(tk))
    assert r.exit_code == 0, r.output
    assert "K-2611-0001 (menunggu keputusan)" in r.stdout and "submitted" not in r.stdout
    rec = await admin.json("tukang", "show", str(tk))
    assert rec["keberatan"] == "K-2611-0001 (submitted)"
