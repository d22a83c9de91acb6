"""The navigation contract (docs/conversations.md): `menu`, `kembali`, `batal` and `bantuan`
mean the same at every registered step, and a job's or complaint's code typed anywhere opens
it for its own people only."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from flows.all import build_registry
from flows.context import Context, ConvState, FlowConfig
from flows.engine import Engine
from flows.outbox import Outgoing
from flows.steps import HOME, START
from flows.table import Registry
from storage.db import Database
from storage.models import Conversation, Job
from tests.factories import (
    book,
    make_article,
    make_complaint,
    make_job,
    make_person,
    make_tukang,
)
from tests.harness import Harness, StepClock, register_warga

TUKANG_STEPS = ("jobs.work", "jobs.decline", "offer.", "complaint.statement", "complaint.objection",
                "complaint.about_me", "tukang.")
WORDS = ("bantuan", "kembali", "batal", "menu")
# steps that, entered again, say the job has moved on and show the menu (the job in this test
# is taken already, so its list of tukang is closed)
CLOSED = {"booking.pick"}


async def _previous(registry: Registry, step_name: str, data: dict[str, Any]) -> str | None:
    """Where the step itself says "kembali" leads with these answers (its `back`)."""
    step = registry.steps[step_name]
    conv = ConvState(id=0, channel="console", address="x", user_id=1, flow="", step=step_name,
                     data=dict(data), locale="id", version=0)

    async def no_session() -> Any:
        raise AssertionError("a step's way back needs no database")

    ctx = Context(conv=conv, now=StepClock()(), out=Outgoing(), config=FlowConfig(),
                  open_session=no_session)
    return await step.previous(ctx)


async def test_every_step_keeps_the_navigation_contract(db: Database) -> None:
    """At every registered step, as a warga or a tukang with a job, a complaint and articles
    around: `bantuan` gives this step's help and asks the same question again, staying put;
    `kembali` goes to the step's previous question (or the menu before the first); `batal`
    says "Dibatalkan" and shows the menu; `menu` shows the menu."""
    registry = build_registry()
    clock = StepClock()
    t = Harness.console(db, clock=clock, engine=Engine(db, registry=registry, clock=clock))
    await make_article(t, "Cara mengurus PBG", "Perizinan", "Isi " * 200)
    warga = await make_person(t, "budi")
    tukang = await make_tukang(t, "andi")
    job = await make_job(t, warga, tukang_id=tukang, status="accepted")
    complaint = await make_complaint(t, job, status="awaiting_statement")
    data = {"job": job, "job_id": job, "rate_job": job, "complaint_job": job,
            "statement_for": complaint, "info_topic": "Perizinan", "info_article": 1,
            "description": "Atap dapur bocor saat hujan deras", "category_id": 1}
    broken: list[str] = []

    async def at(who: str, step: str) -> None:
        role = "tukang" if who == "andi" else "warga"
        async with db.transaction() as s:
            await s.execute(update(Conversation).where(Conversation.address == who).values(
                step=step, flow=step.split(".", 1)[0], data={**data, "_role": role, "_tag": 1}))

    for name in sorted(registry.steps):
        who = "andi" if name.startswith(TUKANG_STEPS) else "budi"
        for word in WORDS:
            await at(who, name)
            t.replies(who)
            await t.send(who, word)
            got, now = t.replies(who), await t.step(who)
            keys = [m.key for m in got]
            if word == "bantuan":
                if now != name:
                    broken.append(f"{name}: bantuan moved to {now}")
                elif name not in (HOME, START) and (not keys or keys[0] != "help.step"):
                    broken.append(f"{name}: bantuan said {keys}, not the step's help first")
                elif len(got) < 2:
                    broken.append(f"{name}: bantuan did not ask the question again: {keys}")
            elif word == "kembali":
                expected = await _previous(registry, name, {**data, "_role": "x"}) \
                    if name not in (HOME, START) else None
                if expected is None:
                    if now != HOME:
                        broken.append(f"{name}: kembali went to {now}, not the menu")
                elif now != expected and not (expected in CLOSED and now == HOME):
                    broken.append(f"{name}: kembali went to {now}, not {expected}")
                elif not got:
                    broken.append(f"{name}: kembali said nothing")
            else:
                if now != HOME or "menu.home" not in keys:
                    broken.append(f"{name}: {word} ended at {now} saying {keys}")
                if word == "batal" and name not in (HOME, START) and "cancel.done" not in keys \
                        and "cancel.kept" not in keys:
                    broken.append(f"{name}: batal did not say it was cancelled: {keys}")
    await t.close()
    assert broken == [], "\n".join(broken)


async def test_kembali_walks_back_through_a_booking_keeping_every_answer(t: Harness) -> None:
    """From the time question back to the address, the kecamatan and the photos: each
    question again, the earlier answers kept, and the photos step offers "Selesai" for the
    photo already sent (no confusing "ketik selesai" re-prompt)."""
    await make_tukang(t, "andi", "Andi")
    await make_person(t, "budi")
    await t.send("budi", "menu")
    await t.press("budi", "Pesan tukang")
    await t.press("budi", "Pengecatan")
    await t.send("budi", "Cat ulang dinding ruang tamu yang mengelupas")
    await t.photo("budi", b"\xff\xd8\xff\xe0 a jpeg")
    await t.press("budi", "Selesai")
    await t.press("budi", "Batam Kota ← kecamatan Anda")
    await t.send("budi", "Jl. Sudirman No. 12, RT 03/RW 05")
    await t.assert_step("budi", "booking.time")
    await t.send("budi", "kembali")
    assert "alamat lengkapnya" in t.last("budi").text
    await t.send("budi", "kembali")
    await t.assert_step("budi", "booking.kecamatan")
    await t.send("budi", "back")
    await t.assert_step("budi", "booking.photos")
    assert t.last("budi").labels == ["Selesai"]  # the photo sent before is still there
    await t.press("budi", "Selesai")
    await t.press("budi", "Batam Kota ← kecamatan Anda")
    await t.send("budi", "Jl. Sudirman No. 14")
    await t.press("budi", "Besok")
    summary = t.last("budi")
    assert "Foto: 1" in summary.text and "Jl. Sudirman No. 14" in summary.text
    assert "Cat ulang dinding" in summary.text


async def test_bantuan_at_a_question_explains_it_and_asks_again(t: Harness) -> None:
    """Help at the time question: how to answer it, the words that work everywhere, then the
    question with its buttons; the example date is a week from today, never a fixed one."""
    uid = await make_person(t, "budi")
    await t.setup_state("budi", step="booking.time", data={"category_id": 1}, user=uid)
    t.replies("budi")
    await t.send("budi", "bantuan")
    help_, question = t.replies("budi")
    assert "Hari ini" in help_.text and "30-11-2026" in help_.text  # 23-11 + 7 days
    assert "kembali" in help_.text and "batal" in help_.text
    assert question.labels == ["Hari ini", "Besok", "Minggu ini"]
    t.clock.advance(days=40)
    await t.setup_state("budi", step="booking.time", data={"category_id": 1}, user=uid)
    assert "09-01-2027" in t.replies("budi")[-1].text  # 02-01-2027 + 7 days
    await t.send("budi", "besok pagi ya")
    assert "09-01-2027" in t.replies("budi")[0].text
    await t.assert_step("budi", "booking.time")


async def test_batal_keeps_the_booking_draft_and_pesan_tukang_offers_it(t: Harness) -> None:
    """Batal half-way through a booking says the answers are kept; the next "Pesan tukang"
    offers to go on where it was left (or start anew), and going on reaches the summary with
    every answer."""
    await make_person(t, "budi")
    await t.send("budi", "menu")
    await t.press("budi", "Pesan tukang")
    await t.press("budi", "Pengecatan")
    await t.send("budi", "Cat ulang dinding ruang tamu yang mengelupas")
    await t.press("budi", "Lewati")
    await t.send("budi", "batal")
    assert "kami simpan" in t.got("budi", "Dibatalkan").text
    await t.assert_step("budi", "menu.home")
    await t.press("budi", "Pesan tukang")
    offer = t.last("budi")
    assert "Pengecatan" in offer.text and "Cat ulang dinding" in offer.text
    assert offer.labels == ["Lanjutkan", "Mulai baru"]
    await t.press("budi", "Lanjutkan")
    await t.assert_step("budi", "booking.kecamatan")
    await t.press("budi", "Batam Kota ← kecamatan Anda")
    await t.send("budi", "Jl. Sudirman No. 12, RT 03/RW 05")
    await t.press("budi", "Besok")
    assert "Cat ulang dinding" in t.last("budi").text
    await t.press("budi", "Jangan kirim")
    await t.press("budi", "Pesan tukang")  # not sent is not a draft: a fresh booking
    assert "Pekerjaan apa" in t.last("budi").text


async def test_mulai_baru_drops_the_draft(t: Harness) -> None:
    """"Mulai baru" starts from the first question, and the old answers are gone."""
    await make_person(t, "budi")
    await t.send("budi", "menu")
    await t.press("budi", "Pesan tukang")
    await t.press("budi", "Pengecatan")
    await t.send("budi", "menu")
    await t.press("budi", "Pesan tukang")
    await t.press("budi", "Mulai baru")
    await t.assert_step("budi", "booking.category")
    await t.send("budi", "menu")
    await t.press("budi", "Pesan tukang")
    await t.assert_step("budi", "booking.category")  # nothing answered: nothing kept


async def test_a_typed_job_code_opens_the_job_for_its_people_only(t: Harness) -> None:
    """"J-2611-0001" typed at the menu or half-way through a question opens the warga's job;
    the tukang who has it sees their work screen; anyone else is told it is not theirs."""
    await make_tukang(t, "andi", "Andi")
    await book(t, "budi")
    await t.press("budi", "Andi")
    await t.press("andi", "Terima")
    await t.send("budi", "j-2611-0001")
    await t.assert_step("budi", "jobs.detail")
    assert "J-2611-0001" in t.last("budi").text
    await t.send("andi", "menu")
    await t.press("andi", "Pekerjaan saya")
    await t.send("andi", "J-2611-0001")
    await t.assert_step("andi", "jobs.work_detail")
    assert t.last("andi").labels[:2] == ["Tandai selesai", "Batalkan"]
    await make_person(t, "sari")
    await t.send("sari", "menu")
    await t.send("sari", "J-2611-0001")
    assert "tidak kami temukan" in t.last("sari").text or \
        "tidak kami temukan" in t.all("sari")[-2].text
    await t.assert_step("sari", "menu.home")
    async with t.db.read() as s:
        assert (await s.execute(select(Job.status))).scalar_one() == "accepted"


async def test_the_words_work_alike_on_every_channel(any_channel: Harness) -> None:
    """On the console, Telegram and WhatsApp: kembali at the photo question goes back to the
    description (not a re-prompt), bantuan explains the photo question and asks it again,
    batal keeps the draft, and a typed job code opens the warga's own job."""
    h = any_channel
    await register_warga(h, "budi")
    await h.press("budi", "Pesan tukang")
    await h.press("budi", "Pengecatan")
    await h.send("budi", "Cat ulang dinding ruang tamu yang mengelupas")
    await h.assert_step("budi", "booking.photos")
    await h.send("budi", "kembali")
    await h.assert_step("budi", "booking.description")
    assert "Ceritakan pekerjaannya" in h.last("budi").text
    await h.send("budi", "Cat ulang dinding kamar tidur yang mengelupas")
    h.replies("budi")
    await h.send("budi", "bantuan")
    help_, question = h.replies("budi")
    assert "Lewati" in help_.text and "kembali" in help_.text
    assert question.labels == ["Lewati"]
    await h.assert_step("budi", "booking.photos")
    await h.send("budi", "batal")
    assert "kami simpan" in h.got("budi", "Dibatalkan").text
    await h.press("budi", "Pesan tukang")
    await h.press("budi", "Lanjutkan")
    await h.assert_step("budi", "booking.photos")
    await h.press("budi", "Lewati")
    await h.send("budi", "1")
    await h.send("budi", "Jl. Sudirman No. 12, RT 03/RW 05")
    await h.press("budi", "Besok")
    assert "kamar tidur" in h.last("budi").text
    await h.press("budi", "Kirim")
    await h.send("budi", "menu")
    await h.send("budi", "J-2611-0001")
    await h.assert_step("budi", "jobs.detail")
    assert "J-2611-0001" in h.last("budi").text


