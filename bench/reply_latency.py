"""Reply latency on Telegram with an idle bot: an update is posted, how long until the reply's
`sendMessage` reaches the stand-in Bot API?

    .venv/bin/python bench/reply_latency.py
    .venv/bin/python bench/reply_latency.py --messages 60 --modes polling,webhook --json

The bot is the real `sijakon-bot run` (`bot.server.serve`: PTB, engine, delivery worker,
SQLite) in this process; the stand-in runs in its own process (no GIL shared with the bot) and
stamps each arrival with `time.monotonic()`, the system-wide clock this process uses too.
One person after another sends `/start` and waits for the welcome, with a random pause of
0.3–0.8 s between them, so the bot is idle when each message comes in.

- polling: the update is pushed into the stand-in's `getUpdates` queue (the bot's long poll
  returns at once);
- webhook: the update is POSTed to the bot's webhook (the 200 comes after the commit).

The anchor is the stand-in's own round trip (an HTTP request from this process and its
answer): the floor any reply sits on. `--json` prints one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bot.server import serve
from bot.settings import load_settings
from bot.telegram import SECRET_HEADER, WEBHOOK_PATH
from standins import free_port
from standins.telegram import TOKEN, serve_in_process

SECRET = "bench_secret"


@dataclass
class Row:
    mode: str
    messages: int
    anchor_ms: float  # the stand-in's round trip, p50
    ack_ms: float  # webhook: POST until its 200 (the commit), p50; polling: 0
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float


def update(update_id: int, chat_id: int) -> dict[str, object]:
    user = {"id": chat_id, "is_bot": False, "first_name": "Bench", "language_code": "id"}
    return {"update_id": update_id, "message": {
        "message_id": 1, "date": int(time.time()), "text": "/start", "from": user,
        "chat": {"id": chat_id, "type": "private", "first_name": "Bench"},
        "entities": [{"type": "bot_command", "offset": 0, "length": 6}]}}


def ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def anchor(standin: httpx.AsyncClient, n: int = 30) -> float:
    """p50 of the stand-in's round trip from here (the same hop the bot's sendMessage takes)."""
    took = []
    for _ in range(n):
        started = time.monotonic()
        await standin.get("/_standin/stats")
        took.append(time.monotonic() - started)
    return ms(took, 0.5)


async def measure(mode: str, messages: int, base_url: str, first_chat: int) -> Row:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        values: dict[str, object] = {
            "_env_file": None, "telegram_bot_token": TOKEN, "telegram_base_url": base_url,
            "sijakon_data_dir": Path(tmp), "sijakon_http_port": port}
        if mode == "webhook":
            values |= {"telegram_webhook_url": f"https://bench.example{WEBHOOK_PATH}",
                       "telegram_webhook_secret": SECRET}
        settings = load_settings(**values)
        stop = asyncio.Event()
        bot = asyncio.create_task(serve(settings, stop=stop))
        root = logging.getLogger()
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as standin, \
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as web:
            await warm_up(mode, standin, web, first_chat - 1)
            root.setLevel(logging.WARNING)  # serve() logs at INFO
            base = await anchor(standin)
            took, acks = [], []
            for i in range(messages):
                await asyncio.sleep(random.uniform(0.3, 0.8))
                chat = first_chat + i
                started = time.monotonic()
                if mode == "polling":
                    await standin.post("/_standin/push", json=update(10_000 + chat, chat))
                else:
                    r = await web.post(WEBHOOK_PATH, json=update(10_000 + chat, chat),
                                       headers={SECRET_HEADER: SECRET})
                    assert r.status_code == 200, r.status_code
                    acks.append(time.monotonic() - started)
                arrived = (await standin.get("/_standin/first_send",
                                             params={"chat_id": chat})).json()["at"]
                assert arrived is not None, f"no reply to chat {chat}"
                took.append(arrived - started)
        stop.set()
        await asyncio.wait_for(bot, 30)
    return Row(mode, messages, base, ms(acks, 0.5) if acks else 0.0, ms(took, 0.5),
               ms(took, 0.9), ms(took, 0.99), 1000 * max(took), 1000 * statistics.fmean(took))


async def warm_up(mode: str, standin: httpx.AsyncClient, web: httpx.AsyncClient,
                  chat: int) -> None:
    """One message before measuring: the bot is up, connections are open, templates loaded."""
    for _ in range(1000):
        try:
            if mode == "polling":
                await standin.post("/_standin/push", json=update(chat, chat))
            else:
                r = await web.post(WEBHOOK_PATH, json=update(chat, chat),
                                   headers={SECRET_HEADER: SECRET})
                if r.status_code != 200:  # 503 while the bot starts
                    raise httpx.ConnectError("starting")
            break
        except httpx.ConnectError:
            await asyncio.sleep(0.02)
    got = (await standin.get("/_standin/first_send", params={"chat_id": chat})).json()
    assert got["at"] is not None, "the bot never answered the warm-up message"


def table(rows: list[Row]) -> str:
    lines = [f"Reply latency, idle bot (update posted -> sendMessage at the stand-in); "
             f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}",
             "",
             "| mode | messages | stand-in round trip ms | webhook 200 ms | p50 ms | p90 ms "
             "| p99 ms | max ms | mean ms |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        ack = f"{r.ack_ms:.1f}" if r.mode == "webhook" else "-"
        lines.append(f"| {r.mode} | {r.messages} | {r.anchor_ms:.1f} | {ack} | "
                     f"{r.p50_ms:.1f} | {r.p90_ms:.1f} | {r.p99_ms:.1f} | {r.max_ms:.1f} | "
                     f"{r.mean_ms:.1f} |")
    return "\n".join(lines)


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=40)
    ap.add_argument("--modes", default="polling,webhook")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", action="store_true", help="also print one JSON object, last")
    args = ap.parse_args()
    random.seed(args.seed)
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve_in_process, args=(child,), daemon=True)
    server.start()
    base_url = parent.recv()
    rows: list[Row] = []
    try:
        for n, mode in enumerate(args.modes.split(",")):
            rows.append(await measure(mode, args.messages, base_url, 800_000 + n * 10_000))
    finally:
        parent.send("stop")
        server.join(10)
    print(table(rows))
    if args.json:  # the headline figures by mode, then every row in full
        print(json.dumps({"p50_ms": {r.mode: round(r.p50_ms, 1) for r in rows},
                          "p99_ms": {r.mode: round(r.p99_ms, 1) for r in rows},
                          "rows": [asdict(r) for r in rows],
                          "load_average": os.getloadavg()[0]}))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
