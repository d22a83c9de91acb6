"""The Telegram sender in the delivery worker: 429 pauses, 403 stops, long texts, photos."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from bot.telegram import split_html
from flows.outbox import PRIORITY_NOTIFY, Outgoing
from flows.render import to_plain
from flows.types import Reply
from standins.telegram import TOKEN, StandIn
from storage.db import Database
from storage.models import ChannelAccount, Outbox
from tests.channels import telegram
from tests.harness import Harness

JPEG = b"\xff\xd8\xff\xe0" + b"photo" * 200 + b"\xff\xd9"


async def queue(h: Harness, address: int, reply: Reply, user_id: int | None = None) -> None:
    """An outbox row as the scheduler or the admin CLI would write it."""
    out = Outgoing()
    out.add("telegram", str(address), user_id, "test.row", reply, PRIORITY_NOTIFY)
    async with h.db.transaction() as s:
        await out.write(s, h.clock())


async def rows(db: Database) -> list[Outbox]:
    async with db.read() as s:
        return list((await s.execute(select(Outbox).order_by(Outbox.id))).scalars())


async def test_429_pauses_and_retries_without_loss_or_double(db: Database,
                                                             tmp_path: Path) -> None:
    """A 429 with retry_after leaves the row queued; after the pause it goes, exactly once."""
    async with telegram(db, tmp_path) as h:
        server = h.driver.server
        server.fail("sendMessage", 429, chat_id=7001, retry_after=1)
        await h.send("7001", "/start")
        assert h.replies("7001") == []
        [row] = await rows(db)
        assert (row.status, row.attempts) == ("queued", 1)
        assert "429" in (row.last_error or "")
        assert (row.next_attempt_at - h.clock()).total_seconds() == 1  # type: ignore[operator]

        await h.refresh()  # not due yet by the clock: nothing goes
        assert h.replies("7001") == []
        h.clock.advance(seconds=1)
        await h.refresh()
        [refused] = [c for c in server.requests("sendMessage", 7001) if c.status == 429]
        [welcome] = [m.raw for m in h.replies("7001")]
        assert "SIJAKON" in welcome.text
        assert welcome.at - refused.at >= 0.95  # the chat paused for retry_after
        [row] = await rows(db)
        assert (row.status, row.attempts) == ("sent", 2)


async def test_429_in_the_middle_of_a_long_message_resends_only_the_rest(
        db: Database, tmp_path: Path) -> None:
    """A text split in three parts, refused at the second: the first is not sent twice."""
    async with telegram(db, tmp_path) as h:
        lines = [f"Baris {i:03d} " + "x" * 90 for i in range(100)]
        await queue(h, 7002, Reply(text="\n".join(lines), choices=[("1:ok", "Oke")]))
        h.driver.server.fail("sendMessage", 429, chat_id=7002, retry_after=1, after=1)
        await h.refresh()
        assert len(h.all("7002")) == 1
        h.clock.advance(seconds=1)
        await h.refresh()
        sent = [m.raw for m in h.all("7002")]
        assert len(sent) == 3
        assert "\n".join(c.text for c in sent) == "\n".join(lines)
        assert all(len(c.text) <= 4096 for c in sent)
        assert [bool(c.labels) for c in sent] == [False, False, True]  # buttons on the last
        assert [r.status for r in await rows(db)] == ["sent"]


async def test_403_marks_the_account_unreachable_and_stops_sending(db: Database,
                                                                  tmp_path: Path) -> None:
    """A blocked bot: the row fails, the account is unreachable, later rows are not even tried;
    writing again makes the person reachable."""
    async with telegram(db, tmp_path) as h:
        server = h.driver.server
        user_id = await h.setup_state("7003", step="menu.home", user=True, ask=False)
        assert user_id is not None

        server.blocked.add(7003)
        for _ in range(2):
            async with db.transaction() as s:
                out = Outgoing()
                assert await out.notify(s, user_id, "help.main")
                await out.write(s, h.clock())
        await h.refresh()
        tried = [c for c in server.requests("sendMessage", 7003) if c.status == 403]
        assert len(tried) == 1  # the second row was not sent after the first was refused
        async with db.read() as s:
            account = (await s.execute(select(ChannelAccount))).scalar_one()
        assert account.reachable is False and "forbidden" in (account.unreachable_reason or "")
        assert [r.status for r in await rows(db)][-2:] == ["failed", "failed"]

        async with db.transaction() as s:
            out = Outgoing()
            await out.notify(s, user_id, "help.main")
            await out.write(s, h.clock())
        await h.refresh()
        assert len([c for c in server.requests("sendMessage", 7003) if c.status == 403]) == 1
        assert (await rows(db))[-1].last_error == "unreachable"

        server.blocked.discard(7003)  # unblocked, and writes again
        await h.send("7003", "/menu")
        assert "Menu utama" in h.last("7003").text
        async with db.read() as s:
            assert (await s.execute(select(ChannelAccount.reachable))).scalar_one() is True


async def test_photos_go_as_photo_and_media_group(db: Database, tmp_path: Path) -> None:
    """One photo carries the text and buttons as its caption; several go as a media group
    followed by the text; a photo sent before is reused by file_id, not uploaded again."""
    pics = []
    for i in range(3):
        p = tmp_path / f"foto{i}.jpg"
        p.write_bytes(JPEG + bytes([i]))
        pics.append(str(p))
    async with telegram(db, tmp_path) as h:
        await queue(h, 7004, Reply(text="Pekerjaan <b>J-2611-0001</b>", media=pics[:1],
                                   choices=[("!offer.accept:1", "Terima"),
                                            ("!offer.decline:1", "Tolak")]))
        await queue(h, 7004, Reply(text="Foto pekerjaan", media=pics))
        await h.refresh()
        photo, group, text = [m.raw for m in h.all("7004")]
        assert photo.method == "sendPhoto" and photo.params["caption"].startswith("Pekerjaan <b>")
        assert photo.params["parse_mode"] == "HTML" and photo.labels == ["Terima", "Tolak"]
        assert photo.files and next(iter(photo.files.values())) == JPEG + b"\x00"
        assert group.method == "sendMediaGroup" and len(group.params["media"]) == 3
        assert not group.params["media"][0]["media"].startswith("attach://")  # reused file_id
        assert len(group.files) == 2
        assert text.method == "sendMessage" and text.text == "Foto pekerjaan"


async def test_payloads_over_64_bytes_fall_back_to_numbered_lines(db: Database,
                                                                 tmp_path: Path) -> None:
    """Buttons whose payload would not fit callback_data become numbered lines to type."""
    async with telegram(db, tmp_path) as h:
        long_id = "3:" + "k" * 70
        await queue(h, 7005, Reply(text="Pilih:", choices=[(long_id, "Satu <a&b>"),
                                                           ("3:b", "Dua")]))
        await queue(h, 7005, Reply(text="Pilih tukang:", choices=[
            ("4:1", "Pak Ahmad Sulaiman — tukang batu, Batam Kota"),
            ("4:2", "Bu Rina — tukang cat, Sekupang")]))
        await queue(h, 7005, Reply(text="Nilai:", choices=[(f"5:{i}", str(i))
                                                            for i in range(1, 6)]))
        await h.refresh()
        numbered, long_labels, short = [m.raw for m in h.all("7005")]
        assert numbered.labels == [] and "reply_markup" not in numbered.params
        assert "1. Satu &lt;a&amp;b&gt;\n2. Dua" in numbered.text
        assert long_labels.rows == [["Pak Ahmad Sulaiman — tukang batu, Batam Kota"],
                                    ["Bu Rina — tukang cat, Sekupang"]]
        assert short.rows == [["1", "2", "3", "4", "5"]]


def test_split_keeps_tags_balanced_and_lines_whole() -> None:
    """A long bold block is cut between lines; each part closes and reopens the tag."""
    lines = [f"{i:04d} " + "kata " * 30 for i in range(120)]
    text = "<b>Daftar</b>\n<b>" + "\n".join(lines) + "</b>\n<i>akhir</i>"
    parts = split_html(text)
    assert len(parts) > 1
    for part in parts:
        assert len(part) <= 4096
        assert part.count("<b>") == part.count("</b>")
    assert "\n".join(to_plain(p) for p in parts) == to_plain(text)
    one_word = "&amp;" * 2000
    parts = split_html(one_word)
    assert all("&amp;" * (len(p) // 5) == p for p in parts)


async def test_standin_throttles_like_telegram() -> None:
    """The stand-in itself answers 429 past 1 message/s per chat (after a burst of 3)."""
    server = StandIn(chat_rate=1.0, chat_burst=3).start()
    try:
        from telegram import Bot
        from telegram.error import RetryAfter

        async with Bot(TOKEN, base_url=server.base_url + "/bot") as bot:
            for _ in range(3):
                await bot.send_message(8001, "ok")
            try:
                await bot.send_message(8001, "terlalu cepat")
            except RetryAfter:
                pass
            else:
                raise AssertionError("the fourth message in a second was not refused")
        assert server.throttled == 1
    finally:
        server.stop()


async def test_chat_bucket_is_charged_when_the_message_leaves() -> None:
    """Time a chat's message spends waiting for the overall rate does not count as the chat
    being quiet: after such a wait only the burst (3) can go at once, not a fourth."""
    from bot.delivery import TokenBucket

    now = [0.0]
    chat = TokenBucket(1.0, 3, clock=lambda: now[0])
    await chat.acquire(take=False)  # message 1 may go as far as the chat is concerned...
    now[0] = 1.5  # ...but waits 1.5 s for the overall bucket
    chat.take()
    went = 1
    while True:  # the chat's next messages, with the overall rate free now
        chat.tokens = min(chat.burst, chat.tokens + (now[0] - chat.stamp) * chat.rate)
        chat.stamp = now[0]
        if chat.tokens < 1.0:
            break
        chat.take()
        went += 1
    assert went == 3


async def test_server_errors_retry_with_backoff_and_bad_html_goes_plain(
        db: Database, tmp_path: Path) -> None:
    """A 502 is retried later (backoff) and then delivered once; HTML Telegram cannot parse is
    sent again as plain text rather than lost."""
    async with telegram(db, tmp_path) as h:
        server = h.driver.server
        server.fail("sendMessage", 502, "Bad Gateway", chat_id=7006)
        await queue(h, 7006, Reply(text="Halo <b>Budi</b>"))
        await h.refresh()
        [row] = await rows(db)
        assert row.status == "queued" and "Bad Gateway" in (row.last_error or "")
        h.clock.advance(seconds=5)
        await h.refresh()
        assert [m.raw.text for m in h.replies("7006")] == ["Halo <b>Budi</b>"]

        server.fail("sendMessage", 400, "Bad Request: can't parse entities: unclosed tag",
                    chat_id=7006)
        await queue(h, 7006, Reply(text="Rusak <b>tebal"))
        await h.refresh()
        last = h.last("7006").raw
        assert last.text == "Rusak tebal" and "parse_mode" not in last.params


def test_chat_not_found_is_permanent() -> None:
    """'chat not found' marks the account unreachable like a block; other 400s do not."""
    from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

    from bot.delivery import Permanent, Retryable
    from bot.telegram import classify

    assert isinstance(classify(BadRequest("Chat not found")), Permanent)
    assert isinstance(classify(Forbidden("Forbidden: bot was blocked by the user")), Permanent)
    assert isinstance(classify(BadRequest("Message text is empty")), Retryable)
    assert isinstance(classify(TimedOut()), Retryable)
    assert isinstance(classify(NetworkError("Internal Server Error (500)")), Retryable)
    error = classify(RetryAfter(7))
    assert isinstance(error, Retryable) and error.retry_after == 7
