"""The SKM survey in the bot: offered after a rating and to tukang once a quarter, nine
one-tap questions with the regulation's wording, skippable, saved once per person per quarter."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from bot.scheduler import Scheduler
from flows.survey import strip_phones
from storage.models import AuditLog, SurveyResponse
from tests.factories import book, make_tukang
from tests.harness import Harness, StepClock


async def _rated(t: Harness, warga: str = "budi", tukang: str = "andi", *,
                 register: bool = True, phone: str = "+6281299990001") -> None:
    """`warga` books `tukang`, who accepts; the warga marks it done and rates it 4."""
    if register:
        await make_tukang(t, tukang, tukang.title(), phone=phone)
    await book(t, warga, register=register)
    await t.press(warga, tukang.title())
    await t.press(tukang, "Terima")
    await t.press(warga, "Pesanan saya")
    await t.send(warga, "1")
    await t.press(warga, "Tandai selesai")
    await t.press(warga, "Ya")
    await t.send(warga, "4")
    await t.send(warga, "Rapi")


async def _responses(t: Harness) -> list[SurveyResponse]:
    async with t.db.read() as s:
        return list((await s.execute(select(SurveyResponse).order_by(SurveyResponse.id)))
                    .scalars())


async def test_rating_invites_then_nine_taps_and_a_suggestion(t: Harness) -> None:
    """After the rating: the invitation with "Isi survei", then the menu; the nine answers
    (taps, a typed number, Lewati) and a suggestion are saved once, phone numbers removed."""
    await _rated(t)
    texts = [s.text for s in t.replies("budi")]
    thanks = next(i for i, x in enumerate(texts) if "Penilaian 4" in x)
    invite = t.last("budi")
    assert "Survei Kepuasan Masyarakat" in invite.text and "9 pertanyaan" in invite.text
    # the menu as always (Pesan tukang stays 1), then the invitation's own button
    assert invite.labels[:2] == ["Pesan tukang", "Pesanan saya"]
    assert invite.labels[-1] == "Isi survei"
    assert texts.index(invite.text) == thanks + 1
    await t.assert_step("budi", "survey.invite")

    await t.send("budi", str(len(invite.labels)))  # typed, as on WhatsApp's numbered list
    q1 = t.last("budi")
    assert "Survei (1/9)" in q1.text
    assert "kesesuaian persyaratan pelayanan dengan jenis pelayanannya" in q1.text
    assert q1.labels == ["1 · Tidak sesuai", "2 · Kurang sesuai", "3 · Sesuai",
                         "4 · Sangat sesuai", "Lewati"]
    await t.press("budi", "4 · Sangat sesuai")
    assert "kemudahan prosedur" in t.last("budi").text
    await t.send("budi", "3")  # typed number: "3 · Mudah"
    await t.press("budi", "Lewati")  # waktu skipped
    assert t.last("budi").labels[3] == "4 · Gratis"
    await t.press("budi", "4 · Gratis")
    await t.press("budi", "3 · Sesuai")
    await t.press("budi", "3 · Kompeten")
    await t.send("budi", "bagus sekali")  # not an option: help, same question again
    assert "1 sampai 4" in t.all("budi")[-2].text and "(7/9)" in t.last("budi").text
    await t.press("budi", "4 · Sangat sopan dan ramah")
    await t.press("budi", "3 · Baik")
    q9 = t.last("budi")
    assert q9.labels[:4] == ["1 · Tidak ada", "2 · Ada tetapi tidak berfungsi",
                             "3 · Berfungsi kurang maksimal", "4 · Dikelola dengan baik"]
    await t.press("budi", "4 · Dikelola dengan baik")
    assert "saran" in t.last("budi").text
    await t.send("budi", "Tambah tukang listrik di Nongsa, hubungi 0812-3456-7890")
    assert "Terima kasih atas penilaian" in t.got("budi", "penilaian Anda").text
    await t.assert_step("budi", "menu.home")
    [r] = await _responses(t)
    assert r.role == "warga" and r.period == "2026Q4"
    assert r.scores == [4, 3, None, 4, 3, 3, 4, 3, 4]
    assert r.suggestion == "Tambah tukang listrik di Nongsa, hubungi [nomor HP dihapus]"


async def test_once_per_quarter_then_again_next_quarter(t: Harness) -> None:
    """Answered: no invitation after the next rating, the old button says thanks; in the next
    quarter (WIB) the warga is invited again."""
    await _rated(t)
    await t.press("budi", "Isi survei")
    for _ in range(9):
        await t.press("budi", "Lewati")
    await t.press("budi", "Lewati")
    assert len(await _responses(t)) == 1
    await make_tukang(t, "cici", "Cici", phone="+6281299990002")
    await book(t, "budi", register=False)
    await t.press("budi", "Cici")
    await t.press("cici", "Terima")
    await t.press("budi", "Pesanan saya")
    await t.send("budi", "1")
    await t.press("budi", "Tandai selesai")
    await t.press("budi", "Ya")
    t.replies("budi")
    await t.send("budi", "5")
    await t.press("budi", "Lewati")
    assert not any("Survei Kepuasan" in x for x in t.texts("budi"))
    await t.press("budi", "Isi survei")  # the old invitation
    assert "sudah mengisi survei triwulan ini (2026Q4)" in t.all("budi")[-2].text
    await t.assert_step("budi", "menu.home")
    # 1 January 2027 00:30 WIB is the next quarter, though still 2026 in UTC
    t.clock.now = datetime(2026, 12, 31, 17, 30, tzinfo=UTC)
    await t.press("budi", "Isi survei")
    assert "(1/9)" in t.last("budi").text
    for _ in range(10):
        await t.press("budi", "Lewati")
    assert [r.period for r in await _responses(t)] == ["2026Q4", "2027Q1"]


async def test_the_invitation_is_also_the_menu(t: Harness) -> None:
    """Any menu item under the invitation works as from the menu; nothing is asked again."""
    await _rated(t)
    await t.press("budi", "Pesanan saya")
    await t.assert_step("budi", "jobs.mine")
    assert "J-2611-0001" in t.last("budi").labels[0]
    await t.send("budi", "menu")
    assert "Isi survei" not in t.last("budi").labels
    assert await _responses(t) == []


async def test_menu_half_way_saves_nothing(t: Harness) -> None:
    """"menu" in the middle leaves no partial answer; the survey can be started again."""
    await _rated(t)
    await t.press("budi", "Isi survei")
    await t.press("budi", "2 · Kurang sesuai")
    await t.send("budi", "menu")
    await t.assert_step("budi", "menu.home")
    assert await _responses(t) == []
    await t.press("budi", "Isi survei")
    assert "(1/9)" in t.last("budi").text


async def test_tukang_invited_once_a_quarter_in_the_daytime(db: object) -> None:
    """The timer invites active tukang once per quarter, by day (WIB), never pending ones nor
    those who answered; the button starts the survey and the answer is saved as a tukang's."""
    clock = StepClock(datetime(2026, 11, 23, 15, 0, tzinfo=UTC))  # 22:00 WIB
    t = Harness.console(db, clock=clock)  # type: ignore[arg-type]
    andi = await make_tukang(t, "andi", "Andi")
    await make_tukang(t, "joko", "Joko", status="pending")
    scheduler = Scheduler(t.db, t.config, clock=clock)
    assert (await scheduler.tick())["survey_invite_tukang"] == 0  # night: nobody woken
    clock.advance(hours=11)  # 09:00 WIB
    assert (await scheduler.tick())["survey_invite_tukang"] == 1
    assert (await scheduler.tick())["survey_invite_tukang"] == 0  # remembered
    await t.refresh()
    invite = t.last("andi")
    assert "Halo Andi" in invite.text and "2026Q4" in invite.text
    assert invite.labels == ["Isi survei"]
    assert t.all("joko") == []
    async with t.db.read() as s:
        rows = (await s.execute(select(AuditLog).where(AuditLog.action == "survey.invited")))
        [row] = rows.scalars().all()
    assert (row.subject_id, row.detail["period"]) == (andi, "2026Q4")

    await t.press("andi", "Isi survei")
    for label in ("3 · Sesuai", "3 · Mudah", "2 · Kurang cepat", "4 · Gratis", "3 · Sesuai",
                  "4 · Sangat kompeten", "3 · Sopan dan ramah", "2 · Cukup", "Lewati"):
        await t.press("andi", label)
    await t.press("andi", "Lewati")
    [r] = await _responses(t)
    assert (r.user_id, r.role, r.scores) == (andi, "tukang", [3, 3, 2, 4, 3, 4, 3, 2, None])
    # next quarter: a new invitation
    clock.now = datetime(2027, 1, 4, 2, 0, tzinfo=UTC)
    assert (await scheduler.tick())["survey_invite_tukang"] == 1
    assert t.engine is not None
    await t.engine.stop()


def test_strip_phones() -> None:
    """Indonesian phone numbers in any usual spelling are removed from suggestions."""
    for raw in ("0812 3456 7890", "+62 812-3456-7890", "081234567890", "62812.3456.789"):
        assert strip_phones(f"hubungi {raw} ya") == "hubungi [nomor HP dihapus] ya", raw
    assert strip_phones("Jl. Sudirman 12, RT 03") == "Jl. Sudirman 12, RT 03"
