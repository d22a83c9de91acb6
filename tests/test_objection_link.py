"""A keberatan belongs to the removal it objects to: after a reinstatement and a second
removal, the new objection names the second complaint and the decision reaches that warga,
not the one whose complaint led to the first removal."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from storage.models import Complaint
from tests.admin.conftest import Admin
from tests.factories import make_complaint, make_job, make_person, make_tukang
from tests.harness import Harness


async def uphold(t: Harness, admin: Admin, job: int) -> str:
    """A complaint on `job` with the tukang's statement, upheld by the Dinas; its code."""
    cid = await make_complaint(t, job, status="under_review")
    async with t.db.transaction() as s:
        c = await s.get(Complaint, cid)
        assert c is not None
        c.statement_requested_at = t.clock() - timedelta(days=2)
        c.statement_due_at = t.clock() + timedelta(days=5)
        c.statement, c.statement_at = "Saya sakit.", t.clock() - timedelta(days=1)
        code = c.code
    r = await admin("complaints", "decide", code, "upheld", "--note", "Terbukti.", "--yes")
    assert r.exit_code == 0, r.output
    return code


async def object_(t: Harness, text: str) -> str:
    """Andi files a keberatan from the menu; the code he is given."""
    await t.send("andi", "keberatan")
    await t.send("andi", text)
    await t.press("andi", "Lewati")
    await t.press("andi", "Kirim")
    sent = t.got("andi", "Keberatan Anda diterima").text
    return next(w.strip(".,<>b/") for w in sent.split() if w.strip("<b>").startswith("K-"))


async def test_second_objection_names_the_second_complaint(t: Harness, tmp_path: Path) -> None:
    """Budi's complaint removes Andi, who is reinstated on objection; Sari's complaint removes
    him again: his new objection lists Sari's complaint, and only Sari hears its outcome."""
    admin = Admin.on(t.db, tmp_path / "cli", t.clock)
    budi = await make_person(t, "budi", name="Budi Santoso")
    sari = await make_person(t, "sari", name="Sari Dewi")
    andi = await make_tukang(t, "andi", name="Andi Wijaya")
    first = await uphold(t, admin, await make_job(t, budi, tukang_id=andi, code="J-2611-0042"))
    k1 = await object_(t, "Saya sakit hari itu; ada surat dokter.")
    r = await admin("complaints", "objection", k1, "reinstate", "--note", "Diterima.", "--yes")
    assert r.exit_code == 0, r.output
    await t.refresh()
    assert "aktif kembali" in t.got("budi", "keberatan").text

    t.clock.advance(days=14)
    second = await uphold(t, admin, await make_job(t, sari, tukang_id=andi, code="J-2612-0007"))
    t.replies("budi")
    k2 = await object_(t, "Pekerjaan sudah saya perbaiki tanpa biaya.")
    listed = {o["kode"]: o["pengaduan"] for o in await admin.json("complaints", "objections",
                                                                  "--all")}
    assert listed[k1] == first and listed[k2] == second
    r = await admin("complaints", "objection", k2, "keep", "--note", "Tetap.", "--yes")
    assert r.exit_code == 0, r.output
    await t.refresh()
    told = t.got("sari", "keberatan").text
    assert second in told and "tetap dikeluarkan" in told
    assert not any("keberatan" in x for x in t.texts("budi"))
    async with t.db.read() as s:
        assert (await s.execute(select(Complaint.code).where(Complaint.id > 0))
                ).scalars().all() == [first, second]


async def test_objection_names_the_complaint_that_removed_him(t: Harness,
                                                              tmp_path: Path) -> None:
    """Budi's complaint removes Andi; Sari's complaint is upheld later, while he is already
    out (no second removal). His objection is about Budi's complaint: Budi is told the outcome,
    Sari is not."""
    admin = Admin.on(t.db, tmp_path / "cli", t.clock)
    budi = await make_person(t, "budi", name="Budi Santoso")
    sari = await make_person(t, "sari", name="Sari Dewi")
    andi = await make_tukang(t, "andi", name="Andi Wijaya")
    first = await uphold(t, admin, await make_job(t, budi, tukang_id=andi, code="J-2611-0042"))
    t.clock.advance(hours=2)
    await uphold(t, admin, await make_job(t, sari, tukang_id=andi, code="J-2611-0043"))
    k1 = await object_(t, "Saya sakit hari itu; ada surat dokter.")
    [listed] = await admin.json("complaints", "objections")
    assert (listed["kode"], listed["pengaduan"]) == (k1, first)
    r = await admin("complaints", "objection", k1, "reinstate", "--note", "Diterima.", "--yes")
    assert r.exit_code == 0, r.output
    await t.refresh()
    assert first in t.got("budi", "mengajukan keberatan").text
    assert not any("mengajukan keberatan" in x for x in t.texts("sari"))
