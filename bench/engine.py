"""Engine throughput and latency, against two anchors on the raw drivers, over growing history.

    .venv/bin/python bench/engine.py                  # SQLite, and PostgreSQL if it answers
    .venv/bin/python bench/engine.py --workload both --users 1,16,50 --rounds 5
    .venv/bin/python bench/engine.py --db sqlite --rows 1000,100000,1000000 --users 50
    .venv/bin/python bench/engine.py --json           # the last line: one JSON object

M simulated users in a closed loop: each sends its next message as soon as the previous one is
committed. Every message goes the whole way through the real `Engine.handle` (dedupe, the
conversation, the real steps, state, outbox rows, access history, account touch, commit),
with the real `DeliveryWorker` sending the replies meanwhile (to an in-process console sender
that returns at once), so the worker's claims and records compete for the write lock as in
the bot. Users are registered through the engine first. Workloads: "light" ("Bantuan" at the
menu: prompts only) and "mixed" ("Pesanan saya", "menu", "Info jasa konstruksi", "menu": half
the messages query domain rows).

Beside each engine run, in the same process and interleaved round by round, two anchors run
the engine's statements per message on the raw driver (aiosqlite / asyncpg, no SQLAlchemy, no
steps): `raw`, a transaction per message, and `batched`, the engine's group commit
(bench/rawpath.py). engine/anchor says how much the engine costs over its own bookkeeping.

`--rows N` first loads N conversations, N sent outbox rows and N dedupe rows; throughput at
each N against the smallest shows whether the hot path stays flat as history grows. Every
round starts from a copy of that database. Each row of the table is the median of `--rounds`
runs.

Reading the numbers: cpu ms/msg is this process's CPU (engine, worker, driver threads), not
PostgreSQL's server processes. The worker fails a reply as a loop after 20 identical ones to
one address in a minute (DESIGN.md "Loop guard"), so in long runs `worker_sent` (JSON) stays
below the rows written; it still claims and records every row. PostgreSQL on this machine
waits for a WAL flush at every commit, so its single-user rows follow the disk.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import math
import resource
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text as sql_text

from bench.postgres import PG_HOST, PG_PORT, pg_answers
from bench.rawpath import (
    PgTarget,
    Run,
    SqliteTarget,
    Target,
    closed_loop,
    drop_stale,
    median,
    run_anchor,
)
from bot.delivery import DeliveryWorker, OutRow
from bot.heap import settle_heap
from flows.engine import Engine
from flows.types import Inbound
from storage.clock import utcnow
from storage.db import Database

WORKLOADS = {
    # steps that only move through prompts: the engine's own cost per message
    "light": ("Bantuan",),
    # steps that query domain rows every other message (a list of jobs, the info topics)
    "mixed": ("Pesanan saya", "menu", "Info jasa konstruksi", "menu"),
}
REGISTER = ("halo", "1", "Budi Bench", "081234567890", "1")  # the real onboarding, as typed


class ConsoleSink:
    """A sender for the "console" channel that takes every message at once: what is left of
    delivery is the worker's own database work."""

    channel = "console"
    rate = 1_000_000.0
    burst = 1_000_000.0
    chat_rate: float | None = None
    chat_burst = 1

    def __init__(self) -> None:
        self.sent = 0

    async def send(self, row: OutRow) -> str | None:
        self.sent += 1
        return f"console-{row.id}"


def rss_mb(*, reset: bool = False) -> float:
    """Peak RSS since the last reset (Linux: VmHWM, reset through clear_refs), else the
    process's peak."""
    try:
        if reset:
            Path("/proc/self/clear_refs").write_text("5")
            return 0.0
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def register(url: str, names: list[str]) -> None:
    """Everyone through the real onboarding, each person's messages in order."""
    db = Database(url)
    engine = Engine(db, clock=utcnow)

    async def one(name: str) -> None:
        for i, text in enumerate(REGISTER):
            await engine.handle(Inbound("console", name, f"reg-{name}-{i}", text=text))

    try:
        await asyncio.gather(*(one(n) for n in names))
    finally:
        await engine.stop()
        await db.close()


