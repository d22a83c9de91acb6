"""Delivery pacing: queued outbox rows through the real senders and the real delivery worker to
the platforms' stand-ins over HTTP on 127.0.0.1, each enforcing its platform's limit with 429s.

    .venv/bin/python bench/delivery.py --channel both
    .venv/bin/python bench/delivery.py --channel whatsapp --messages 3000 --json
    .venv/bin/python bench/delivery.py --channel whatsapp --twilio-latency 0.2

The senders are `bot.telegram.TelegramSender` (python-telegram-bot) and
`bot.whatsapp.WhatsAppSender` (the `twilio` client), configured as an operator would
(TELEGRAM_BASE_URL / TWILIO_API_BASE_URL point them at the stand-ins). Each stand-in runs in its
own process and stamps arrivals with the system-wide monotonic clock:

- Telegram (`standins.telegram`): 30 messages/s overall (burst 3), 1/s per chat (burst 3), a
  message may arrive up to 50 ms early (`--grace`);
- Twilio (`standins.twilio`): at most `--whatsapp-rate` messages (80: Twilio's throughput per
  WhatsApp sender; WHATSAPP_RATE_PER_SECOND is set to the same) in any one-second window, no
  grace; `--twilio-latency` makes it answer late, as the real API ~0.2 s away does.

Two scenarios per channel (with `--channel both`, both channels' rows go through one worker at
the same time, as a broadcast to everyone does):

- many: N rows to N different addresses (mostly a broadcast, one in ten a reply or a
  notification): the overall rate;
- few: a handful of addresses. On Telegram 12 rows to each of 5 chats: each chat's 1/s limit
  (after its burst of 3) sets the allowed rate. On WhatsApp, which has no per-recipient limit
  here, N rows to 10 numbers: the worker sends one message at a time per address (their
  order), so this shows whether that holds the overall rate back (it does once the API is far
  away: 10 numbers / 0.15 s a round trip is at most ~67/s).

Per row: allowed/s, achieved/s (messages ÷ seconds from the worker's start to the last arrival),
their ratio, 429s, unsent, p50 queue-to-send (all rows are queued before the worker starts, so
this is mostly the backlog: about N ÷ 2 ÷ rate), the most messages that arrived within one
second, the TCP connections the Twilio client opened, the bot process's CPU per message, and
its resident set when the worker started and at its peak. The anchor is the stand-ins' HTTP
round trip from here. Target: ratio >= 95%, zero 429s (on runs of thousands: a short run
understates the rate by its start-up, the first claim and the first connections). `--json`
prints one JSON object as the last line: {"results": [...], "anchor_rtt_ms": {...},
"load_average": ..., "pass": ...}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from sqlalchemy import insert, select

from bot.delivery import DeliveryWorker, Sender
from bot.heap import settle_heap
from bot.settings import Settings, load_settings
from bot.telegram import TelegramSender
from bot.whatsapp import WhatsAppSender
from flows.outbox import PRIORITY_BROADCAST, PRIORITY_NOTIFY, PRIORITY_REPLY, Outgoing
from flows.types import Reply
from standins import telegram as tg_standin
from standins import twilio as twilio_standin
from storage.clock import utcnow
from storage.db import Database
from storage.models import ChannelAccount, User
from storage.sql import table

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "bench-auth-token"
FROM = "whatsapp:+14155238886"
TEXT = "Pesan <b>{i}</b> dari SIJAKON: pelatihan SKK gratis Sabtu pukul 09.00."
FEW_TELEGRAM_CHATS, FEW_TELEGRAM_EACH = 5, 12
FEW_WHATSAPP_NUMBERS = 10


@dataclass
class Result:
    channel: str
    scenario: str
    messages: int
    addresses: int
    allowed_per_s: float
    achieved_per_s: float
    ratio: float  # achieved / allowed
    throttled: int  # 429s the stand-in gave
    unsent: int
    seconds: float
    p50_queue_to_send_ms: float
    peak_1s: int  # most messages that arrived within any one second
    connections: int | None  # TCP connections the client opened (Twilio stand-in only)
    cpu_ms_per_msg: float  # the bot process (worker, senders, database), both channels
    rss_start_mb: float | None  # the bot process when the worker started
    peak_rss_mb: float  # the bot process's highest, so far

    @property
    def ok(self) -> bool:
        return self.ratio >= 0.95 and self.throttled == 0 and self.unsent == 0

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["429s"] = out.pop("throttled")
        return out


def rss_mb() -> float | None:
    """This process's resident set now (Linux), else None."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


