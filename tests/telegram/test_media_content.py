"""Telegram files judged by their bytes (bot/media.py), in polling and webhook mode: what is not
a JPEG, PNG or PDF gets one clear answer and counts as nothing, whether it came as a document
with any declared type or as a "photo"; a PDF goes where documents are asked for."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from storage.db import Database
from storage.models import Conversation, Outbox
from tests import media_samples as samples
from tests.channels import photo_registry, telegram
from tests.harness import Harness

MODES = ["polling", "webhook"]
REFUSED = "Maaf, jenis file itu tidak bisa kami terima. Kirim foto JPG/PNG atau PDF."


def files(tmp_path: Path) -> list[Path]:
    return [p for p in (tmp_path / "media").rglob("*") if p.is_file()]


async def state(h: Harness, who: str) -> tuple[str, list[str], str]:
    """(step, photos collected, key of the last message queued) of `who`."""
    _, address = h.driver.account(who)
    async with h.db.read() as s:
        conv = (await s.execute(select(Conversation).where(Conversation.address == address))
                ).scalar_one()
        key = (await s.execute(select(Outbox.key).where(Outbox.address == address)
                               .order_by(Outbox.id.desc()).limit(1))).scalar_one()
    return conv.step, list(conv.data.get("_photos", [])), key


@pytest.mark.parametrize("mode", MODES)
async def test_files_that_are_not_jpeg_png_or_pdf_are_refused(db: Database, tmp_path: Path,
                                                              mode: str) -> None:
    """BMP, GIF, WebP, SVG, HTML as image/jpeg, an ELF as image/png, a cut PNG as documents,
    HTML as a "photo", a text file: each gets the one answer, the photo step keeps counting
    from zero, and no file is left; a real photo after them is the first."""
    async with telegram(db, tmp_path, mode=mode, registry=photo_registry([])) as h:
        await h.setup_state("6101", step="test.photos", user=True)
        budi = h.driver.person("6101")
        h.replies("6101")
        for name, content, declared in samples.HOSTILE:
            await h.deliver(budi.document(content, f"{name}.bin", declared))
            assert h.texts("6101") == [REFUSED], name
        await h.deliver(budi.photo(samples.HTML))
        assert h.texts("6101") == [REFUSED]
        downloads = len(h.driver.server.requests("download"))
        await h.deliver(budi.document(b"catatan", "catatan.txt", "text/plain"))
        assert h.texts("6101") == [REFUSED]
        assert len(h.driver.server.requests("download")) == downloads  # refused unread
        assert await state(h, "6101") == ("test.photos", [], "notice.file_unsupported")
        assert files(tmp_path) == []

        await h.photo("6101", samples.JPEG)
        assert h.last("6101").text.startswith("Foto diterima (1/3)")


@pytest.mark.parametrize("mode", MODES)
async def test_a_pdf_is_taken_for_the_skk_certificate(db: Database, tmp_path: Path,
                                                      mode: str) -> None:
    """At the SKK step (photo or PDF) a PDF document is received and kept as .pdf; a PNG
    named .jpg is kept as what it is."""
    async with telegram(db, tmp_path, mode=mode) as h:
        await h.setup_state("6102", step="tukang_reg.photo",
                            data={"reg": {}, "reg_photo_sel": []})
        andi = h.driver.person("6102")
        h.replies("6102")
        await h.deliver(andi.document(samples.PDF, "skk.pdf", "application/pdf"))
        assert "diterima (1/2)" in h.texts("6102")[0]
        await h.deliver(andi.document(samples.PNG, "skk.jpg", "image/jpeg"))
        assert "diterima (2/2)" in h.texts("6102")[0]
        kept = sorted(files(tmp_path), key=lambda p: p.suffix)
        assert [p.suffix for p in kept] == [".pdf", ".png"]
        assert kept[0].read_bytes() == samples.PDF
