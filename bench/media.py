"""Memory of the bot while people send big files and someone floods a webhook.

    .venv/bin/python bench/media.py
    .venv/bin/python bench/media.py --photos 10 --megabytes 9.5 --webhooks 4 --json

The bot is the real `sijakon-bot run` (`bot.server.serve`: uvicorn, both adapters, engine,
delivery worker, SQLite) in this process; the Twilio and Telegram stand-ins run in their own
processes (the Twilio one holds the photos, so its memory is not counted here). Measured is
this process's resident set (/proc/self/statm, sampled every 2 ms from a thread), from a
baseline taken after one warm-up message with a photo:

- **photos**: `--webhooks` signed Twilio webhooks at once, each with `--photos` valid JPEGs
  of `--megabytes` MB (what issue 13 measured: 4 × 10 × 9.5 MB moved RSS 123 → 535 MB);
- **chunked**: one 200 MB POST without Content-Length to the WhatsApp webhook (unsigned) and
  to the Telegram webhook (with its secret): how much memory, how soon the 413.

`--json` prints one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from PIL import Image
from twilio.request_validator import RequestValidator

from bot.server import serve
from bot.settings import load_settings
from bot.telegram import SECRET_HEADER, WEBHOOK_PATH
from bot.whatsapp import INBOUND_PATH
from standins import free_port
from standins import telegram as tg_standin
from standins.twilio import TwilioStandIn

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "bench-auth-token"
FROM = "whatsapp:+14155238886"
SECRET = "bench_secret"
PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 1024 * 1024


@dataclass
class Row:
    case: str
    answers: str  # HTTP statuses (or errors) as they came
    seconds: float
    baseline_mb: float
    peak_mb: float
    growth_mb: float
    files_kept: int


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class Peak:
    """The highest RSS seen while it runs, sampled from a thread."""

    def __init__(self) -> None:
        self.high = rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.002):
            self.high = max(self.high, rss())

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.high = max(self.high, rss())


def jpeg(size: int) -> bytes:
    """A valid JPEG of `size` bytes (noise after the end marker, as camera trailers)."""
    out = io.BytesIO()
    Image.new("RGB", (640, 480), "teal").save(out, "JPEG")
    head = out.getvalue()
    return head + os.urandom(max(0, size - len(head)))


def twilio_in_process(conn: Any, count: int, size: int) -> None:
    """The Twilio stand-in holding `count` photos of `size` bytes (in a child process)."""
    server = TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN).start()
    photo = jpeg(size)
    small = server.add_media(jpeg(50_000), "image/jpeg")
    conn.send((server.url, small, [server.add_media(photo, "image/jpeg") for _ in range(count)]))
    conn.recv()
    server.stop()


def child(target: Any, *args: Any) -> tuple[Any, Any, multiprocessing.Process]:
    ctx = multiprocessing.get_context("spawn")
    parent, there = ctx.Pipe()
    proc = ctx.Process(target=target, args=(there, *args), daemon=True)
    proc.start()
    return parent, parent.recv(), proc


def webhook(url: str, n: int, media: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """A signed Twilio post from person `n` with `media`."""
    sid = f"SM{n:032x}"
    params = {"MessageSid": sid, "AccountSid": ACCOUNT_SID, "From": f"whatsapp:+628113{n:07d}",
              "To": FROM, "Body": "", "NumMedia": str(len(media))}
    for i, m in enumerate(media):
        params[f"MediaUrl{i}"], params[f"MediaContentType{i}"] = m, "image/jpeg"
    return params, {"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(
        url, params)}


class Flood:
    """A request body of `total` bytes, made as it is sent."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunk = b"a" * (64 * 1024)
        while self.sent < self.total:
            self.sent += len(chunk)
            yield chunk


async def flood(web: httpx.AsyncClient, path: str, headers: dict[str, str]) -> str:
    body = Flood(200 * MB)
    try:
        r = await web.post(path, content=body, headers=headers)
        answer = str(r.status_code)
    except httpx.HTTPError as exc:  # the 413 closes the connection while we still send
        answer = f"closed ({type(exc).__name__})"
    return f"{answer} after {body.sent / MB:.1f} MB sent"