async def test_three_idle_days_keep_the_draft(t: Harness) -> None:
    """A booking idle for three days goes back to the menu on the next message, and "Pesan
    tukang" still offers it."""
    await register_warga(t, "budi")
    await t.press("budi", "Pesan tukang")
    await t.press("budi", "Pengecatan")
    t.clock.advance(days=4)
    await t.send("budi", "halo")
    assert "sudah lama" in t.got("budi", "sudah lama").text
    await t.press("budi", "Pesan tukang")
    assert "Pengecatan" in t.last("budi").text
    assert t.last("budi").labels == ["Lanjutkan", "Mulai baru"]


async def test_kembali_while_signing_up(any_channel: Harness) -> None:
    """Signing up, kembali goes to the question before with the answers kept: from the phone
    to the name, from the kecamatan to the phone (to the name on WhatsApp, whose number is the
    sender's and never asked); the person then finishes as usual."""
    h = any_channel
    await h.send("budi", "halo")
    await h.press("budi", "Setuju")
    await h.send("budi", "Budi Santosa")
    asked_phone = await h.step("budi") == "start.phone"
    if asked_phone:
        await h.send("budi", "kembali")
        await h.assert_step("budi", "start.name")
        assert "Siapa nama Anda" in h.last("budi").text
        await h.send("budi", "Budi Santoso")
        await h.send("budi", "081234567890")
    await h.assert_step("budi", "start.kecamatan")
    await h.send("budi", "kembali")
    await h.assert_step("budi", "start.phone" if asked_phone else "start.name")
    if asked_phone:
        assert "nomor HP" in h.last("budi").text
        await h.send("budi", "081234567890")
    else:
        await h.send("budi", "Budi Santoso")
    await h.press("budi", "Batam Kota")
    assert "Terima kasih, Budi Santoso" in h.got("budi", "Pendaftaran selesai").text
    await h.assert_step("budi", "menu.home")
