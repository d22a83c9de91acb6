"""The engine through the transcript harness, on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass

from sqlalchemy import func, select

from flows.context import Context
from flows.engine import Engine, global_command, match_presented
from flows.registry import load_flows
from flows.steps import Next, Step
from flows.types import Inbound, Message
from storage.db import Database
from storage.models import AuditLog, Conversation, Outbox, ProcessedUpdate, User
from tests.harness import Harness, StepClock, register_warga


async def test_first_contact_registers_a_warga(any_db: Database) -> None:
    """Consent, name, phone, kecamatan: the person is stored and lands at the menu."""
    t = Harness.console(any_db)
    await t.send("budi", "halo")
    welcome = t.last("budi")
    assert "SIJAKON" in welcome.text and "gratis" in welcome.text
    assert welcome.labels == ["Setuju", "Tidak setuju", "Baca kebijakan data"]
    await t.send("budi", "1")  # typing the number works like the button
    assert t.last("budi").text == "Siapa nama Anda?"
    await t.send("budi", "Budi Santoso")
    assert "nomor HP" in t.last("budi").text
    await t.send("budi", "0812-3456-7890")
    await t.send("budi", "batam kota")  # typing the label works too
    await t.assert_step("budi", "menu.home")
    assert "Pendaftaran selesai" in t.got("budi", "Terima kasih").text
    async with any_db.read() as s:
        user = (await s.execute(select(User))).scalar_one()
    assert (user.name, user.phone, user.kecamatan_code, user.role) == (
        "Budi Santoso", "+6281234567890", "217110", "warga")
    assert user.consent_at is not None and not user.phone_verified
    await t.engine.stop()


async def test_no_consent_stores_nothing(db: Database) -> None:
    """Refusing consent leaves no user and no personal data behind."""
    t = Harness.console(db)
    await t.send("sari", "halo")
    await t.press("sari", "Tidak setuju")
    assert "tidak ada data Anda yang kami simpan" in t.last("sari").text
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(User))).scalar() == 0
        assert (await s.execute(select(func.count()).select_from(AuditLog))).scalar() == 0
    await t.engine.stop()


async def test_repeated_external_id_is_handled_once(any_db: Database) -> None:
    """A redelivered update (same external id) changes nothing and sends nothing."""
    t = Harness.console(any_db)
    assert await t.send("budi", "halo", external_id="u-1")
    before = len(t.all("budi"))
    assert not await t.send("budi", "halo", external_id="u-1")
    assert len(t.all("budi")) == before
    async with any_db.read() as s:
        n = (await s.execute(select(func.count()).select_from(ProcessedUpdate))).scalar()
    assert n == 1
    await t.engine.stop()


async def test_repeat_inside_one_batch_is_dropped(db: Database) -> None:
    """Two copies of one update arriving together are handled once."""
    from flows.types import Inbound

    engine = Engine(db)
    ib = Inbound(channel="console", address="ani", external_id="dup", text="halo")
    assert await engine.process([ib, ib]) == [True, False]
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Outbox))).scalar() == 1


async def test_stale_button_gets_polite_answer_and_current_prompt(t: Harness) -> None:
    """A press on an old message says so and asks the current question again."""
    await t.send("budi", "halo")
    await t.press("budi", "Setuju")
    await t.assert_step("budi", "start.name")
    t.replies("budi")
    await t.press("budi", "Tidak setuju", in_message=0)  # the old welcome message
    texts = t.texts("budi")
    assert texts == ["Pilihan itu sudah tidak berlaku. Silakan jawab pertanyaan terakhir:",
                     "Siapa nama Anda?"]
    await t.assert_step("budi", "start.name")


async def test_unknown_input_is_answered_with_help(t: Harness) -> None:
    """Text that is not an option gets the step's help and the question again."""
    await t.send("budi", "halo")
    t.replies("budi")
    await t.send("budi", "🤷 apa ini?")
    texts = t.texts("budi")
    assert texts[0].startswith("Pilih salah satu")
    assert "Apakah Anda setuju?" in texts[1]
    await t.assert_step("budi", "start.welcome")


async def test_global_commands_mid_flow(t: Harness) -> None:
    """bantuan keeps the step; batal and menu leave it; STOP and MULAI switch broadcasts."""
    await register_warga(t, "budi")
    await t.send("budi", "bantuan")
    assert "Bantuan SIJAKON" in t.texts("budi")[0]
    await t.assert_step("budi", "menu.home")
    await t.send("budi", "STOP")
    assert "tidak akan menerima siaran" in t.last("budi").text
    async with t.db.read() as s:
        assert (await s.execute(select(User.broadcast_opt_out))).scalar() is True
    await t.send("budi", "mulai")
    async with t.db.read() as s:
        assert (await s.execute(select(User.broadcast_opt_out))).scalar() is False
    # mid-flow on another person: batal returns to the start
    await t.send("sari", "halo")
    await t.press("sari", "Setuju")
    await t.send("sari", "batal")
    await t.assert_step("sari", "start.welcome")
    assert "Dibatalkan" in t.got("sari", "Dibatalkan").text


async def test_state_survives_a_fresh_engine(db: Database, clock: StepClock) -> None:
    """A new engine on the same database file continues the conversation where it was."""
    first = Harness.console(db, clock=clock)
    await first.send("budi", "halo")
    await first.press("budi", "Setuju")
    await first.send("budi", "Budi")
    await first.engine.stop()
    await db.close()
    reopened = Database(db.url)
    second = Harness.console(reopened, clock=clock)
    await second.assert_step("budi", "start.phone")
    await second.send("budi", "081234567890")
    await second.assert_step("budi", "start.kecamatan")
    await second.engine.stop()
    await reopened.close()