@dataclass
class Plan:
    """What one channel gets in one scenario."""

    channel: str
    rows: list[tuple[str, int]]  # (address, priority)
    allowed: float
    url: str  # the stand-in's base URL
    stats_path: str


def addresses(channel: str, n: int, first: int) -> list[str]:
    if channel == "telegram":
        return [str(first + i) for i in range(n)]
    return [f"whatsapp:+6281{first + i:09d}" for i in range(n)]


def spread(targets: list[str], n: int, seed: int = 7) -> list[tuple[str, int]]:
    """n rows over `targets` in turn, mostly broadcast, one in ten (at random, so not all to
    one address) a reply or a notification, which the worker sends first."""
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        priority = (rnd.choice((PRIORITY_REPLY, PRIORITY_NOTIFY)) if rnd.random() < 0.1
                    else PRIORITY_BROADCAST)
        rows.append((targets[i % len(targets)], priority))
    return rows


async def seed_accounts(db: Database, channel: str, targets: list[str]) -> None:
    """People with accounts that wrote just now (WhatsApp: inside the 24-hour window)."""
    now = utcnow()
    users, accounts = table(User), table(ChannelAccount)
    async with db.transaction() as s:
        conn = await s.connection()
        first = (await conn.execute(select(users.c.id).order_by(users.c.id.desc())
                                    .limit(1))).scalar()
        await conn.execute(insert(users), [
            {"name": f"P{i}", "role": "warga", "locale": "id", "status": "active",
             "broadcast_opt_out": False, "topics": [], "is_demo": False,
             "phone_verified": True, "created_at": now, "updated_at": now}
            for i in range(len(targets))])
        ids = list((await conn.execute(select(users.c.id).where(users.c.id > (first or 0))
                                       .order_by(users.c.id))).scalars())
        await conn.execute(insert(accounts), [
            {"user_id": uid, "channel": channel, "address": address, "reachable": True,
             "last_seen_at": now, "last_inbound_at": now, "created_at": now}
            for uid, address in zip(ids, targets, strict=True)])


async def enqueue(db: Database, plans: list[Plan]) -> float:
    """Write every plan's rows in one transaction; the monotonic time of the commit."""
    out = Outgoing()
    for plan in plans:
        for i, (address, priority) in enumerate(plan.rows):
            out.add(plan.channel, address, None, "bench.row", Reply(text=TEXT.format(i=i)),
                    priority)
    async with db.transaction() as s:
        await out.write(s, utcnow())
    return time.monotonic()


async def stats(client: httpx.AsyncClient, plan: Plan, *, arrivals: bool = False
                ) -> dict[str, Any]:
    query = "?arrivals=1" if arrivals else ""
    return (await client.get(plan.url + plan.stats_path + query)).json()


async def run(db: Database, senders: list[Sender], plans: list[Plan], scenario: str,
              client: httpx.AsyncClient) -> list[Result]:
    """Queue the plans' rows, run one worker until every row arrived (or a deadline), and
    measure each channel from the stand-ins' arrival times."""
    before = [await stats(client, p) for p in plans]
    queued = await enqueue(db, plans)
    worker = DeliveryWorker(db, senders)
    rss_start = rss_mb()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = usage.ru_utime + usage.ru_stime
    started = time.monotonic()  # CLOCK_MONOTONIC: the stand-ins' clock too
    task = asyncio.create_task(worker.run(poll=0.05))
    deadline = started + max(60.0, 4 * max(len(p.rows) / p.allowed for p in plans))
    while time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        now = [await stats(client, p) for p in plans]
        if all(n["sent"] - b["sent"] >= len(p.rows) for n, b, p in zip(now, before, plans,
                                                                           strict=True)):
            break
    worker.stop()
    await task
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime - cpu0
    rss = usage.ru_maxrss / 1024  # KiB on Linux
    total = sum(len(p.rows) for p in plans)
    results = []
    for plan, b in zip(plans, before, strict=True):
        end = await stats(client, plan, arrivals=True)
        arrived = sorted(end["arrivals"][b["sent"]:])
        sent = len(arrived)
        seconds = max(1e-9, (arrived[-1] if arrived else time.monotonic()) - started)
        achieved = sent / seconds
        p50 = 1000 * (statistics.median(arrived) - queued) if arrived else float("nan")
        results.append(Result(
            plan.channel, scenario, len(plan.rows), len({a for a, _ in plan.rows}),
            round(plan.allowed, 2), round(achieved, 2), round(achieved / plan.allowed, 4),
            end["throttled"] - b["throttled"], len(plan.rows) - sent, round(seconds, 2),
            round(p50, 1), peak_1s(arrived),
            end["connections"] - b["connections"] if "connections" in end else None,
            round(1000 * cpu / max(1, total), 2),
            None if rss_start is None else round(rss_start, 1), round(rss, 1)))
    return results


