"""Two real `sijakon-bot run` processes on one PostgreSQL behind a round-robin balancer
(Step 4, docs/scale.md), driven through the Telegram and Twilio stand-ins as the platforms
would: started at the same instant on an empty database, people registering and then writing
in bursts (each update also posted to the other process, as a platform retrying elsewhere), a
broadcast from the admin CLI, the sending process killed in the middle, the other carrying on.

What the people and the platforms see:
- every message answered, every reply received exactly once (what the outbox wrote is what
  arrived: no double sends, nothing lost), the broadcast once per person;
- 0 order inversions: each person's replies arrive in the order they were written;
- the combined send rate within the configured limit (one sender per channel);
- after the kill, what the dead sender held goes out within seconds.
"""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from tests.conftest import PG_AVAILABLE, PG_HOST, PG_PORT
from tests.processes import (
    BIN,
    TELEGRAM_PATH,
    Balancer,
    BotProcess,
    OutboxProbe,
    Stage,
    TelegramChat,
    Webhooks,
    WhatsAppChat,
    database,
)

pytestmark = pytest.mark.skipif(not PG_AVAILABLE,
                                reason=f"no PostgreSQL answering at {PG_HOST}:{PG_PORT}")

RATE = 8  # messages per second per channel, for the whole deployment
PEOPLE = 6  # per channel
BURST = 4  # messages each person sends without waiting for the answers
Chat = TelegramChat | WhatsAppChat


async def _answered(chat: Chat, before: int, within: float = 30.0) -> list[str]:
    """Wait until `chat` received more than `before` messages and the bot went quiet for it."""
    deadline = time.monotonic() + within
    seen = -1
    while time.monotonic() < deadline:
        now = len(chat.received())
        if now > before and now == seen:
            return chat.received()[before:]
        seen = now
        await asyncio.sleep(0.3)
    raise AssertionError(f"{chat.address}: no answer after {before} messages")


async def _register(hooks: Webhooks, chat: Chat, name: str) -> None:
    """Onboarding as a person answers it: agree, a name, a phone number when asked, the first
    kecamatan; until the main menu."""
    answer = "halo"
    for _ in range(8):
        before = len(chat.received())
        await hooks.deliver(chat.post(answer))
        last = (await _answered(chat, before))[-1].lower()
        if "menu utama" in last:
            return
        if "setuju" in last or "kecamatan" in last:
            answer = "1"
        elif "nomor" in last:
            answer = "081234567890"
        elif "nama" in last:
            answer = name
        else:
            answer = "menu"
    raise AssertionError(f"{chat.address} did not get through onboarding: {chat.received()}")


def _max_per_second(times: list[float]) -> int:
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - 1.0:
            j += 1
        best = max(best, i - j + 1)
    return best


def _admin(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(BIN / "sijakon-admin"), *args], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def _held(url: str) -> set[int]:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        return {r["id"] for r in await conn.fetch(
            "SELECT id FROM outbox WHERE status = 'sending'")}
    finally:
        await conn.close()


async def _sent_rows(url: str) -> list[tuple[str, str, int, str, str]]:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        rows = await conn.fetch("SELECT channel, address, id, provider_id, status FROM outbox "
                                "ORDER BY id")
    finally:
        await conn.close()
    return [(r["channel"], r["address"], r["id"], r["provider_id"] or "", r["status"])
            for r in rows]


