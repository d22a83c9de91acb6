"""Media both ways: photos people send reach a flow; ours go out as signed, expiring links."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, update

from bot.delivery import OutRow
from bot.whatsapp import MEDIA_PATH
from flows.context import Context
from flows.registry import Registry, load_flows
from flows.steps import Next, Photos
from flows.types import Reply
from storage.models import Conversation, Outbox
from tests.whatsapp.conftest import PUBLIC, LabFactory, WhatsAppLab, wa

ANI = "+6281311112222"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + bytes(range(256)) * 2


def _content(path: Path) -> bytes:
    return path.read_bytes()


@dataclass
class Kept:
    paths: list[list[str]]


def photo_registry(kept: Kept) -> Registry:
    """The real flows plus a test-only photo step (booking flows may not exist yet)."""

    async def keep(ctx: Context, paths: list[str]) -> Next:
        kept.paths.append(paths)
        ctx.say("choice.done")
        return None

    return load_flows().extended(
        Photos(name="test.photos", key="help.photos", then=keep, maximum=3))


async def _at_photo_step(lab: WhatsAppLab, phone: str) -> None:
    await lab.post(phone, "halo")
    await lab.deliver()
    async with lab.db.transaction() as s:
        await s.execute(update(Conversation).where(Conversation.address == wa(phone))
                        .values(step="test.photos", data={"_photos": []}))


async def test_photo_reaches_the_flow_as_media(make_lab: LabFactory) -> None:
    """A photo is fetched with Basic auth, saved under the media dir and given to the step;
    a voice note is answered politely without being downloaded; too big is refused politely."""
    kept = Kept([])
    lab = await make_lab(registry=photo_registry(kept), sijakon_max_media_bytes=4096)
    await _at_photo_step(lab, ANI)

    url = lab.standin.add_media(JPEG, "image/jpeg")
    resp = await lab.post(ANI, "", NumMedia="1", MediaUrl0=url, MediaContentType0="image/jpeg")
    assert resp.status_code == 200
    assert (await lab.texts(ANI))[0].startswith("Foto diterima (1/3)")
    assert lab.standin.media_requests == [(url.rsplit("/", 1)[-1], True)]  # with credentials

    voice = lab.standin.add_media(b"OggS" + b"\x00" * 64, "audio/ogg")
    await lab.post(ANI, "", NumMedia="1", MediaUrl0=voice, MediaContentType0="audio/ogg")
    assert "bukan foto" in (await lab.texts(ANI))[0]
    assert len(lab.standin.media_requests) == 1  # not even downloaded

    huge = lab.standin.add_media(JPEG * 20, "image/jpeg")
    await lab.post(ANI, "", NumMedia="1", MediaUrl0=huge, MediaContentType0="image/jpeg")
    assert "bukan foto" in (await lab.texts(ANI))[0]

    await lab.post(ANI, "selesai")
    assert (await lab.texts(ANI))[0] == "Selesai"
    [[path]] = kept.paths
    saved = Path(path)
    assert saved.is_relative_to(lab.rt.settings.media_dir) and _content(saved) == JPEG
    files = [p for p in lab.rt.settings.media_dir.rglob("*") if p.is_file()]
    assert files == [saved]  # nothing kept of the refused ones


async def test_failed_media_download_is_told_and_nothing_kept(make_lab: LabFactory) -> None:
    """A media URL that fails: the person is told plainly to send it again (an outbox reply),
    stays at the photo step, and nothing of that message is kept, not even the photo that
    did arrive; sending it again works."""
    kept = Kept([])
    lab = await make_lab(registry=photo_registry(kept))
    await _at_photo_step(lab, ANI)
    good = lab.standin.add_media(JPEG, "image/jpeg")
    gone = lab.standin.url + "/2010-04-01/Accounts/x/Messages/MM1/Media/ME404"
    resp = await lab.post(ANI, "", NumMedia="2", MediaUrl0=good, MediaContentType0="image/jpeg",
                          MediaUrl1=gone, MediaContentType1="image/png")
    assert resp.status_code == 200
    assert await lab.texts(ANI) == [
        "Maaf, file Anda tidak bisa kami ambil. Silakan kirim sekali lagi."]
    async with lab.db.read() as s:
        conv = (await s.execute(select(Conversation))).scalar_one()
        [key] = (await s.execute(select(Outbox.key).order_by(Outbox.id.desc())
                                 .limit(1))).scalars()
    assert (conv.step, conv.data["_photos"], key) == ("test.photos", [], "telegram.file_failed")
    assert not [p for p in lab.rt.settings.media_dir.rglob("*") if p.is_file()]

    await lab.post(ANI, "", NumMedia="1", MediaUrl0=good, MediaContentType0="image/jpeg")
    assert (await lab.texts(ANI))[0].startswith("Foto diterima (1/3)")


def _row(lab: WhatsAppLab, phone: str, reply: Reply, row_id: int = 1) -> OutRow:
    """A claimed row to someone who just wrote (the window is open)."""
    return OutRow(row_id, "whatsapp", wa(phone), None, "test.media", reply, 0, 1, None,
                  window_open=True)


async def test_outbound_photo_is_a_signed_expiring_link(lab: WhatsAppLab) -> None:
    """Our photo goes as a /media link that serves the file, refuses a changed token, and
    expires; a file outside the media directory is never linked."""
    await lab.post(ANI, "halo")
    await lab.deliver()
    photo = lab.rt.settings.media_dir / "2026-11" / "job.jpg"
    photo.parent.mkdir(parents=True)
    photo.write_bytes(JPEG)
    outside = lab.rt.settings.sijakon_data_dir / "sijakon-secret.jpg"
    outside.write_bytes(JPEG)

    await lab.sender.send(_row(lab, ANI, Reply(text="<b>Foto</b> pekerjaan",
                                               media=[str(photo)])))
    [sent] = lab.standin.new()
    assert sent.body == "*Foto* pekerjaan"
    [link] = sent.media
    assert link.startswith(f"{PUBLIC}{MEDIA_PATH}/")
    path = link.removeprefix(PUBLIC)
    got = await lab.client.get(path)
    assert got.status_code == 200 and got.content == JPEG
    assert got.headers["content-type"] == "image/jpeg"

    token = path.rsplit("/", 1)[-1]
    expiry, name, sig = token.split(".")
    assert (await lab.client.get(f"{MEDIA_PATH}/{int(expiry) + 99999}.{name}.{sig}")
            ).status_code == 404
    assert (await lab.client.get(f"{MEDIA_PATH}/../sijakon-secret.jpg")).status_code == 404

    await lab.sender.send(_row(lab, ANI, Reply(text="Dokumen", media=[str(outside)]), 2))
    [sent] = lab.standin.new()
    assert sent.media == [] and "belum bisa dikirim" in sent.body

    lab.clock.advance(hours=7)
    assert (await lab.client.get(path)).status_code == 404


async def test_without_public_url_media_is_skipped_with_a_note(make_lab: LabFactory) -> None:
    """No public base URL: the text goes, the photo is mentioned, no status callback."""
    lab = await make_lab(twilio_webhook_url="https://bot.example.go.id/hooks/wa")
    await lab.post(ANI, "halo", url="https://bot.example.go.id/hooks/wa")
    await lab.deliver()
    photo = lab.rt.settings.media_dir / "p.jpg"
    photo.write_bytes(JPEG)
    await lab.sender.send(_row(lab, ANI, Reply(text="Foto pekerjaan", media=[str(photo)])))
    [sent] = lab.standin.new()
    assert sent.media == [] and sent.get("StatusCallback") == ""
    assert sent.body.startswith("Foto pekerjaan\n\n(Pesan ini berisi foto")


async def test_long_text_is_split_into_messages(lab: WhatsAppLab) -> None:
    """Twilio takes 1600 characters a message: a long article goes as several."""
    await lab.post(ANI, "halo")
    await lab.deliver()
    para = ("Kalimat tentang izin bangunan yang cukup panjang. " * 10).strip()
    text = "\n\n".join([para] * 8)
    await lab.sender.send(_row(lab, ANI, Reply(text=text, choices=[("1:a", "Lanjut")])))
    sent = lab.standin.new()
    assert len(sent) >= 3 and all(len(s.body) <= 1600 for s in sent)
    assert sent[-1].body.endswith("1. Lanjut")
    assert "".join(s.body for s in sent).count("Kalimat") == 80


async def test_several_photos_in_one_message_keep_their_order(make_lab: LabFactory) -> None:
    """Two photos in one message are both fetched and given to the step in order."""
    kept = Kept([])
    lab = await make_lab(registry=photo_registry(kept))
    await _at_photo_step(lab, ANI)
    first = lab.standin.add_media(JPEG, "image/jpeg")
    second = lab.standin.add_media(JPEG[::-1], "image/png")
    await lab.post(ANI, "", NumMedia="2", MediaUrl0=first, MediaContentType0="image/jpeg",
                   MediaUrl1=second, MediaContentType1="image/png")
    assert (await lab.texts(ANI))[0].startswith("Foto diterima (2/3)")
    await lab.post(ANI, "selesai")
    [[a, b]] = kept.paths
    assert (_content(Path(a)), _content(Path(b))) == (JPEG, JPEG[::-1])
    assert a.endswith(".jpg") and b.endswith(".png")
