"""Odd inputs on Telegram, webhook and polling: updates PTB cannot read (a poll in older Bot API
JSON, a garbage body) are acknowledged and logged once, never a 500 Telegram would redeliver
forever nor a polling loop stuck on them; bodies over the cap are refused without being read;
names and text lose bidi and control characters."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.telegram import MAX_UPDATE_BYTES, SECRET_HEADER, WEBHOOK_PATH
from storage.db import Database
from storage.models import Conversation, ProcessedUpdate
from tests.channels import TG_SECRET, telegram
from tests.harness import Harness

MODES = ["polling", "webhook"]
CHUNK = 64 * 1024


def old_poll(update_id: int) -> dict[str, Any]:
    """A poll as an older Bot API sent it (no type, no is_anonymous, no persistent_id...)."""
    return {"update_id": update_id, "poll": {
        "id": "5412", "question": "Kapan?", "is_closed": False, "total_voter_count": 0,
        "options": [{"text": "Besok", "voter_count": 0}]}}


def dropped(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "bot.telegram" and "could not be read" in r.getMessage()]


async def post(h: Harness, body: Any, *, secret: str | None = TG_SECRET,
               headers: dict[str, str] | None = None) -> int:
    client = h.driver.client
    assert client is not None
    given = {SECRET_HEADER: secret} if secret else {}
    resp = await client.post(WEBHOOK_PATH, content=body, headers={**given, **(headers or {})})
    return resp.status_code


@pytest.mark.parametrize("mode", MODES)
async def test_an_update_ptb_cannot_read_is_acknowledged_and_logged_once(
        db: Database, tmp_path: Path, mode: str, caplog: pytest.LogCaptureFixture) -> None:
    """A poll in older JSON: 200 (webhook) or confirmed past (polling), one log line without
    a traceback, nothing stored; the person's next message is answered as usual."""
    async with telegram(db, tmp_path, mode=mode) as h:
        poll = old_poll(h.driver.server.next_update_id())
        assert await h.deliver(poll) == 200
        assert dropped(caplog) == [
            f"telegram update {poll['update_id']} could not be read (TypeError in "
            "Update.de_json); acknowledged and dropped"]
        assert all(r.exc_info is None for r in caplog.records if r.name == "bot.telegram")
        async with db.read() as s:
            assert (await s.execute(select(ProcessedUpdate))).first() is None

        await h.send("6201", "/start")
        assert "SIJAKON" in h.last("6201").text
        assert len(dropped(caplog)) == 1


async def test_polling_reads_the_rest_of_a_batch_with_an_unreadable_update(
        db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """One unreadable update among readable ones in one getUpdates answer: the others are
    handled, the offset moves past all of them, the bad one is logged once."""
    async with telegram(db, tmp_path, mode="polling") as h:
        server = h.driver.server
        first = h.driver.person("6202").text("/start")
        bad = old_poll(server.next_update_id())
        last = h.driver.person("6203").text("/start")
        for update in (first, bad, last):
            server.push(update)
        assert await asyncio.to_thread(server.wait_confirmed, last["update_id"])
        await h.refresh()
        assert "SIJAKON" in h.last("6202").text and "SIJAKON" in h.last("6203").text
        assert len(dropped(caplog)) == 1


async def test_webhook_garbage_is_acknowledged_and_a_wrong_secret_refused(
        db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """With our secret: a body that is not JSON, JSON that is not an update, an update id that
    is not a number: 200, logged, nothing stored. Without the secret: 403 for all of them."""
    async with telegram(db, tmp_path, mode="webhook") as h:
        bodies = [b"\x00\xffnot json", b"[1, 2, 3]", json.dumps({"update_id": "x"}).encode(),
                  b""]
        for body in bodies:
            assert await post(h, body, secret=None) == 403
            assert await post(h, body) == 200, body
        lines = [r for r in caplog.records if r.name == "bot.telegram"]
        assert len(lines) == len(bodies) and all(r.exc_info is None for r in lines)
        async with db.read() as s:
            assert (await s.execute(select(Conversation))).first() is None


class Flood:
    """A body of `total` bytes made as it is read, counting what the server took."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.taken = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.taken < self.total:
            self.taken += CHUNK
            yield b" " * CHUNK


async def test_a_chunked_body_over_the_cap_is_refused_early(db: Database,
                                                            tmp_path: Path) -> None:
    """A 200 MB chunked POST without Content-Length: 403 before a byte is read without the
    secret; with it, 413 after the first ~1 MB, the rest never read."""
    async with telegram(db, tmp_path, mode="webhook") as h:
        flood = Flood(200 * 1024 * 1024)
        assert await post(h, flood, secret=None) == 403
        assert flood.taken == 0
        assert await post(h, flood, headers={"Content-Type": "application/json"}) == 413
        assert flood.taken <= MAX_UPDATE_BYTES + 2 * CHUNK


@pytest.mark.parametrize("mode", MODES)
async def test_bidi_and_control_characters_never_reach_a_name(db: Database, tmp_path: Path,
                                                              mode: str) -> None:
    """A Telegram name with a right-to-left override is offered as plain text; a typed name
    with isolates, marks and control characters is kept without them."""
    async with telegram(db, tmp_path, mode=mode) as h:
        h.driver.person("6204", "Budi\u202e Santoso\u202c")
        await h.send("6204", "/start")
        await h.press("6204", "Setuju")
        assert h.last("6204").labels == ["Pakai nama Budi Santoso"]
        await h.send("6204", "\u2066Sari\u2069\u200e Dewi\x07\x1b\r\n")
        assert "nomor HP" in h.last("6204").text
        _, address = h.driver.account("6204")
        async with db.read() as s:
            conv = (await s.execute(select(Conversation).where(Conversation.address == address))
                    ).scalar_one()
        assert conv.data["name"] == "Sari Dewi"