async def test_two_processes_behind_a_balancer(tmp_path: Path) -> None:
    stage = Stage.start()
    balancer = await Balancer([]).start()
    hooks = Webhooks(balancer.url)
    bots: list[BotProcess] = []
    try:
        async with database("postgresql", tmp_path / "db") as url:
            env = stage.env(telegram="webhook", whatsapp=True,
                            telegram_webhook_url=balancer.url + TELEGRAM_PATH,
                            TELEGRAM_RATE_PER_SECOND=str(RATE),
                            WHATSAPP_RATE_PER_SECOND=str(RATE))
            bots = [BotProcess(url, tmp_path / f"p{i}", f"p{i}", env) for i in (1, 2)]
            for bot in bots:  # the same instant, an empty database: both migrate
                bot.start()
            await asyncio.gather(*(b.wait_healthy() for b in bots))
            balancer.backends = [b.port for b in bots]
            direct = [Webhooks(b.url) for b in bots]

            tg = [TelegramChat(stage.telegram, 7001 + i, f"Tg{i}") for i in range(PEOPLE)]
            wa = [WhatsAppChat(stage.twilio, f"+628120000{i:04d}", f"Wa{i}")
                  for i in range(PEOPLE)]
            people: list[Chat] = [*tg, *wa]
            await asyncio.gather(*(_register(hooks, c, f"Orang {i}")
                                   for i, c in enumerate(people)))

            # bursts: each message through the balancer and, as a platform retrying
            # elsewhere, the same update again straight to the other process
            async def burst(chat: Chat, n: int) -> None:
                for k in range(BURST):
                    post = chat.post("bantuan")
                    await hooks.deliver(post)
                    await direct[(n + k) % 2].post(post)

            probe = OutboxProbe(url)
            sender = next(b for b in bots if "sending whatsapp from this process" in b.log())
            work = asyncio.gather(*(burst(c, n) for n, c in enumerate(people)))
            await asyncio.sleep(1.0)
            sender.kill()  # mid-burst: the other process takes over the sending
            killed_at = time.monotonic()
            held = await _held(url)  # claimed by the dead sender, never recorded as sent
            assert held
            took_over = await probe.wait_sent(held, within=30)
            assert took_over is not None, f"{len(held)} rows of the dead sender never went"
            recovery = took_over - killed_at
            assert recovery < 5.0  # not the 30-second lease, nor the 10-second stale beat
            await work
            survivor = next(b for b in bots if b is not sender)
            balancer.backends = [survivor.port]
            await asyncio.gather(*(_answered(c, 0) for c in people))

            officer = {**survivor.env, "SIJAKON_ADMIN": "siti"}
            _admin(officer, "officer", "add", "siti", "--role", "admin")
            _admin(officer, "broadcast", "create", "--text", "Siaran uji dua proses.")
            _admin(officer, "broadcast", "send", "1", "--yes")
            assert await probe.wait_sent(await probe.unsent(), within=60) is not None
            await asyncio.gather(*(_answered(c, 0) for c in people))

            rows = await _sent_rows(url)
            code, seconds = await survivor.stop()
            assert code == 0 and seconds < 10
    finally:
        await hooks.close()
        for bot in bots:
            bot.close()
        await balancer.close()
        stage.stop()

    # what the outbox wrote is what arrived, once: nothing lost, nothing twice
    assert all(status in ("sent", "delivered", "read") for *_, status in rows)
    written: dict[tuple[str, str], int] = defaultdict(int)
    for channel, address, *_ in rows:
        written[(channel, address)] += 1
    again = 0
    for chat in people:
        got = chat.received()
        assert len(got) >= written[(chat.channel, chat.address)]  # nothing lost
        again += len(got) - written[(chat.channel, chat.address)]
        assert sum("Siaran uji dua proses." in t for t in got) == 1
    # twice only what the killed sender had in flight (sent, not yet recorded), never more
    assert again <= len(held)

    # 0 inversions: by outbox id, each person's rows arrived in order
    arrival = {s.sid: i for i, s in enumerate(stage.twilio.sent)}
    order: dict[tuple[str, str], list[int]] = defaultdict(list)
    for channel, address, _, provider, _ in rows:
        order[(channel, address)].append(
            int(provider) if channel == "telegram" else arrival[provider])
    inversions = sum(1 for seq in order.values() for a, b in itertools.pairwise(seq)
                     if b < a)
    assert inversions == 0

    # one sender per channel: within the limit for the deployment (the rate, a token of burst
    # and two for arrival jitter: on a loaded machine sends paced apart can reach the stand-in
    # bunched, 11 in a second was seen once in a full-suite run; two senders pacing on their
    # own reach twice the rate, 16)
    tg_times = [c.at for c in stage.telegram.requests() if c.method.startswith("send")]
    wa_times = [s.at for s in stage.twilio.sent]
    assert _max_per_second(tg_times) <= RATE + 3 < 2 * RATE
    assert _max_per_second(wa_times) <= RATE + 3 < 2 * RATE
    print(f"two processes: {len(rows)} rows, recovery {recovery:.2f} s, "
          f"max/s telegram {_max_per_second(tg_times)} whatsapp {_max_per_second(wa_times)}, "
          f"redeliveries {hooks.redeliveries}", file=sys.stderr)