async def engine_run(url: str, workload: str, names: list[str], per_user: int,
                     think: tuple[float, float], max_seconds: float | None, *,
                     deliver: bool = True, settle: float = 0.0) -> Run:
    """One measured run of the engine, with the delivery worker running beside it (unless
    `deliver` is off: to see what the worker costs the engine). `settle`: afterwards, wait up
    to this many seconds for the outbox to have nothing left to send (bench/processes.py:
    another process's rows may still be on their way), and count that time in `drained`."""
    rss_mb(reset=True)
    db = Database(url)
    sink = ConsoleSink()
    # synthetic users repeat one text on purpose: the loop guard (20 identical messages to
    # one address a minute) would fail and log most rows, which real traffic never does
    worker = DeliveryWorker(db, [sink], clock=utcnow, loop_limit=10**9)
    engine = Engine(db, clock=utcnow, on_output=worker.wake if deliver else None,
                    handoff=worker if deliver else None)
    task = asyncio.create_task(worker.run()) if deliver else None
    texts = WORKLOADS[workload]
    tag = uuid.uuid4().hex[:8]

    async def send(u: int, i: int) -> None:
        await engine.handle(Inbound("console", names[u], f"{tag}-{u}-{i}",
                                    text=texts[i % len(texts)]))

    async def warm(u: int, i: int) -> None:
        # the workload's texts once each (templates compiled, caches filled: a steady state,
        # as in a bot that has run a while), then "menu": the state every run starts in
        for j, text in enumerate((*texts, "menu")):
            await engine.handle(Inbound("console", names[u], f"{tag}-{u}-warm{j}", text=text))

    try:
        if task is not None:
            await worker.ready.wait()  # as `sijakon-bot run` takes no update before it
        await closed_loop(warm, len(names), 1)
        settle_heap()  # as `sijakon-bot run` does once it has started
        run = await closed_loop(send, len(names), per_user, think=think,
                                max_seconds=max_seconds)
        began = time.perf_counter()
        while settle and time.perf_counter() - began < settle and await _unsent(db):  # noqa: ASYNC110
            await asyncio.sleep(0.02)  # another process's rows: no event of ours says when
        run.drained = time.perf_counter() - began
    finally:
        await engine.stop()
        if task is not None:
            worker.stop()
            await task
        await db.close()
    run.rss_mb = rss_mb()
    run.sent = sink.sent
    # this run's engine was frozen with the start-up heap: unfrozen, its cycles can go (a
    # service settles once; the bench settles once per run and would otherwise keep them all)
    gc.unfreeze()
    gc.collect()
    return run


async def _unsent(db: Database) -> int:
    async with db.read() as s:
        return int((await s.execute(sql_text(
            "SELECT count(*) FROM outbox WHERE status IN ('queued', 'sending')"))).scalar_one())


@dataclass
class Cell:
    """The medians of one (database, workload, users, rows) over the rounds."""

    db: str
    workload: str
    users: int
    rows: int
    engine: list[Run]
    raw: list[Run]
    batched: list[Run]

    def result(self) -> dict[str, Any]:
        rate = median(self.engine, lambda r: r.rate)
        raw = median(self.raw, lambda r: r.rate)
        batched = median(self.batched, lambda r: r.rate)
        return {
            "db": self.db, "workload": self.workload, "users": self.users, "rows": self.rows,
            "rounds": len(self.engine), "messages": round(median(self.engine, lambda r: r.n)),
            "msg_per_s": round(rate, 1),
            "p50_ms": round(median(self.engine, lambda r: r.pct(0.5)), 2),
            "p99_ms": round(median(self.engine, lambda r: r.pct(0.99)), 2),
            "max_ms": round(median(self.engine, lambda r: r.pct(1.0)), 2),
            "max_ms_worst": round(max(r.pct(1.0) for r in self.engine), 2),
            "cpu_ms_per_msg": round(median(self.engine, lambda r: r.cpu_ms), 3),
            "anchor_raw_msg_per_s": round(raw, 1),
            "anchor_raw_p99_ms": round(median(self.raw, lambda r: r.pct(0.99)), 2),
            "anchor_raw_cpu_ms_per_msg": round(median(self.raw, lambda r: r.cpu_ms), 3),
            "anchor_batched_msg_per_s": round(batched, 1),
            "anchor_batched_p99_ms": round(median(self.batched, lambda r: r.pct(0.99)), 2),
            "anchor_batched_cpu_ms_per_msg": round(median(self.batched, lambda r: r.cpu_ms), 3),
            "ratio_raw": _div(rate, raw),
            "ratio_batched": _div(rate, batched),
            "worker_sent": round(median(self.engine, lambda r: r.sent)),
            "rss_mb": round(max(r.rss_mb for r in self.engine), 1),
        }