def peak_1s(arrivals: list[float]) -> int:
    """The most arrivals within any one-second window (what a sliding-window limit sees)."""
    most, start = 0, 0
    for end, at in enumerate(arrivals):
        while arrivals[start] <= at - 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


async def anchor(client: httpx.AsyncClient, url: str, n: int = 30) -> float:
    """p50 ms of a stand-in's HTTP round trip from this process (the floor under any send)."""
    took = []
    for _ in range(n):
        started = time.monotonic()
        await client.get(url + "/_standin/stats")
        took.append(time.monotonic() - started)
    return round(1000 * statistics.median(took), 2)


def report(results: list[Result], args: argparse.Namespace, anchors: dict[str, float]) -> str:
    lines = [
        f"Delivery pacing: Telegram {args.telegram_rate:g}/s (per chat {args.chat_rate:g}/s, "
        f"burst {args.chat_burst}), WhatsApp {args.whatsapp_rate:g}/s (any one-second window); "
        "the stand-ins answer 429 above that",
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end; "
        "stand-in round trip p50: "
        + ", ".join(f"{k} {v:.2f} ms" for k, v in anchors.items()),
        "",
        "| channel | scenario | messages | addresses | allowed/s | achieved/s | ratio | 429s "
        "| unsent | seconds | p50 queue-to-send ms | most in 1 s | new connections "
        "| bot CPU ms/msg | RSS at start MB | peak RSS MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.channel} | {r.scenario} | {r.messages} | {r.addresses} | "
            f"{r.allowed_per_s:.1f} | {r.achieved_per_s:.1f} | {100 * r.ratio:.1f}% | "
            f"{r.throttled} | {r.unsent} | {r.seconds:.1f} | {r.p50_queue_to_send_ms:.0f} | "
            f"{r.peak_1s} | {'-' if r.connections is None else r.connections} | "
            f"{r.cpu_ms_per_msg:.2f} | "
            f"{'-' if r.rss_start_mb is None else f'{r.rss_start_mb:.0f}'} | "
            f"{r.peak_rss_mb:.0f} |")
    return "\n".join(lines)