async def run(args: argparse.Namespace) -> list[Row]:
    size = int(args.megabytes * MB)
    tw_conn, (tw_url, small, photos), tw_proc = child(twilio_in_process,
                                                      args.webhooks * args.photos, size)
    tg_conn, tg_url, tg_proc = child(tg_standin.serve_in_process)
    rows: list[Row] = []
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            _env_file=None, sijakon_data_dir=Path(tmp), sijakon_http_port=port,
            twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN,
            twilio_whatsapp_from=FROM, twilio_api_base_url=tw_url,
            twilio_webhook_url=base + INBOUND_PATH, telegram_bot_token=tg_standin.TOKEN,
            telegram_base_url=tg_url, telegram_webhook_url=f"https://bench.example{WEBHOOK_PATH}",
            telegram_webhook_secret=SECRET, sijakon_log_format="text")
        media_dir = settings.media_dir
        stop = asyncio.Event()
        bot = asyncio.create_task(serve(settings, stop=stop))
        try:
            async with httpx.AsyncClient(base_url=base, timeout=120) as web:
                for _ in range(500):  # up, and one photo handled (imports, pools, templates)
                    try:
                        params, headers = webhook(base + INBOUND_PATH, 999_999, [small])
                        if (await web.post(INBOUND_PATH, data=params, headers=headers)
                                ).status_code == 200:
                            break
                    except httpx.ConnectError:
                        pass
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.5)

                def kept() -> int:
                    return sum(1 for p in media_dir.rglob("*") if p.is_file())

                before, started = rss(), time.monotonic()
                with Peak() as peak:
                    posts = [webhook(base + INBOUND_PATH, n,
                                     photos[n * args.photos:(n + 1) * args.photos])
                             for n in range(args.webhooks)]
                    got = await asyncio.gather(*(web.post(INBOUND_PATH, data=p, headers=h)
                                                 for p, h in posts))
                took = time.monotonic() - started
                rows.append(Row(
                    f"whatsapp {args.webhooks} webhooks x {args.photos} photos x "
                    f"{args.megabytes:g} MB", " ".join(str(r.status_code) for r in got),
                    took, before / MB, peak.high / MB, (peak.high - before) / MB, kept()))

                for case, path, headers in (
                        ("whatsapp 200 MB chunked, unsigned", INBOUND_PATH,
                         {"Content-Type": "application/x-www-form-urlencoded"}),
                        ("telegram 200 MB chunked, with secret", WEBHOOK_PATH,
                         {"Content-Type": "application/json", SECRET_HEADER: SECRET})):
                    before, started = rss(), time.monotonic()
                    with Peak() as peak:
                        answer = await flood(web, path, headers)
                    rows.append(Row(case, answer, time.monotonic() - started, before / MB,
                                    peak.high / MB, (peak.high - before) / MB, kept()))
        finally:
            stop.set()
            await asyncio.wait_for(bot, 30)
            for conn, proc in ((tw_conn, tw_proc), (tg_conn, tg_proc)):
                conn.send("stop")
                proc.join(10)
    return rows


def table(rows: list[Row]) -> str:
    lines = [f"Bot process memory (RSS) under big files and floods; {os.cpu_count()} cores, "
             f"load average {os.getloadavg()[0]:.1f}", "",
             "| case | answers | seconds | RSS before MB | RSS peak MB | growth MB "
             "| files kept |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r.case} | {r.answers} | {r.seconds:.2f} | {r.baseline_mb:.0f} | "
                     f"{r.peak_mb:.0f} | {r.growth_mb:.1f} | {r.files_kept} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--webhooks", type=int, default=4)
    ap.add_argument("--photos", type=int, default=10)
    ap.add_argument("--megabytes", type=float, default=9.5)
    ap.add_argument("--json", action="store_true", help="also print one JSON object, last")
    args = ap.parse_args()
    rows = asyncio.run(run(args))
    print(table(rows))
    if args.json:
        print(json.dumps({"growth_mb": {r.case: round(r.growth_mb, 1) for r in rows},
                          "rows": [asdict(r) for r in rows],
                          "load_average": os.getloadavg()[0]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
