"""Engine throughput and latency: N inbound messages from M concurrent simulated users.

Every message goes the whole way: dedupe insert, conversation load, the real menu step, state
save, outbox rows, access-history row, account touch, commit. Users are registered through
the engine first (the real onboarding), then each goes round a cycle of four messages as fast
as its previous one is committed: "Pesanan saya" (a query of their jobs), "menu", "Info jasa
konstruksi" (a query of the published topics), "menu" — typed labels, as on WhatsApp.

    .venv/bin/python bench/engine.py                 # SQLite, and PostgreSQL if it answers
    .venv/bin/python bench/engine.py --messages 20000 --users 1,50,200

Prints one row per (database, users): messages/s, p50/p99/max latency, peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flows.engine import Engine
from flows.types import Inbound
from storage.db import Database

WORKLOADS = {
    # steps that query domain rows on every message (a list of jobs, the info topics)
    "mixed": ("Pesanan saya", "menu", "Info jasa konstruksi", "menu"),
    # steps that only move through prompts: the engine's own cost per message
    "light": ("Bantuan", "Bantuan", "Bantuan", "Bantuan"),
}
CYCLE = WORKLOADS["mixed"]


async def register(engine: Engine, users: list[str]) -> None:
    async def one(name: str) -> None:
        for text in ("halo", "1", "Budi Bench", "081234567890", "1"):
            await engine.handle(Inbound("console", name, uuid.uuid4().hex, text=text))

    await asyncio.gather(*(one(u) for u in users))


async def run(url: str, users: int, messages: int,
              think: tuple[float, float] = (0.0, 0.0)) -> dict[str, float]:
    db = Database(url)
    await db.migrate()
    engine = Engine(db)
    names = [f"u{i}-{uuid.uuid4().hex[:6]}" for i in range(users)]
    await register(engine, names)
    per_user = max(1, messages // users)
    latencies: list[float] = []

    rng = random.Random(7)

    async def user(name: str) -> None:
        for i in range(per_user):
            if think[1] > 0:  # a person reading the answer and typing the next message
                await asyncio.sleep(rng.uniform(*think))
            t0 = time.perf_counter()
            await engine.handle(Inbound("console", name, uuid.uuid4().hex, text=CYCLE[i % 4]))
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(user(n) for n in names))
    elapsed = time.perf_counter() - start
    await engine.stop()
    await db.close()
    latencies.sort()
    return {
        "rate": len(latencies) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "max": latencies[-1] * 1000,
        "n": len(latencies),
    }


def pg_url() -> str | None:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            pass
    except OSError:
        return None
    return "postgresql+asyncpg://postgres@127.0.0.1:5432/{db}"


async def fresh_pg(template: str) -> str:
    import asyncpg

    name = f"bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return template.format(db=name)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--users", default="1,50,200")
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--workload", choices=sorted(WORKLOADS), default="mixed")
    ap.add_argument("--think", default="0,0",
                    help="seconds MIN,MAX each user waits before typing the next message "
                         "(0,0: a closed loop at saturation)")
    args = ap.parse_args()
    think = tuple(float(x) for x in args.think.split(","))
    print(f"think time between messages: {think[0]}-{think[1]} s")
    global CYCLE
    CYCLE = WORKLOADS[args.workload]
    print(f"workload: {args.workload} {CYCLE}")
    counts = [int(x) for x in args.users.split(",")]
    backends: list[tuple[str, str | None]] = [("sqlite", None)]
    if not args.no_pg and pg_url():
        backends.append(("postgresql", pg_url()))
    print(f"{'database':<11} {'users':>5} {'messages':>8} {'msg/s':>8} {'p50 ms':>7} "
          f"{'p99 ms':>7} {'max ms':>7} {'peak RSS MB':>11}")
    for label, template in backends:
        for users in counts:
            if template is None:
                tmp = tempfile.mkdtemp()
                url = f"sqlite+aiosqlite:///{tmp}/bench.db"
            else:
                url = await fresh_pg(template)
            r = await run(url, users, args.messages, think)  # type: ignore[arg-type]
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"{label:<11} {users:>5} {r['n']:>8.0f} {r['rate']:>8.0f} {r['p50']:>7.1f} "
                  f"{r['p99']:>7.1f} {r['max']:>7.1f} {rss:>11.0f}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