def start_standin(target: Any, **kwargs: Any) -> tuple[multiprocessing.Process, Any, str]:
    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.Process(target=target, args=(child,), kwargs=kwargs, daemon=True)
    proc.start()
    return proc, parent, parent.recv()


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--channel", choices=("telegram", "whatsapp", "both"), default="both")
    ap.add_argument("--messages", type=int, default=3000,
                    help="rows in the many-addresses scenario (and WhatsApp's few)")
    ap.add_argument("--scenarios", default="many,few")
    ap.add_argument("--telegram-rate", type=float, default=30.0)
    ap.add_argument("--chat-rate", type=float, default=1.0)
    ap.add_argument("--chat-burst", type=int, default=3)
    ap.add_argument("--whatsapp-rate", type=float, default=80.0,
                    help="WHATSAPP_RATE_PER_SECOND, and the stand-in's limit")
    ap.add_argument("--twilio-limit", type=float, default=None,
                    help="the Twilio stand-in's limit if not the rate (0: none, to see how "
                         "close together messages would arrive)")
    ap.add_argument("--twilio-latency", type=float, default=0.0,
                    help="seconds the Twilio stand-in takes to answer (Twilio is ~0.2 s away)")
    ap.add_argument("--grace", type=float, default=0.05,
                    help="seconds early a message may reach the Telegram stand-in (jitter)")
    ap.add_argument("--json", action="store_true", help="also print one JSON object, last")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    channels = ["telegram", "whatsapp"] if args.channel == "both" else [args.channel]
    procs: list[tuple[multiprocessing.Process, Any]] = []
    urls: dict[str, str] = {}
    if "telegram" in channels:
        proc, pipe, urls["telegram"] = start_standin(
            tg_standin.serve_in_process, rate=args.telegram_rate,
            burst=max(1.0, args.telegram_rate / 10), chat_rate=args.chat_rate,
            chat_burst=args.chat_burst, grace=args.grace)
        procs.append((proc, pipe))
    if "whatsapp" in channels:
        proc, pipe, urls["whatsapp"] = start_standin(
            twilio_standin.serve_in_process, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN,
            rate=args.whatsapp_rate if args.twilio_limit is None else args.twilio_limit or None,
            latency=args.twilio_latency)
        procs.append((proc, pipe))
    results: list[Result] = []
    anchors: dict[str, float] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings: Settings = load_settings(
                _env_file=None, sijakon_data_dir=tmp,
                telegram_bot_token=tg_standin.TOKEN, telegram_base_url=urls.get("telegram"),
                telegram_rate_per_second=args.telegram_rate,
                telegram_chat_rate_per_second=args.chat_rate,
                telegram_chat_burst=args.chat_burst,
                twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN,
                twilio_whatsapp_from=FROM, twilio_api_base_url=urls.get("whatsapp"),
                whatsapp_rate_per_second=args.whatsapp_rate)
            db = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
            await db.migrate()
            senders: list[Sender] = []
            if "telegram" in channels:
                tg = TelegramSender(settings)
                await tg.start()  # as TelegramChannel.run does at start-up
                senders.append(tg)
            if "whatsapp" in channels:
                wa = WhatsAppSender(settings, clock=utcnow)
                assert wa.client.messages is not None  # twilio imports its API on first use
                senders.append(wa)
            settle_heap()  # as `sijakon-bot run` does once it has started
            async with httpx.AsyncClient(timeout=30) as client:
                for ch in channels:
                    anchors[ch] = await anchor(client, urls[ch])
                first = 100_000
                for scenario in args.scenarios.split(","):
                    plans = []
                    for ch in channels:
                        plan = await make_plan(db, ch, scenario, args, urls[ch], first)
                        first += 100_000
                        plans.append(plan)
                    results += await run(db, senders, plans, scenario, client)
            for sender in senders:
                if isinstance(sender, TelegramSender):
                    await sender.close()
            await db.close()
    finally:
        for proc, pipe in procs:
            pipe.send("stop")
            proc.join(10)
    print(report(results, args, anchors))
    ok = all(r.ok for r in results)
    print("\nresult:", "PASS" if ok else "FAIL", "(target: >= 95% of allowed/s, zero 429s)")
    if args.json:
        print(json.dumps({"results": [r.as_json() for r in results],
                          "anchor_rtt_ms": anchors, "load_average": os.getloadavg()[0],
                          "pass": ok}))
    return 0 if ok else 1


async def make_plan(db: Database, channel: str, scenario: str, args: argparse.Namespace,
                    url: str, first: int) -> Plan:
    """The rows of one channel in one scenario and the rate its platform allows for them."""
    if scenario == "many":
        targets = addresses(channel, args.messages, first)
        rows = spread(targets, args.messages)
        allowed = args.telegram_rate if channel == "telegram" else args.whatsapp_rate
    elif scenario == "few" and channel == "telegram":
        targets = addresses(channel, FEW_TELEGRAM_CHATS, first)
        rows = spread(targets, FEW_TELEGRAM_CHATS * FEW_TELEGRAM_EACH)
        # each chat: its burst at once, the rest at the chat rate, all chats side by side
        seconds = (FEW_TELEGRAM_EACH - args.chat_burst) / args.chat_rate
        allowed = min(args.telegram_rate, len(rows) / seconds)
    elif scenario == "few":
        targets = addresses(channel, FEW_WHATSAPP_NUMBERS, first)
        rows = spread(targets, args.messages)
        allowed = args.whatsapp_rate
    else:
        raise SystemExit(f"unknown scenario {scenario!r} (many, few)")
    await seed_accounts(db, channel, targets)
    return Plan(channel, rows, allowed, url, "/_standin/stats")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
