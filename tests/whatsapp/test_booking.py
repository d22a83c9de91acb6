"""A whole booking on WhatsApp: a warga books with a photo, the tukang (silent for weeks) gets
the offer as an approved template and accepts with its quick-reply button."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import Job, Offer
from tests import media_samples as samples
from tests.channels import TEMPLATE_SID
from tests.factories import make_tukang
from tests.harness import register_warga
from tests.whatsapp.conftest import MakeHarness

BUDI = "+6281234567890"
ANDI = "+6281299990001"
OFFER_TEMPLATE = {"offer.new": {
    "content_sid": TEMPLATE_SID,
    "variables": ["code", "category", "kecamatan", "time", "expires", "choice:1", "choice:2"]}}
JPEG = samples.JPEG  # a real one: files are judged by their bytes (bot/media.py)


async def test_booking_and_a_tukang_accepting_on_whatsapp(make_h: MakeHarness) -> None:
    """Menu, category, description, photo, kecamatan, address, time, send, pick; the offer
    goes as a template; Terima (ButtonPayload) gives both sides the contacts."""
    h = await make_h(whatsapp_templates=OFFER_TEMPLATE)
    await make_tukang(h, ANDI, "Andi", phone=ANDI, at_menu=False)
    await register_warga(h, BUDI)

    await h.send(BUDI, "Pesan tukang")
    assert "Pengecatan" in h.last(BUDI).text
    await h.send(BUDI, "Pengecatan")
    await h.send(BUDI, "Cat ulang dinding ruang tamu yang mengelupas")
    h.replies(BUDI)
    await h.photo(BUDI, JPEG)
    assert any("Foto diterima (1/5)" in t for t in h.texts(BUDI))
    await h.send(BUDI, "selesai")
    await h.send(BUDI, "1")  # own kecamatan first
    await h.send(BUDI, "Jl. Sudirman No. 12, RT 03/RW 05")
    await h.send(BUDI, "Besok")
    summary = h.last(BUDI).text
    assert "Foto: 1" in summary and summary.endswith("1. Kirim\n2. Ubah\n3. Jangan kirim")
    await h.send(BUDI, "Kirim")
    listing = h.last(BUDI).text
    assert "Andi" in listing and "1. Andi" in listing
    h.replies(BUDI)
    await h.send(BUDI, "1")

    [offer_msg] = h.replies(ANDI)
    assert offer_msg.raw.get("ContentSid") == TEMPLATE_SID  # Andi last wrote days ago
    variables = offer_msg.raw.content_variables
    async with h.db.read() as s:
        job = (await s.execute(select(Job))).scalar_one()
        offer = (await s.execute(select(Offer))).scalar_one()
    assert variables["1"] == job.code and variables["2"] == "Pengecatan"
    assert variables["6"] == f"!offer.accept:{offer.id}"
    assert variables["7"] == f"!offer.decline:{offer.id}"
    assert any("sudah dikirim" in t for t in h.texts(BUDI))
    [saved] = job.photos
    assert saved.startswith(str(h.driver.rt.settings.media_dir))

    await h.send(ANDI, "Terima", profile="Andi", ButtonPayload=variables["6"],
                 ButtonText="Terima")
    mine, theirs = h.texts(ANDI), h.texts(BUDI)
    assert any("Anda menerima" in b and BUDI in b and "Jl. Sudirman" in b for b in mine)
    assert any("menerima pesanan" in b and ANDI in b for b in theirs)
    async with h.db.read() as s:
        job = (await s.execute(select(Job))).scalar_one()
    assert job.status == "accepted"
