"""Odd inputs on the Twilio webhook: bodies over the cap with or without a Content-Length,
signed callbacks with fields missing, names and text carrying bidi and control characters."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot.whatsapp import INBOUND_PATH, MAX_FORM_BYTES, STATUS_PATH
from storage.models import User
from tests.channels import PUBLIC
from tests.harness import Harness, stored

BUDI = "+6281234567890"
CHUNK = 64 * 1024


class Flood:
    """A request body of `total` bytes made as it is read, counting what the server took."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.taken = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.taken < self.total:
            self.taken += CHUNK
            yield b"Body=" + b"a" * (CHUNK - 5)


@pytest.mark.parametrize("path", [INBOUND_PATH, STATUS_PATH])
async def test_a_chunked_body_over_the_cap_is_refused_early(h: Harness, path: str) -> None:
    """An unsigned 200 MB chunked POST (no Content-Length) is answered 413 after the first
    ~256 KB: the rest is never read, nothing is stored; a declared length over the cap is
    refused before a byte is read."""
    flood = Flood(200 * 1024 * 1024)
    resp = await h.driver.client.post(
        path, content=flood,
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status_code == 413
    assert "content-length" not in resp.request.headers
    assert flood.taken <= MAX_FORM_BYTES + 2 * CHUNK
    assert await stored(h.db) == (0, 0, 0)

    big = Flood(MAX_FORM_BYTES + 1)
    resp = await h.driver.client.post(
        path, content=big, headers={"Content-Type": "application/x-www-form-urlencoded",
                                    "Content-Length": str(MAX_FORM_BYTES + 1)})
    assert resp.status_code == 413 and big.taken == 0


async def test_signed_status_callback_without_fields_is_acknowledged(
        h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    """A status callback Twilio signed but without MessageSid/MessageStatus: 204 and one log
    line, never a 4xx/5xx Twilio would report or retry."""
    params = {"AccountSid": "AC" + "0" * 32, "ApiVersion": "2010-04-01"}
    url = PUBLIC + STATUS_PATH
    resp = await h.driver.client.post(STATUS_PATH, data=params,
                                      headers={"X-Twilio-Signature": h.driver.sign(url, params)})
    assert resp.status_code == 204
    lines = [r for r in caplog.records if r.name == "bot.whatsapp" and "dropped" in r.message]
    assert len(lines) == 1 and lines[0].exc_info is None


async def test_bidi_and_control_characters_never_reach_a_name(h: Harness) -> None:
    """A ProfileName with a right-to-left override and a typed name with isolates, marks and
    control characters: the name offered and the name kept are plain text."""
    await h.send(BUDI, "halo", profile="Budi\u202e Santoso\u202c")
    h.replies(BUDI)
    agree = await h.driver.payload(BUDI, "Setuju")
    await h.send(BUDI, "Setuju", ButtonPayload=agree, ButtonText="Setuju")
    [ask_name] = h.texts(BUDI)
    assert "1. Pakai nama Budi Santoso" in ask_name and "\u202e" not in ask_name

    await h.send(BUDI, "\u2067Siti\u2069 \u200fRahma\x07\x1b")
    await h.send(BUDI, "Batam Kota")
    async with h.db.read() as s:
        user = (await s.execute(select(User))).scalar_one()
    assert user.name == "Siti Rahma"
    assert all("\u202e" not in t and "\u2067" not in t for t in h.texts(BUDI))
