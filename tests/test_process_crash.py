"""kill -9 of the real `sijakon-bot run`, 20 times, while ten people talk to it over webhooks
(issue 13, "Done when": the kill-9 test; figures in docs/reliability.md, "Kill -9 under load").

One bot process (`SIJAKON_INSTANCE=crash`) serves Telegram (webhook) and WhatsApp (Twilio
webhooks) on SQLite, behind the round-robin balancer of tests/processes.py. Five Telegram and
five WhatsApp users each go through registration and then round a loop of the settings menu
(renaming themselves), help and info, sending their next message once the replies to the last
one arrived. Telegram and Twilio are played as they behave: a post that got no 200 (the
process was dead, starting, or killed mid-request) is posted again, unchanged (same update_id,
same MessageSid), until it gets one.

Meanwhile the process is killed with SIGKILL at seeded random moments and started again under
the same instance name. What the people see is checked against what two reference people saw
with nobody killing anything:

- no message lost, no reply lost, each person's replies in order, and the engine wrote each
  reply once (a redelivered message is handled once);
- a reply a person got twice is one the killed life had sent but not yet recorded: it must be
  among the rows that life left unsent (so at most those per kill), and the SIGTERM causes
  none. (Exactly once cannot be promised: neither platform takes an idempotency key, and the
  kill can fall between the platform's answer and the record.)
- after each restart every row the killed life left unsent is sent within `RECOVER_WITHIN`
  seconds of the new process being healthy;
- at the end a SIGTERM while replies wait to be retried (Telegram 429, Twilio 503): the
  process exits 0 within 5 s, and the next start sends what was queued.

`SIJAKON_CRASH_DB=postgresql` runs it on a fresh PostgreSQL database instead,
`SIJAKON_CRASH_KILLS=N` kills N times; the figures are printed (`pytest -s`) and, with
`SIJAKON_CRASH_REPORT=path`, written there as JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest

from standins import Listener, free_port
from tests.conftest import PG_AVAILABLE
from tests.processes import (
    TELEGRAM_PATH,
    TG_SECRET,
    Balancer,
    BotProcess,
    OutboxProbe,
    Stage,
    TelegramChat,
    Webhooks,
    WhatsAppChat,
    database,
)

SEED = 13
KILLS = int(os.environ.get("SIJAKON_CRASH_KILLS", "20"))
DB_KIND = os.environ.get("SIJAKON_CRASH_DB", "sqlite")
PEOPLE_PER_CHANNEL = 5
ALIVE = (0.02, 0.4)  # seconds a life runs after it caught up, before the kill (seeded)
THINK = (0.0, 0.15)  # seconds a person waits before writing again (seeded)
RECOVER_WITHIN = 5.0  # seconds after health for every row a killed life left unsent
REPLY_WITHIN = 45.0  # seconds a person waits for the replies to one message before "lost"

# after registration, round and round: settings, rename (two names in turn), menu, help, info
NAMES = ("Budi Satu", "Budi Dua")
LOOP = ("8", "4", None, "menu", "6", "3")  # None: the next name
REFERENCE_LOOPS = 4  # loops 1 and 3 must read the same: the replies repeat every two loops


def onboarding(channel: str, serial: int) -> tuple[str, ...]:
    if channel == "telegram":  # the phone is typed; masked it reads +62812****7890 for all
        return ("/start", "1", "Budi Santoso", f"0812-{serial:04d}-7890", "1")
    return ("halo", "1", "Budi Santoso", "1")  # WhatsApp knows the number


def message(first: tuple[str, ...], k: int) -> str:
    if k < len(first):
        return first[k]
    loop, step = divmod(k - len(first), len(LOOP))
    return LOOP[step] or NAMES[loop % len(NAMES)]


@dataclass
class Reference:
    """What a person of one channel is answered to each message of the script, as seen by a
    reference person with nobody killing anything."""

    first: int  # messages of registration
    replies: list[list[str]]  # per message: the texts, in order

    def to(self, k: int) -> list[str]:
        if k < self.first + len(LOOP):
            return self.replies[k]
        loop, step = divmod(k - self.first, len(LOOP))
        return self.replies[self.first + (1 + (loop - 1) % 2) * len(LOOP) + step]


@dataclass
class Alignment:
    matched: int  # how many of the wanted texts arrived, in order
    repeats: list[int]  # indexes of texts received again (a message sent twice)
    odd: list[int]  # indexes of texts that fit neither: out of order, or never wanted


def align(received: list[str], wanted: list[str]) -> Alignment:
    out = Alignment(0, [], [])
    for i, text in enumerate(received):
        if out.matched < len(wanted) and text == wanted[out.matched]:
            out.matched += 1
        elif text in wanted[max(0, out.matched - 4):out.matched]:
            out.repeats.append(i)
        else:
            out.odd.append(i)
    return out


Chat = TelegramChat | WhatsAppChat


@dataclass
class Talker:
    """A scripted person: writes, waits for the answer, thinks, writes again."""

    chat: Chat
    first: tuple[str, ...]
    reference: Reference
    rng: random.Random
    k: int = 0  # messages taken by the bot (answered 200)
    wanted: list[str] = field(default_factory=list)

    async def say(self, hooks: Webhooks) -> None:
        """The next message, posted until the platform got a 200 for it."""
        await hooks.deliver(self.chat.post(message(self.first, self.k)))
        self.wanted += self.reference.to(self.k)
        self.k += 1

    async def answered(self) -> None:
        began = time.monotonic()
        while align(self.chat.received(), self.wanted).matched < len(self.wanted):
            if time.monotonic() - began > REPLY_WITHIN:
                got = self.chat.received()
                raise AssertionError(
                    f"{self.chat.address}: no answer to message {self.k - 1} "
                    f"({message(self.first, self.k - 1)!r}) in {REPLY_WITHIN} s; "
                    f"{align(got, self.wanted).matched} of {len(self.wanted)}; last got "
                    f"{[t[:40] for t in got[-3:]]}")
            await asyncio.sleep(0.01)

    async def talk(self, hooks: Webhooks, going: Callable[[], bool]) -> None:
        while going():
            await self.say(hooks)
            await self.answered()
            await asyncio.sleep(self.rng.uniform(*THINK))


async def reference(chat: Chat, first: tuple[str, ...], hooks: Webhooks,
                    probe: OutboxProbe) -> Reference:
    """Play the script once undisturbed: registration and REFERENCE_LOOPS loops. The replies
    to a message are the outbox rows its commit wrote (one row, one platform message here)."""
    replies: list[list[str]] = []
    for k in range(len(first) + REFERENCE_LOOPS * len(LOOP)):
        before = len(chat.received())
        await hooks.deliver(chat.post(message(first, k)))
        rows = await probe.rows_to(chat.channel, chat.address)
        began = time.monotonic()
        while len(chat.received()) < rows:
            assert time.monotonic() - began < REPLY_WITHIN, f"reference {chat.address} stuck"
            await asyncio.sleep(0.01)
        replies.append(chat.received()[before:])
    assert len(chat.received()) == await probe.rows_to(chat.channel, chat.address), \
        "one outbox row should be one message on the platform here"
    ref = Reference(len(first), replies)
    loop = len(LOOP)
    assert replies[ref.first + loop:ref.first + 2 * loop] == \
        replies[ref.first + 3 * loop:ref.first + 4 * loop], "the loop's replies do not repeat"
    assert all(replies), "every message of the script is answered"
    return ref


@dataclass
class Kill:
    at: float  # time.monotonic() of the SIGKILL
    unsent: int  # outbox rows the killed life left queued or sending
    healthy: float  # seconds from the start of the next life to /healthz 200
    recovered: float  # seconds from that health until the rows left unsent were all sent
    repeats: int = 0  # messages people got twice, sent again by the next life


def talkers(stage: Stage, tg: Reference, wa: Reference, rng: random.Random) -> list[Talker]:
    people = [Talker(TelegramChat(stage.telegram, 7001 + i), onboarding("telegram", i + 1),
                     tg, random.Random(rng.random())) for i in range(PEOPLE_PER_CHANNEL)]
    return people + [Talker(WhatsAppChat(stage.twilio, f"+62812{i + 1:04d}7890"),
                            onboarding("whatsapp", i + 1), wa, random.Random(rng.random()))
                     for i in range(PEOPLE_PER_CHANNEL)]


@pytest.mark.skipif(DB_KIND == "postgresql" and not PG_AVAILABLE,
                    reason="no PostgreSQL at 127.0.0.1:5432")
async def test_kill_9_under_load_loses_nothing(tmp_path: Path) -> None:
    began = time.monotonic()
    rng = random.Random(SEED)
    stage = Stage.start()
    balancer = await Balancer([]).start()
    hooks = Webhooks(balancer.url)
    kills: list[Kill] = []
    talking: list[asyncio.Task[None]] = []
    async with database(DB_KIND, tmp_path) as url:  # the process migrates it itself
        env = stage.env(telegram="webhook", whatsapp=True,
                        telegram_webhook_url=balancer.url + TELEGRAM_PATH,
                        # Telegram allows about one message a second per chat; the test is
                        # about crashes, not pacing, so people need not wait for that
                        TELEGRAM_CHAT_RATE_PER_SECOND="20", TELEGRAM_CHAT_BURST="10")
        bot = BotProcess(url, tmp_path / "bot", "crash", env)
        probe = OutboxProbe(url)
        try:
            bot.start()
            first_health = await bot.wait_healthy()
            balancer.backends = [bot.port]
            for _ in range(500):  # Telegram's side starts beside the web server
                if stage.telegram.webhook.get("url"):
                    break
                await asyncio.sleep(0.01)
            assert stage.telegram.webhook_post() == (
                balancer.url + TELEGRAM_PATH, {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET})
            tg_ref, wa_ref = await asyncio.gather(
                reference(TelegramChat(stage.telegram, 7000), onboarding("telegram", 0),
                          hooks, probe),
                reference(WhatsAppChat(stage.twilio, "+6281200007890"),
                          onboarding("whatsapp", 0), hooks, probe))
            reference_s = time.monotonic() - began - first_health
            hooks.deliveries.clear()

            # ten people talk; the process is killed at random moments and started again
            people = talkers(stage, tg_ref, wa_ref, rng)
            killing = True
            talking = [asyncio.create_task(p.talk(hooks, lambda: killing)) for p in people]
            for _ in range(KILLS):
                await asyncio.sleep(rng.uniform(*ALIVE))
                for task in talking:
                    if task.done():
                        await task  # a person's assertion, raised here
                at = time.monotonic()
                bot.kill()
                left = await probe.unsent()
                bot.start()
                healthy = await bot.wait_healthy()
                out = await probe.wait_sent(left, within=30)
                assert out is not None, f"rows {sorted(left)} not sent 30 s after the restart"
                kills.append(Kill(at, len(left), healthy,
                                  max(0.0, out - bot.started_at - healthy)))
            killing = False
            await asyncio.gather(*talking)
            talked_s = time.monotonic() - kills[0].at

            # SIGTERM while replies wait to be retried: Telegram answers each Telegram
            # person's next reply 429 (retry after 3 s), Twilio the next five sends 503
            # (Retry-After: 3)
            for p in people:
                if isinstance(p.chat, TelegramChat):
                    stage.telegram.fail("sendMessage", 429, chat_id=p.chat.person.id,
                                        retry_after=3)
                else:
                    stage.twilio.fail_next(503, None, retry_after="3")
            await asyncio.gather(*(p.say(hooks) for p in people))
            stopped_at = time.monotonic()
            code, stopped_in = await bot.stop()
            queued = await probe.unsent()
            assert code == 0, f"SIGTERM: exit {code}\n{bot.log()[-3000:]}"
            assert stopped_in < 5.0, f"SIGTERM took {stopped_in:.1f} s"
            assert queued, "the 429s and 503s should have left replies queued"
            bot.start()
            await bot.wait_healthy()
            out = await probe.wait_sent(queued, within=30)
            assert out is not None, "rows queued at the SIGTERM were not sent by the next life"
            queued_out_s = out - bot.started_at
            await asyncio.gather(*(p.answered() for p in people))
            await asyncio.sleep(0.5)  # a late repeat would arrive by now
            code, last_stop_s = await bot.stop()
            assert code == 0, f"SIGTERM: exit {code}\n{bot.log()[-3000:]}"
            # the engine's side: rows written per person (a redelivery handled twice adds one)
            written = sum([await probe.rows_to(p.chat.channel, p.chat.address) for p in people])
        finally:
            for task in talking:
                task.cancel()
            await asyncio.gather(*talking, return_exceptions=True)
            bot.close()
            await hooks.close()
            await balancer.close()
            stage.stop()

    # what the people saw: every reply in order, none lost; a repeat is put down to the kill
    # before it arrived (or to the SIGTERM, which must cause none)
    lost, odd, after_stop = 0, [], 0
    for p in people:
        seen = align(p.chat.received(), p.wanted)
        lost += len(p.wanted) - seen.matched
        odd += [p.chat.received()[i][:60] for i in seen.odd]
        arrived = p.chat.arrivals()
        for i in seen.repeats:
            before = [k for k in kills if k.at < arrived[i]]
            if arrived[i] > stopped_at or not before:
                after_stop += 1
            else:
                before[-1].repeats += 1
    answers = [a for d in hooks.deliveries for a in d.answers]
    figures = {
        "database": DB_KIND, "kills": len(kills), "people": len(people),
        "messages": len(hooks.deliveries), "replies": sum(len(p.wanted) for p in people),
        "rows_written": written, "posts": len(answers), "redeliveries": hooks.redeliveries,
        "no_answer": sum(1 for a in answers if a is None),
        "answered_5xx": sum(1 for a in answers if a is not None and a >= 500),
        "unsent_at_kills": sum(k.unsent for k in kills),
        "max_unsent_at_a_kill": max(k.unsent for k in kills),
        "max_start_to_health_s": round(max(k.healthy for k in kills), 2),
        "max_recovery_after_health_s": round(max(k.recovered for k in kills), 3),
        "max_recovery_after_start_s": round(max(k.healthy + k.recovered for k in kills), 2),
        "messages_redelivered": sum(1 for d in hooks.deliveries if d.attempts > 1),
        "lost": lost, "out_of_order": len(odd),
        "duplicates": sum(k.repeats for k in kills) + after_stop,
        "max_duplicates_at_a_kill": max(k.repeats for k in kills),
        "kills_with_duplicates": sum(1 for k in kills if k.repeats),
        "queued_at_sigterm": len(queued), "sigterm_exit_s": round(stopped_in, 2),
        "queued_sent_after_restart_s": round(queued_out_s, 2),
        "last_sigterm_exit_s": round(last_stop_s, 2),
        "first_health_s": round(first_health, 2), "reference_s": round(reference_s, 1),
        "talking_s": round(talked_s, 1), "runtime_s": round(time.monotonic() - began, 1),
    }
    print("\nkill -9 figures:", json.dumps(figures))
    if os.environ.get("SIJAKON_CRASH_REPORT"):
        await asyncio.to_thread(Path(os.environ["SIJAKON_CRASH_REPORT"]).write_text,
                                json.dumps(figures, indent=1))
    assert bot.exits.count(-9) == KILLS and bot.exits[-2:] == [0, 0], bot.exits
    assert lost == 0 and not odd, figures | {"out of order": odd[:5]}
    assert written == figures["replies"], "a redelivered message was handled twice"
    # a message is sent twice only when the kill came after the platform took it and before
    # the process recorded it: such a row is among those the killed life left unsent
    assert after_stop == 0, "a SIGTERM or a redelivery made a message go twice"
    assert all(k.repeats <= k.unsent for k in kills), [(k.repeats, k.unsent) for k in kills]
    assert max(k.recovered for k in kills) <= RECOVER_WITHIN, figures


async def test_the_balancer_takes_turns_and_skips_a_dead_backend() -> None:
    """The harness's balancer: requests alternate between the backends, the body, headers
    and status pass both ways, a refusing backend is skipped, and with none left it is 502."""
    def backend(name: str) -> Listener:
        def answer(h: BaseHTTPRequestHandler) -> None:
            body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
            out = json.dumps({"name": name, "path": h.path, "body": body.decode(),
                              "secret": h.headers.get("X-Secret")}).encode()
            h.send_response(201 if body else 200)
            h.send_header("Content-Length", str(len(out)))
            h.send_header("X-Backend", name)
            h.end_headers()
            h.wfile.write(out)

        return Listener(name, answer, answer, keep_alive=True)

    a, b = backend("a"), backend("b")
    dead = free_port()
    ports = [int(x.url.rsplit(":", 1)[1]) for x in (a, b)]
    balancer = await Balancer([ports[0], dead, ports[1]]).start()
    try:
        async with httpx.AsyncClient(base_url=balancer.url) as client:
            seen = []
            for i in range(6):
                r = await client.post(f"/hook?i={i}", content=b"x" * i,
                                      headers={"X-Secret": "s"})
                got = r.json()
                assert r.status_code == (201 if i else 200)
                assert r.headers["X-Backend"] == got["name"]
                assert (got["path"], got["body"], got["secret"]) == (f"/hook?i={i}", "x" * i, "s")
                seen.append(got["name"])
            # a, (dead: skipped to b), b, a, (dead: skipped to b), b ...
            assert seen.count("a") >= 2 and seen.count("b") >= 2
            assert balancer.refused >= 2 and sum(balancer.forwarded.values()) == 6
            balancer.backends = [dead]
            assert (await client.get("/healthz")).status_code == 502
    finally:
        await balancer.close()
        a.close()
        b.close()