async def measure(target: Target, rows: int, workloads: list[str], users: list[int],
                  args: argparse.Namespace, think: tuple[float, float]) -> list[Cell]:
    """One template with `rows` of history and the users, then per (workload, users) the
    rounds: engine, anchor raw, anchor batched, on a fresh copy of the template per round,
    each with users of its own."""
    most = max(users)
    names = {who: [f"{who}{i}" for i in range(most)] for who in ("engine", "raw", "batched")}
    t0 = time.perf_counter()
    url = await target.template(rows)
    loaded = time.perf_counter() - t0
    await register(url, [n for group in names.values() for n in group])
    await target.seal()
    log(f"{target.label}: {rows:,} rows of history loaded in {loaded:.1f} s, "
        f"{3 * most} users registered ({time.perf_counter() - t0:.1f} s in all)")
    cap = args.max_seconds * 2 if args.max_seconds else None  # the anchors' guard rail
    cells = []
    for workload in workloads:
        for m in users:
            cell = Cell(target.label, workload, m, rows, [], [], [])
            per_user = math.ceil(args.messages / m)
            for rnd in range(args.rounds):
                run_url = await target.clone()
                try:
                    e = await engine_run(run_url, workload, names["engine"][:m], per_user,
                                         think, args.max_seconds, deliver=not args.no_worker)
                    cell.engine.append(e)
                    # the anchors send as many messages as the engine managed in its time
                    for mode, runs in (("raw", cell.raw), ("batched", cell.batched)):
                        runs.append(await run_anchor(target, run_url, mode, workload,
                                                     names[mode][:m], max(1, round(e.n / m)),
                                                     think, cap))
                finally:
                    await target.discard(run_url)
                log(f"  {target.label} {workload} users={m} rows={rows:,} round {rnd + 1}: "
                    f"engine {e.rate:,.0f}/s p99 {e.pct(0.99):.1f} ms, "
                    f"raw {cell.raw[-1].rate:,.0f}/s, batched {cell.batched[-1].rate:,.0f}/s")
            cells.append(cell)
    return cells


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def table(results: list[dict[str, Any]]) -> str:
    """The results as a Markdown table; adds each row's ratio to the same run with the fewest
    history rows, plain and divided by the batched anchor's (which cancels most of what other
    load on the machine did between the two)."""
    smallest: dict[tuple[str, str, int], dict[str, Any]] = {}
    for r in sorted(results, key=lambda r: r["rows"]):
        smallest.setdefault((r["db"], r["workload"], r["users"]), r)
    out = ["| db | workload | users | rows | msg/s | p50 ms | p99 ms | max ms | cpu ms/msg "
           "| raw msg/s | batched msg/s | engine/raw | engine/batched | vs fewest rows "
           "| ÷ anchor's | RSS MB |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        base = smallest[(r["db"], r["workload"], r["users"])]
        r["ratio_rows"] = _div(r["msg_per_s"], base["msg_per_s"])
        r["ratio_rows_anchored"] = _div(r["ratio_batched"], base["ratio_batched"])
        out.append(
            f"| {r['db']} | {r['workload']} | {r['users']} | {r['rows']:,} "
            f"| {r['msg_per_s']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} "
            f"| {r['max_ms']:.1f} | {r['cpu_ms_per_msg']:.2f} "
            f"| {r['anchor_raw_msg_per_s']:,.0f} | {r['anchor_batched_msg_per_s']:,.0f} "
            f"| {r['ratio_raw'] or 0:.2f} | {r['ratio_batched'] or 0:.2f} "
            f"| {r['ratio_rows'] or 0:.2f} | {r['ratio_rows_anchored'] or 0:.2f} "
            f"| {r['rss_mb']:.0f} |")
    return "\n".join(out)


def _div(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def ints(text: str) -> list[int]:
    return [int(x.replace("_", "")) for x in text.split(",") if x]


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", choices=("sqlite", "postgres", "both"), default=None,
                    help="default: sqlite, plus postgres when it answers at 127.0.0.1:5432")
    ap.add_argument("--workload", choices=(*WORKLOADS, "both"), default="light")
    ap.add_argument("--users", default="1,50", help="concurrent users, comma-separated")
    ap.add_argument("--messages", type=int, default=3000, help="messages per engine run")
    ap.add_argument("--max-seconds", type=float, default=2.0,
                    help="stop an engine run after this long (0: never); the anchors then "
                         "send as many messages as the engine did")
    ap.add_argument("--rows", default="1000",
                    help="history rows to preload (conversations, sent outbox, dedupe), "
                         "comma-separated, e.g. 1000,100000,1000000")
    ap.add_argument("--rounds", type=int, default=3, help="engine/anchor rounds; medians")
    ap.add_argument("--think", default="0,0",
                    help="seconds MIN,MAX each user waits before its next message "
                         "(0,0: a closed loop at saturation)")
    ap.add_argument("--no-worker", action="store_true",
                    help="run the engine without the delivery worker (to see its cost)")
    ap.add_argument("--drop-stale", action="store_true",
                    help="first drop leftover bench_* PostgreSQL databases (none whose "
                         "bench is still running)")
    ap.add_argument("--json", action="store_true", help="print the results as one JSON "
                    "object on the last line")
    args = ap.parse_args()
    args.max_seconds = args.max_seconds or None
    logging.basicConfig(level=logging.ERROR)
    lo, hi = (float(x) for x in args.think.split(","))
    workloads = list(WORKLOADS) if args.workload == "both" else [args.workload]
    users, rows = ints(args.users), sorted(ints(args.rows))
    pg = pg_answers()
    kinds = {"sqlite": ["sqlite"], "postgres": ["postgres"], "both": ["sqlite", "postgres"],
             None: ["sqlite", "postgres"] if pg else ["sqlite"]}[args.db]
    if "postgres" in kinds and not pg:
        ap.error(f"nothing answers at {PG_HOST}:{PG_PORT}")
    if args.drop_stale and pg:
        log(f"dropped stale databases: {', '.join(await drop_stale()) or 'none'}")
    started = datetime.now(UTC)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        for kind in kinds:
            target: Target = SqliteTarget(Path(tmp)) if kind == "sqlite" else PgTarget()
            try:
                for n in rows:
                    cells = await measure(target, n, workloads, users, args, (lo, hi))
                    results += [c.result() for c in cells]
            finally:
                await target.close()  # PostgreSQL: every bench_* database made here
    print(f"Engine bench, {started:%Y-%m-%d %H:%M} UTC, {args.rounds} rounds (medians), "
          f"up to {args.messages} messages / {args.max_seconds or '-'} s per engine run, "
          f"think {lo}-{hi} s, delivery worker "
          f"{'off' if args.no_worker else 'running'}\n")
    print(table(results))
    print("\nraw = the engine's statements per message on the bare driver, one transaction "
          "each; batched = the same in the engine's batches of up to 64. Anchors run no steps, "
          "no domain queries and no delivery worker. vs fewest rows = msg/s over msg/s with the "
          "fewest history rows; ÷ anchor's = engine/batched over the same with the fewest rows.")
    if args.json:
        print(json.dumps({"results": results}))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except KeyboardInterrupt:  # the databases were dropped on the way out
        log("interrupted")
        sys.exit(130)