@dataclass(kw_only=True)
class Boom(Step):
    """A step that changes a row and then fails."""

    async def handle(self, ctx: Context, msg: Message) -> Next:
        user = await ctx.require_user()
        user.name = "CHANGED"
        await (await ctx.db()).flush()
        ctx.say("choice.done")
        raise RuntimeError("boom")


async def test_exception_in_a_step_rolls_back_and_shows_menu(any_db: Database) -> None:
    """A failing step's changes and messages vanish; the person gets an apology and the menu."""
    registry = load_flows().extended(Boom(name="test.boom", key="choice.done"))
    t = Harness.console(any_db, registry=registry)
    await t.setup_state("budi", step="test.boom", user={"name": "Budi Santoso"}, ask=False)
    await t.send("budi", "apa saja")
    texts = t.texts("budi")
    assert texts[0].startswith("Maaf, terjadi kesalahan")
    assert "Menu utama" in texts[1]
    assert "Selesai" not in texts
    await t.assert_step("budi", "menu.home")
    async with any_db.read() as s:
        assert (await s.execute(select(User.name))).scalar() == "Budi Santoso"
    await t.send("budi", "menu")  # and the conversation goes on
    assert "Menu utama" in t.last("budi").text
    await t.engine.stop()


async def test_idle_conversation_returns_to_menu(t: Harness) -> None:
    """After three idle days the next message brings the menu, not the old question."""
    await t.send("budi", "halo")
    await t.press("budi", "Setuju")
    t.clock.advance(days=4)
    await t.send("budi", "Budi")
    assert "sudah lama tidak dilanjutkan" in t.texts("budi")[-2]
    await t.assert_step("budi", "start.welcome")


async def test_access_history_is_recorded(t: Harness) -> None:
    """Every message of a registered person leaves a row: time, channel, step change."""
    await register_warga(t, "budi")
    await t.send("budi", "1")
    async with t.db.read() as s:
        rows = (await s.execute(select(AuditLog).where(AuditLog.action == "message")
                                .order_by(AuditLog.id))).scalars().all()
    assert rows[-1].channel == "console"
    assert rows[-1].detail["from"] == "menu.home"
    assert "text" not in rows[-1].detail  # the message itself is not copied into the log


async def test_on_output_is_called_once_the_replies_are_committed(db: Database) -> None:
    """After a batch that wrote replies, on_output is called, and another connection already
    sees the rows then; a repeat writes nothing and calls nothing."""
    path = db.url.split("///", 1)[1]
    seen: list[int] = []

    def on_output() -> None:
        with contextlib.closing(sqlite3.connect(path)) as conn:
            seen.append(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])

    engine = Engine(db, clock=StepClock(), on_output=on_output)
    ib = Inbound(channel="console", address="ani", external_id="e1", text="halo")
    assert await engine.handle(ib)
    assert seen == [1]
    assert not await engine.handle(ib)
    assert seen == [1]
    await engine.stop()


async def test_an_event_gets_its_notice_and_keeps_the_step(t: Harness) -> None:
    """An edited message mid-registration gets the notice as a reply and the same question
    stays; from someone we never met it starts no conversation and speaks their language."""
    await t.send("budi", "halo")
    await t.press("budi", "Setuju")
    t.replies("budi")
    await t.send("budi", event="edited")
    assert t.texts("budi") == ["Pesan yang diubah tidak kami baca. Silakan kirim pesan baru."]
    await t.assert_step("budi", "start.name")

    await t.send("tamu", event="file_too_large", limit_bytes=5 * 1024 * 1024, language="en")
    assert t.texts("tamu") == [
        "Sorry, that file is too large (at most 5 MB). Please send a smaller photo."]
    async with t.db.read() as s:
        n = (await s.execute(select(func.count()).select_from(Conversation))).scalar()
    assert n == 1  # budi's only


def test_global_command_words() -> None:
    """Commands are recognised whole, in either language, with or without a slash."""
    assert global_command("/start tukang") == ("start", "tukang")
    assert global_command("  MENU ") == ("menu", "")
    assert global_command("Berhenti!") == ("stop", "")
    assert global_command("menu rumah saya bocor") is None


def test_match_presented() -> None:
    """Numbers, labels and unique prefixes pick a shown choice; anything else does not."""
    shown = [("3:agree", "Setuju"), ("3:no", "Tidak setuju")]
    assert match_presented("1", shown) == "3:agree"
    assert match_presented("tidak SETUJU", shown) == "3:no"
    assert match_presented("3", shown) is None
    assert match_presented("tid", shown) == "3:no"
    assert match_presented("halo", shown) is None


async def test_notification_does_not_steal_typed_numbers_mid_question(t: Harness) -> None:
    """Someone answering a question with options keeps them when a notification arrives;
    at the menu, a notification's buttons become what a typed number answers."""
    from flows.outbox import Outgoing
    from flows.types import Choice

    await register_warga(t, "budi")
    async with t.db.read() as s:
        uid = (await s.execute(select(User.id))).scalar_one()

    async def notify() -> None:
        out = Outgoing()
        async with t.db.transaction() as s:
            await out.notify(s, uid, "cancel.done", actions=[Choice("nothing:1", "choice.done")])
            await out.write(s, t.clock())

    await t.press("budi", "Pesan tukang")
    step = await t.step("budi")
    await notify()
    await t.send("budi", "1")  # the first category, not the notification's button
    assert await t.step("budi") != step
    assert "sudah tidak berlaku" not in t.last("budi").text
    await t.send("budi", "menu")
    await notify()
    await t.send("budi", "1")  # at the menu: the newest buttons answer
    assert "sudah tidak berlaku" in t.got("budi", "tidak berlaku").text
