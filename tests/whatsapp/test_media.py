"""Media both ways: photos people send reach a flow; ours go out as signed, expiring links."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from bot.whatsapp import MEDIA_PATH
from flows.outbox import PRIORITY_NOTIFY, Outgoing
from flows.types import Reply
from storage.models import Conversation, Outbox
from tests import media_samples as samples
from tests.channels import PUBLIC, claimed, photo_registry, wa
from tests.harness import Harness
from tests.whatsapp.conftest import MakeHarness

ANI = "+6281311112222"
JPEG = samples.JPEG  # a real one: files are judged by their bytes (bot/media.py)


def _content(path: Path) -> bytes:
    return path.read_bytes()


async def _at_photo_step(h: Harness, who: str) -> None:
    """Someone who just wrote, now at the test's photo step (nothing collected yet)."""
    await h.setup_state(who, step="test.photos", data={"_photos": []},
                        user=True)
    h.replies(who)


async def test_photo_reaches_the_flow_as_media(make_h: MakeHarness) -> None:
    """A photo is fetched with Basic auth, saved under the media dir and given to the step;
    a voice note is answered politely without being downloaded; too big is refused politely,
    with the limit."""
    kept: list[list[str]] = []
    h = await make_h(registry=photo_registry(kept), sijakon_max_media_bytes=4096)
    standin = h.driver.standin
    await _at_photo_step(h, ANI)

    resp = await h.photo(ANI, JPEG)
    assert resp.status_code == 200
    assert h.texts(ANI)[0].startswith("Foto diterima (1/3)")
    [photo] = standin.media  # the one file Twilio holds
    assert standin.media_requests == [(photo, True)]  # fetched with our credentials

    await h.photo(ANI, b"OggS" + b"\x00" * 64, content_type="audio/ogg")
    assert "bukan foto" in h.texts(ANI)[0]
    assert len(standin.media_requests) == 1  # not even downloaded

    await h.photo(ANI, JPEG * 20)  # over SIJAKON_MAX_MEDIA_BYTES: told the limit
    assert "terlalu besar" in h.texts(ANI)[0]

    await h.send(ANI, "selesai")
    assert h.texts(ANI)[0] == "Selesai"
    [[path]] = kept
    saved = Path(path)
    media_dir = h.driver.rt.settings.media_dir
    assert saved.is_relative_to(media_dir) and _content(saved) == JPEG
    files = [p for p in media_dir.rglob("*") if p.is_file()]
    assert files == [saved]  # nothing kept of the refused ones


async def test_failed_media_download_is_told_and_nothing_kept(make_h: MakeHarness) -> None:
    """A media URL that fails: the person is told plainly to send it again (an outbox reply),
    stays at the photo step, and nothing of that message is kept, not even the photo that
    did arrive; sending it again works."""
    h = await make_h(registry=photo_registry([]))
    standin = h.driver.standin
    await _at_photo_step(h, ANI)
    good = standin.add_media(JPEG, "image/jpeg")
    gone = standin.url + "/2010-04-01/Accounts/x/Messages/MM1/Media/ME404"
    resp = await h.send(ANI, "", NumMedia="2", MediaUrl0=good, MediaContentType0="image/jpeg",
                        MediaUrl1=gone, MediaContentType1="image/png")
    assert resp.status_code == 200
    assert h.texts(ANI) == ["Maaf, file Anda tidak bisa kami ambil. Silakan kirim sekali lagi."]
    async with h.db.read() as s:
        conv = (await s.execute(select(Conversation))).scalar_one()
        [key] = (await s.execute(select(Outbox.key).order_by(Outbox.id.desc())
                                 .limit(1))).scalars()
    assert (conv.step, conv.data["_photos"], key) == ("test.photos", [], "notice.file_failed")
    assert not [p for p in h.driver.rt.settings.media_dir.rglob("*") if p.is_file()]

    await h.send(ANI, "", NumMedia="1", MediaUrl0=good, MediaContentType0="image/jpeg")
    assert h.texts(ANI)[0].startswith("Foto diterima (1/3)")


async def test_failed_download_reaches_someone_we_have_not_met(make_h: MakeHarness) -> None:
    """A brand-new number whose first message is a file we cannot fetch is told so at once:
    the reply is inside the window it opened, not held for a window that never opens."""
    h = await make_h()
    stranger = "+6281377770000"
    gone = h.driver.standin.url + "/2010-04-01/Accounts/x/Messages/MM2/Media/ME404"
    resp = await h.send(stranger, "", NumMedia="1", MediaUrl0=gone,
                        MediaContentType0="image/jpeg")
    assert resp.status_code == 200
    assert h.texts(stranger) == [
        "Maaf, file Anda tidak bisa kami ambil. Silakan kirim sekali lagi."]
    async with h.db.read() as s:
        assert (await s.execute(select(Conversation))).first() is None  # no conversation made
        statuses = (await s.execute(select(Outbox.status))).scalars().all()
    assert "waiting" not in statuses


