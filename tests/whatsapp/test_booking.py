"""A whole booking on WhatsApp: a warga books with a photo, the tukang (silent for weeks) gets
the offer as an approved template and accepts with its quick-reply button."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import Job, Offer
from tests.factories import make_tukang
from tests.whatsapp.conftest import TEMPLATE_SID, LabFactory, wa

BUDI = "+6281234567890"
ANDI = "+6281299990001"
OFFER_TEMPLATE = {"offer.new": {
    "content_sid": TEMPLATE_SID,
    "variables": ["code", "category", "kecamatan", "time", "expires", "choice:1", "choice:2"]}}
JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + bytes(range(256))


async def test_booking_and_a_tukang_accepting_on_whatsapp(make_lab: LabFactory) -> None:
    """Menu, category, description, photo, kecamatan, address, time, send, pick; the offer
    goes as a template; Terima (ButtonPayload) gives both sides the contacts."""
    lab = await make_lab(whatsapp_templates=OFFER_TEMPLATE)
    await make_tukang(lab.db, wa(ANDI), "Andi", phone=ANDI, channel="whatsapp")
    await lab.register(BUDI)

    await lab.post(BUDI, "Pesan tukang")
    assert "Pengecatan" in (await lab.texts(BUDI))[-1]
    await lab.post(BUDI, "Pengecatan")
    await lab.post(BUDI, "Cat ulang dinding ruang tamu yang mengelupas")
    photo = lab.standin.add_media(JPEG, "image/jpeg")
    await lab.post(BUDI, "", NumMedia="1", MediaUrl0=photo, MediaContentType0="image/jpeg")
    assert any("Foto diterima (1/5)" in t for t in await lab.texts(BUDI))
    await lab.post(BUDI, "selesai")
    await lab.post(BUDI, "1")  # own kecamatan first
    await lab.post(BUDI, "Jl. Sudirman No. 12, RT 03/RW 05")
    await lab.post(BUDI, "Besok")
    summary = (await lab.texts(BUDI))[-1]
    assert "Foto: 1" in summary and summary.endswith("1. Kirim\n2. Jangan kirim")
    await lab.post(BUDI, "Kirim")
    listing = (await lab.texts(BUDI))[-1]
    assert "Andi" in listing and "1. Andi" in listing
    await lab.post(BUDI, "1")

    sent = await lab.deliver()
    [offer_msg] = [s for s in sent if s.to == wa(ANDI)]
    assert offer_msg.get("ContentSid") == TEMPLATE_SID  # Andi last wrote weeks ago
    variables = offer_msg.content_variables
    async with lab.db.read() as s:
        job = (await s.execute(select(Job))).scalar_one()
        offer = (await s.execute(select(Offer))).scalar_one()
    assert variables["1"] == job.code and variables["2"] == "Pengecatan"
    assert variables["6"] == f"!offer.accept:{offer.id}"
    assert variables["7"] == f"!offer.decline:{offer.id}"
    assert any("sudah dikirim" in s.body for s in sent if s.to == wa(BUDI))
    [saved] = job.photos
    assert saved.startswith(str(lab.rt.settings.media_dir))

    await lab.post(ANDI, "Terima", profile="Andi", ButtonPayload=variables["6"],
                   ButtonText="Terima")
    sent = await lab.deliver()
    mine = [s.body for s in sent if s.to == wa(ANDI)]
    theirs = [s.body for s in sent if s.to == wa(BUDI)]
    assert any("Anda menerima" in b and BUDI in b and "Jl. Sudirman" in b for b in mine)
    assert any("menerima pesanan" in b and ANDI in b for b in theirs)
    async with lab.db.read() as s:
        job = (await s.execute(select(Job))).scalar_one()
    assert job.status == "accepted"
