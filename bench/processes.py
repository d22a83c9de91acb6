"""The engine bench in one and in two processes on one PostgreSQL database (Step 4).

    .venv/bin/python bench/processes.py                       # 50 users, 3 rounds
    .venv/bin/python bench/processes.py --users 16,50 --json  # the last line: one JSON object

Each "process" is a child Python process running `bench/engine.py`'s `engine_run` (the real
`Engine` with the real `DeliveryWorker` beside it, a console sink that sends at once) for its
share of the users, all children starting at the same instant on one database. With two, the
coordination of docs/scale.md is all in play: one child holds the sender lease and sends every
reply, the other queues its replies and wakes it with NOTIFY, and neither hands replies
straight over (that is only safe for a sender alone). Rounds alternate 1 and 2 processes, each
on a fresh copy of the same database, and the table shows medians: messages per second over
the slowest child's time, the latency percentiles over all messages, and the time until the
last reply was sent. On 2 cores the gain is small by design; the point is the cost of
coordination (CPU per message) and that replies still all go out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.engine import engine_run, register
from bench.postgres import PG_HOST, PG_PORT, pg_answers
from bench.rawpath import PgTarget, Run


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[max(0, int(q * len(s) + 0.999999) - 1)] * 1000 if s else 0.0


async def child(url: str, names: list[str], per_user: int, workload: str,
                start_at: float) -> None:
    """Run one share of the users from `start_at` (wall clock, shared by the children) and
    print the run as JSON."""
    logging.basicConfig(level=logging.ERROR)
    await asyncio.sleep(max(0.0, start_at - time.time()))
    run: Run = await engine_run(url, workload, names, per_user, (0.0, 0.0), None, settle=30.0)
    print(json.dumps({"latencies": run.latencies, "seconds": run.seconds, "cpu": run.cpu,
                      "sent": run.sent, "drained": run.drained}))


def spawn(url: str, shares: list[list[str]], per_user: int, workload: str) -> list[dict[str, Any]]:
    start_at = time.time() + 3.0  # every child imported and connected before it
    procs = [subprocess.Popen(  # our own script, fixed arguments
        [sys.executable, __file__, "--child", url, "--names", ",".join(share),
         "--per-user", str(per_user), "--workload", workload, "--start-at", str(start_at)],
        stdout=subprocess.PIPE, text=True) for share in shares]
    out = []
    for p in procs:
        stdout, _ = p.communicate(timeout=600)
        if p.returncode:
            raise SystemExit(f"a child failed (exit {p.returncode})")
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


async def sent_total(url: str) -> tuple[int, int]:
    """(rows written, rows sent) in the outbox after a run."""
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        row = await conn.fetchrow("SELECT count(*) AS n, count(*) FILTER (WHERE status = 'sent')"
                                  " AS sent FROM outbox")
        return int(row["n"]), int(row["sent"])
    finally:
        await conn.close()


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", default="50", help="users in all, comma-separated")
    ap.add_argument("--per-user", type=int, default=60, help="messages each user sends")
    ap.add_argument("--workload", choices=("light", "mixed"), default="light")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--names", help=argparse.SUPPRESS)
    ap.add_argument("--start-at", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        await child(args.child, args.names.split(","), args.per_user, args.workload,
                    args.start_at)
        return 0
    if not pg_answers():
        ap.error(f"nothing answers at {PG_HOST}:{PG_PORT}")
    logging.basicConfig(level=logging.ERROR)
    results: list[dict[str, Any]] = []
    target = PgTarget()
    try:
        for users in [int(u) for u in args.users.split(",")]:
            names = [f"bench{u:04d}" for u in range(users)]
            tpl = await target.template(0)
            await register(tpl, names)
            await target.seal()
            cells: dict[int, list[dict[str, float]]] = {1: [], 2: []}
            for _ in range(args.rounds):
                for procs in (1, 2):
                    url = await target.clone()
                    shares = [names[i::procs] for i in range(procs)]
                    t0 = time.perf_counter()
                    runs = spawn(url, shares, args.per_user, args.workload)
                    lat = [x for r in runs for x in r["latencies"]]
                    written, sent = await sent_total(url)
                    cells[procs].append({
                        "rate": len(lat) / max(r["seconds"] for r in runs),
                        "p50": _pct(lat, 0.5), "p99": _pct(lat, 0.99),
                        "cpu_ms": sum(r["cpu"] for r in runs) * 1000 / len(lat),
                        "unsent": written - sent, "drain_ms": 1000 * max(
                            r["drained"] for r in runs), "wall": time.perf_counter() - t0})
            for procs, rows in cells.items():
                med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
                results.append({"users": users, "processes": procs, **med})
    finally:
        await target.close()
    one = {r["users"]: r["rate"] for r in results if r["processes"] == 1}
    print(f"Engine in 1 and 2 processes on one PostgreSQL, {args.workload}, "
          f"{args.per_user} messages per user, {args.rounds} rounds (medians)\n")
    print("| users | processes | msg/s | × 1 process | p50 ms | p99 ms | cpu ms/msg | "
          "last reply sent after, ms | unsent |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['users']} | {r['processes']} | {r['rate']:,.0f} | "
              f"{r['rate'] / one[r['users']]:.2f} | {r['p50']:.1f} | {r['p99']:.1f} | "
              f"{r['cpu_ms']:.2f} | {r['drain_ms']:.0f} | {r['unsent']:.0f} |")
    print("\nlast reply sent after = from a child's last message until the outbox had nothing "
          "left to send (the slowest child); unsent = rows still unsent at the end (0 expected)")
    if args.json:
        print(json.dumps({"results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
