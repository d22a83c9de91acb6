"""A removed tukang's keberatan in "Data saya" and "Hapus data saya": shown with its text,
blocking erasure while the Dinas has not decided it, and erased (text and files) after."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from storage.models import Objection, User
from tests.factories import get, make_tukang
from tests.harness import Harness

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


async def removed_with_objection(t: Harness, tmp_path: Path) -> tuple[int, int, Path]:
    """Andi, removed yesterday, with an undecided objection and a PDF attached to it."""
    file = tmp_path / "keberatan.pdf"
    file.write_bytes(PDF)
    tk = await make_tukang(t, "andi", status="removed", reason="Pengaduan P-2611-0001",
                           at_menu=True)
    async with t.db.transaction() as s:
        o = Objection(code="K-2611-0001", tukang_id=tk, text="Saya sakit hari itu, ada surat dokter.",
                      media=[str(file)], removed_at=t.clock() - timedelta(days=1),
                      created_at=t.clock())
        s.add(o)
        await s.flush()
        oid = o.id or 0
    return tk, oid, file


async def test_data_saya_shows_the_objection(t: Harness, tmp_path: Path) -> None:
    """"Data saya" lists the tukang's keberatan under its Indonesian heading, with its text."""
    await removed_with_objection(t, tmp_path)
    await t.send("andi", "menu")
    await t.press("andi", "Pengaturan")
    t.replies("andi")
    await t.press("andi", "Data saya")
    body = "\n".join(t.texts("andi"))
    assert "Keberatan" in body and "K-2611-0001" in body and "surat dokter" in body
    assert "objections" not in body


async def test_undecided_objection_blocks_erasure_then_is_erased(t: Harness,
                                                                 tmp_path: Path) -> None:
    """While the objection waits for the Dinas the tukang is told why his data stays; once it
    is decided, "Hapus data saya" removes its text and its file."""
    tk, oid, file = await removed_with_objection(t, tmp_path)
    await t.send("andi", "menu")
    await t.press("andi", "Pengaturan")
    await t.press("andi", "Hapus data saya")
    await t.press("andi", "Ya, hapus")
    refused = t.got("andi", "belum bisa dihapus").text
    assert "keberatan yang belum diputus (K-2611-0001)" in refused
    assert (await get(t.db, User, tk)).status != "erased" and file.exists()

    async with t.db.transaction() as s:
        o = await s.get(Objection, oid)
        assert o is not None
        o.status, o.decided_at, o.decided_by = "kept", t.clock(), "admin:siti"
    await t.send("andi", "menu")
    await t.press("andi", "Pengaturan")
    await t.press("andi", "Hapus data saya")
    await t.press("andi", "Ya, hapus")
    assert "sudah dihapus" in t.last("andi").text
    o = await get(t.db, Objection, oid)
    assert o.text == "(dihapus)" and o.media == [] and o.status == "kept"
    assert not file.exists()