async def test_outbound_photo_is_a_signed_expiring_link(h: Harness) -> None:
    """Our photo goes as a /media link that serves the file, refuses a changed token, and
    expires; a file outside the media directory is never linked."""
    await h.send(ANI, "halo")
    settings, client = h.driver.rt.settings, h.driver.client
    photo = settings.media_dir / "2026-11" / "job.jpg"
    photo.parent.mkdir(parents=True)
    photo.write_bytes(JPEG)
    outside = settings.sijakon_data_dir / "sijakon-secret.jpg"
    outside.write_bytes(JPEG)

    await h.driver.sender.send(claimed(ANI, Reply(text="<b>Foto</b> pekerjaan",
                                                  media=[str(photo)])))
    [sent] = await h.refresh()
    assert sent.text == "*Foto* pekerjaan"
    [link] = sent.media
    assert link.startswith(f"{PUBLIC}{MEDIA_PATH}/")
    path = link.removeprefix(PUBLIC)
    got = await client.get(path)
    assert got.status_code == 200 and got.content == JPEG
    assert got.headers["content-type"] == "image/jpeg"

    token = path.rsplit("/", 1)[-1]
    expiry, name, sig = token.split(".")
    assert (await client.get(f"{MEDIA_PATH}/{int(expiry) + 99999}.{name}.{sig}")
            ).status_code == 404
    assert (await client.get(f"{MEDIA_PATH}/../sijakon-secret.jpg")).status_code == 404

    await h.driver.sender.send(claimed(ANI, Reply(text="Dokumen", media=[str(outside)]), 2))
    [sent] = await h.refresh()
    assert sent.media == [] and "belum bisa dikirim" in sent.text

    h.clock.advance(hours=7)
    assert (await client.get(path)).status_code == 404


async def test_without_public_url_media_is_skipped_with_a_note(make_h: MakeHarness) -> None:
    """No public base URL: the text goes, the photo is mentioned, no status callback."""
    h = await make_h(twilio_webhook_url="https://bot.example.go.id/hooks/wa")
    await h.send(ANI, "halo", url="https://bot.example.go.id/hooks/wa")
    photo = h.driver.rt.settings.media_dir / "p.jpg"
    photo.write_bytes(JPEG)
    await h.driver.sender.send(claimed(ANI, Reply(text="Foto pekerjaan", media=[str(photo)])))
    [sent] = await h.refresh()
    assert sent.media == [] and sent.raw.get("StatusCallback") == ""
    assert sent.text.startswith("Foto pekerjaan\n\n(Pesan ini berisi foto")


async def test_long_text_is_split_into_messages(h: Harness) -> None:
    """Twilio takes 1600 characters a message: a long article goes as several."""
    await h.send(ANI, "halo")
    para = ("Kalimat tentang izin bangunan yang cukup panjang. " * 10).strip()
    text = "\n\n".join([para] * 8)
    await h.driver.sender.send(claimed(ANI, Reply(text=text, choices=[("1:a", "Lanjut")])))
    sent = [m.text for m in await h.refresh()]
    assert len(sent) >= 3 and all(len(body) <= 1600 for body in sent)
    assert sent[-1].endswith("1. Lanjut")
    assert "".join(sent).count("Kalimat") == 80


async def test_a_retry_sends_only_the_parts_that_did_not_go(h: Harness) -> None:
    """A long text in three messages: Twilio refuses the second (429). The first is not sent
    again on the retry; the person gets each part once, in order."""
    await h.send(ANI, "halo")
    await h.refresh()
    para = ("Kalimat tentang izin bangunan yang cukup panjang. " * 10).strip()
    text = "\n\n".join([f"Bagian {n}. {para}" for n in range(1, 7)])
    worker = h.driver.rt.worker
    out = Outgoing()
    out.add("whatsapp", wa(ANI), None, "test.long", Reply(text=text), PRIORITY_NOTIFY)
    async with h.db.transaction() as s:
        await out.write(s, h.clock())
    h.driver.standin.fail_next(429, 20429, retry_after="1", after=1)
    await worker.drain()
    first = [m.text for m in await h.refresh()]
    assert len(first) == 1 and first[0].startswith("Bagian 1.")
    async with h.db.read() as s:
        row = (await s.execute(select(Outbox).where(Outbox.key == "test.long"))).scalar_one()
    assert (row.status, row.parts_sent) == ("queued", 1)
    h.clock.advance(seconds=2)
    await worker.drain()
    rest = [m.text for m in await h.refresh()]
    joined = "\n".join(first + rest)
    assert joined.count("Kalimat") == 60 and joined.count("Bagian 1.") == 1
    where = [joined.index(f"Bagian {n}.") for n in range(1, 7)]
    assert where == sorted(where)


async def test_several_photos_in_one_message_keep_their_order(make_h: MakeHarness) -> None:
    """Two photos in one message are both fetched and given to the step in order."""
    kept: list[list[str]] = []
    h = await make_h(registry=photo_registry(kept))
    standin = h.driver.standin
    await _at_photo_step(h, ANI)
    first = standin.add_media(JPEG, "image/jpeg")
    second = standin.add_media(samples.PNG, "image/png")
    await h.send(ANI, "", NumMedia="2", MediaUrl0=first, MediaContentType0="image/jpeg",
                 MediaUrl1=second, MediaContentType1="image/png")
    assert h.texts(ANI)[0].startswith("Foto diterima (2/3)")
    await h.send(ANI, "selesai")
    [[a, b]] = kept
    assert (_content(Path(a)), _content(Path(b))) == (JPEG, samples.PNG)
    assert a.endswith(".jpg") and b.endswith(".png")
