"""WhatsApp files judged by their bytes (bot/media.py): what is not a JPEG, PNG or PDF gets one
clear answer and counts as nothing, whatever type Twilio was told; a PDF goes where documents
are asked for; downloads are streamed under a cap."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from storage.models import Conversation, Outbox
from tests import media_samples as samples
from tests.channels import photo_registry
from tests.harness import Harness, register_warga
from tests.whatsapp.conftest import MakeHarness

ANI = "+6281311112222"
REFUSED = "Maaf, jenis file itu tidak bisa kami terima. Kirim foto JPG/PNG atau PDF."


def content(path: str) -> bytes:
    return Path(path).read_bytes()


def files(h: Harness) -> list[Path]:
    """Everything under the media folder (partial downloads included)."""
    return [p for p in h.driver.rt.settings.media_dir.rglob("*") if p.is_file()]


async def at_photo_step(h: Harness) -> None:
    await h.setup_state(ANI, step="test.photos", data={"_photos": []},
                        user=True)
    h.replies(ANI)


async def conversation(h: Harness) -> tuple[str, list[str], str]:
    """(step, photos collected, key of the last message queued)."""
    async with h.db.read() as s:
        conv = (await s.execute(select(Conversation))).scalar_one()
        key = (await s.execute(select(Outbox.key).order_by(Outbox.id.desc()).limit(1))
               ).scalar_one()
    return conv.step, list(conv.data.get("_photos", [])), key


@pytest.mark.parametrize(("name", "content", "declared"), samples.HOSTILE,
                         ids=[s[0] for s in samples.HOSTILE])
async def test_a_file_that_is_not_jpeg_png_or_pdf_is_refused(
        make_h: MakeHarness, name: str, content: bytes, declared: str) -> None:
    """BMP, GIF, WebP, SVG, HTML sent as image/jpeg, an ELF binary as image/png, a cut PNG:
    one clear answer, the step and its count unchanged, no file left behind; a real photo
    right after is taken as the first."""
    h = await make_h(registry=photo_registry([]))
    await at_photo_step(h)
    resp = await h.photo(ANI, content, content_type=declared)
    assert resp.status_code == 200
    assert h.texts(ANI) == [REFUSED]
    assert await conversation(h) == ("test.photos", [], "notice.file_unsupported")
    assert files(h) == []

    await h.photo(ANI, samples.JPEG)
    assert h.texts(ANI)[0].startswith("Foto diterima (1/3)")


async def test_one_bad_file_among_good_ones_keeps_nothing(make_h: MakeHarness) -> None:
    """A message with a photo and a BMP: the answer says which files we take, and not even the
    good photo is kept (never a part of a message)."""
    h = await make_h(registry=photo_registry([]))
    await at_photo_step(h)
    standin = h.driver.standin
    good = standin.add_media(samples.JPEG, "image/jpeg")
    bad = standin.add_media(samples.BMP, "image/bmp")
    await h.send(ANI, "", NumMedia="2", MediaUrl0=good, MediaContentType0="image/jpeg",
                 MediaUrl1=bad, MediaContentType1="image/bmp")
    assert h.texts(ANI) == [REFUSED]
    assert await conversation(h) == ("test.photos", [], "notice.file_unsupported")
    assert files(h) == []


async def test_a_type_we_never_keep_is_not_downloaded(make_h: MakeHarness) -> None:
    """A contact card (text/vcard) is refused unread; a voice note is never downloaded either
    and the step answers it ("bukan foto"), counting nothing."""
    h = await make_h(registry=photo_registry([]))
    await at_photo_step(h)
    standin = h.driver.standin
    await h.photo(ANI, b"BEGIN:VCARD\r\nEND:VCARD\r\n", content_type="text/vcard")
    assert h.texts(ANI) == [REFUSED]
    await h.photo(ANI, b"OggS" + b"\x00" * 64, content_type="audio/ogg")
    assert "bukan foto" in h.texts(ANI)[0]
    assert standin.media_requests == []
    assert (await conversation(h))[:2] == ("test.photos", [])


async def test_the_content_decides_the_type_not_the_label(make_h: MakeHarness) -> None:
    """A PNG sent as "image/jpeg" and a JPEG as "application/octet-stream" are kept as what
    they are (.png, .jpg)."""
    kept: list[list[str]] = []
    h = await make_h(registry=photo_registry(kept))
    await at_photo_step(h)
    await h.photo(ANI, samples.PNG, content_type="image/jpeg")
    await h.photo(ANI, samples.JPEG, content_type="application/octet-stream")
    await h.send(ANI, "selesai")
    [[png, jpeg]] = kept
    assert (Path(png).suffix, Path(jpeg).suffix) == (".png", ".jpg")
    assert content(png) == samples.PNG


async def test_a_pdf_is_taken_where_documents_are_asked_for(make_h: MakeHarness) -> None:
    """At the SKK certificate step (photo or PDF) a PDF is received; at a photos-only step the
    same PDF is refused by the step ("bukan foto")."""
    h = await make_h(registry=photo_registry([]))
    await h.setup_state(ANI, step="tukang_reg.photo", data={"reg": {}, "reg_photo_sel": []})
    h.replies(ANI)
    await h.photo(ANI, samples.PDF, content_type="application/pdf")
    assert "diterima (1/2)" in h.texts(ANI)[0]
    async with h.db.read() as s:
        conv = (await s.execute(select(Conversation))).scalar_one()
    [pdf] = conv.data["reg_photo_sel"]
    assert pdf.endswith(".pdf") and content(pdf) == samples.PDF

    other = "+6281311113333"
    await h.setup_state(other, step="test.photos", data={"_photos": []},
                        user=True)
    h.replies(other)
    await h.photo(other, samples.PDF, content_type="application/pdf")
    assert "bukan foto" in h.texts(other)[0]


def _kept(tmp_path: Path) -> list[Path]:
    """Files stored in the media folder (not the downloads still under way)."""
    return [p for p in (tmp_path / "data" / "media").rglob("*")
            if p.is_file() and ".incoming" not in p.parts]


async def test_no_file_is_kept_before_consent_or_where_no_step_takes_one(
        h: Harness, tmp_path: Path) -> None:
    """A stranger's photo at the welcome, and a registered warga's photos at the menu, are
    answered and then deleted: nothing of a person is stored before they agreed to the
    privacy notice, nor where the conversation cannot use it."""
    await h.photo("budi", samples.JPEG)
    assert h.last("budi").text  # answered (the welcome)
    assert _kept(tmp_path) == []
    await register_warga(h, "budi")
    for _ in range(3):
        await h.photo("budi", samples.JPEG)
    await h.assert_step("budi", "menu.home")
    assert _kept(tmp_path) == []
    await h.press("budi", "Pesan tukang")
    await h.press("budi", "Pengecatan")
    await h.send("budi", "Cat ulang dinding ruang tamu yang mengelupas")
    await h.photo("budi", samples.JPEG)  # the photo step keeps it
    assert len(_kept(tmp_path)) == 1
