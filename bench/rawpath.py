"""The engine's message path on the raw drivers, for bench/engine.py: the anchors, bulk
history, and one database cloned per measured run.

An anchor does per message what the engine does (flows/engine.py), with nothing in between:
insert-ignore the dedupe row, select the conversation, update its state (JSON data, version+1,
updated_at), insert the outbox rows the engine writes for that message (same keys, payloads of
the same size), insert the access-history row, touch the account (`person_wrote`: seen,
reachable, held rows due). Steps, templates and domain queries are not run: the anchor is the
floor the engine's bookkeeping sits on.

- `raw`: one transaction per message; on SQLite writers queue on an asyncio lock in front of
  one connection (as `storage.db` does), on PostgreSQL a pool of connections, no lock;
- `batched`: the engine's group commit: one writer task drains up to 64 queued messages into
  one transaction, one statement (executemany) per kind.

Every round starts from a copy of one template database (schema, history rows, registered
users): the engine and the two anchors run on it one after another, each with users of its
own, and no round sees what an earlier one wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import random
import shutil
import sqlite3
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import aiosqlite
import asyncpg

from bench.postgres import PG_HOST, PG_PORT, PG_USER, pg_admin, pg_url

BATCH_MAX = 64  # as the engine's default batch_max

# --- what the engine writes per message ----------------------------------------------------

MENU = (("booking", "Pesan tukang"), ("jobs_mine", "Pesanan saya"),
        ("info", "Info jasa konstruksi"), ("pengaduan", "Pengaduan"),
        ("daftar_tukang", "Daftar sebagai tukang"), ("bantuan", "Bantuan"),
        ("subscriptions", "Langganan info"), ("pengaturan", "Pengaturan"))
MENU_TITLE = "<b>Menu utama</b> \u2014 pilih layanan:"
HELP = ("<b>Bantuan SIJAKON</b>\nLayanan ini <b>gratis</b>. Ketik:\n\u2022 <b>menu</b> \u2013 "
        "kembali ke menu utama\n\u2022 <b>batal</b> \u2013 batalkan langkah yang sedang "
        "berjalan\n\u2022 <b>bantuan</b> \u2013 tampilkan pesan ini\n\u2022 <b>stop</b> \u2013 "
        "berhenti menerima siaran informasi\nBalas pilihan dengan menekan tombol atau "
        "mengetik nomornya.")
# the replies of one message, as (key, text); "menu.home" carries the menu's choices. Per
# workload a cycle, as the texts the engine run sends (bench/engine.py WORKLOADS)
REPLIES: dict[str, tuple[tuple[tuple[str, str], ...], ...]] = {
    "light": ((("help.main", HELP),
               ("menu.help", "Pilih layanan dengan menekan tombol atau mengetik nomornya."),
               ("menu.home", MENU_TITLE)),),
    "mixed": ((("job.none_yet", "Anda belum punya pesanan. Pilih <b>Pesan tukang</b> untuk "
                "mulai."), ("menu.home", MENU_TITLE)),
              (("menu.home", MENU_TITLE),),
              (("info.none", "Belum ada informasi yang diterbitkan. Silakan cek lagi nanti."),
               ("menu.home", MENU_TITLE)),
              (("menu.home", MENU_TITLE),)),
}


@dataclass(slots=True)
class Msg:
    channel: str
    address: str
    external_id: str
    index: int  # the user's message number: picks the replies in the workload's cycle


@dataclass(slots=True)
class Conv:
    id: int
    user_id: int | None
    step: str
    data: dict[str, Any]


def apply(conv: Conv, m: Msg, workload: str, now: Any,
          outbox: list[tuple[Any, ...]], audit: list[tuple[Any, ...]]) -> None:
    """The state change and rows of one message, as the engine makes them: a new choice tag,
    the menu's choices saved for typed numbers, one outbox row per reply, one audit row."""
    cycle = REPLIES[workload]
    tag = int(conv.data.get("_tag", 0)) + 1
    choices = [[f"{tag}:{cid}", label] for cid, label in MENU]
    conv.data["_tag"] = tag
    conv.data["_choices"] = choices
    for key, text in cycle[m.index % len(cycle)]:
        payload = {"text": text, "choices": choices} if key == "menu.home" else {"text": text}
        outbox.append((m.channel, m.address, conv.user_id, key, json.dumps(payload), 0,
                       "queued", 0, now, now))
    if conv.user_id is not None:
        audit.append((f"user:{conv.user_id}", "message", "user", conv.user_id,
                      json.dumps({"from": conv.step, "to": conv.step, "kind": "text"}),
                      m.channel, now))


# --- the closed loop -------------------------------------------------------------------------


@dataclass
class Run:
    """One measured run: latencies in seconds, wall and CPU seconds."""

    latencies: list[float]
    seconds: float
    cpu: float
    rss_mb: float = 0.0
    sent: int = 0  # outbox rows the delivery worker sent during the run
    drained: float = 0.0  # seconds after the last message until nothing was left to send

    @property
    def n(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.n / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        s = sorted(self.latencies)
        return s[max(0, math.ceil(q * len(s)) - 1)] * 1000 if s else 0.0

    @property
    def cpu_ms(self) -> float:
        return self.cpu * 1000 / self.n if self.n else 0.0


async def closed_loop(send: Callable[[int, int], Awaitable[None]], users: int, per_user: int,
                      *, think: tuple[float, float] = (0.0, 0.0),
                      max_seconds: float | None = None) -> Run:
    """`users` tasks, each sending its next message as soon as the previous one returned
    (after a think time, if any); a user stops after `per_user` messages or `max_seconds`."""
    latencies: list[float] = []
    rng = random.Random(7)
    stop_at = time.perf_counter() + max_seconds if max_seconds else math.inf

    async def user(u: int) -> None:
        for i in range(per_user):
            if think[1] > 0:
                await asyncio.sleep(rng.uniform(*think))
            if time.perf_counter() >= stop_at:
                return
            t0 = time.perf_counter()
            await send(u, i)
            latencies.append(time.perf_counter() - t0)

    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(user(u) for u in range(users)))
    return Run(latencies, time.perf_counter() - t0, time.process_time() - cpu0)


def median(runs: list[Run], metric: Callable[[Run], float]) -> float:
    return statistics.median(metric(r) for r in runs) if runs else 0.0


class _Batcher:
    """The engine's writer task: queued messages drained into batches of up to 64, one
    `flush` (one transaction) per batch; `handle` returns once its batch committed."""

    def __init__(self, flush: Callable[[list[Msg]], Awaitable[None]]) -> None:
        self.flush = flush
        self.queue: asyncio.Queue[tuple[Msg, asyncio.Future[None]]] = asyncio.Queue()
        self.task = asyncio.create_task(self._run())

    async def handle(self, m: Msg) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self.queue.put((m, fut))
        await fut

    async def _run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while len(batch) < BATCH_MAX and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            try:
                await self.flush([m for m, _ in batch])
            except Exception as exc:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
            else:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_result(None)

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def run_anchor(target: Target, url: str, mode: str, workload: str, names: list[str],
                     per_user: int, think: tuple[float, float],
                     max_seconds: float | None = None) -> Run:
    """One anchor run (`raw` or `batched`) of `per_user` messages from each of `names`."""
    tag = uuid.uuid4().hex[:8]
    async with target.anchor(url, mode, workload) as handle:
        async def send(u: int, i: int) -> None:
            await handle(Msg("console", names[u], f"{tag}-{u}-{i}", i))

        async def warm(u: int, i: int) -> None:  # one each, not counted; a "menu" in mixed
            await handle(Msg("console", names[u], f"{tag}-{u}-warm", 3))

        await closed_loop(warm, len(names), 1)
        return await closed_loop(send, len(names), per_user, think=think,
                                 max_seconds=max_seconds)


# --- the databases ----------------------------------------------------------------------------


class Target(Protocol):
    """A database kind: a template with history, its copies, and the anchors on a copy."""

    label: str

    async def template(self, rows: int) -> str: ...
    async def seal(self) -> None: ...
    async def clone(self) -> str: ...
    async def discard(self, url: str) -> None: ...
    async def close(self) -> None: ...
    def anchor(self, url: str, mode: str, workload: str) -> Any: ...


MENU_JSON = json.dumps([[f"1:{cid}", label] for cid, label in MENU])
HIST_PAYLOAD = json.dumps({"text": MENU_TITLE, "choices": json.loads(MENU_JSON)})


class SqliteTarget:
    """SQLite files in a temporary directory; a copy is a file copy of the checkpointed
    template."""

    label = "sqlite"

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.path = tmp / "template.db"

    @staticmethod
    def url(path: Path) -> str:
        return f"sqlite+aiosqlite:///{path}"

    async def template(self, rows: int) -> str:
        for p in self.tmp.glob("template.db*"):
            p.unlink()
        await migrate_elsewhere(self.url(self.path))
        await asyncio.to_thread(self._preload, rows)
        return self.url(self.path)

    def _preload(self, n: int) -> None:
        """n conversations, n sent outbox rows and n dedupe rows (48 h worth), each one
        INSERT ... SELECT over a recursive CTE: no Python per row, and per row as few SQL
        function calls as can be (at a million rows each one costs seconds)."""
        end = int(datetime.now(UTC).timestamp())

        def seq(span: int) -> str:  # i, and a time: the higher the id, the more recent
            t = f"datetime({end} - ({n} - i) * {span} / {n}, 'unixepoch') || '.000000'"
            return (f"WITH RECURSIVE s(i, t) AS (SELECT 1, {t.replace('i)', '1)')} "
                    f"UNION ALL SELECT i + 1, {t.replace('i)', '(i + 1))')} FROM s "
                    f"WHERE i < {n}) ")

        ch = "CASE i % 2 WHEN 0 THEN 'telegram' ELSE 'whatsapp' END"
        addr = ("CASE i % 2 WHEN 0 THEN CAST(1000000000 + i AS TEXT) "
                "ELSE 'whatsapp:+62' || (81000000000 + i) END")
        con = sqlite3.connect(self.path, isolation_level=None)
        try:
            # no WAL while loading (it would hold every page twice until a checkpoint); a
            # rollback journal keeps nothing of pages that are new
            con.execute("PRAGMA journal_mode=DELETE")
            con.execute("BEGIN IMMEDIATE")
            con.execute(
                seq(90 * 86400) + "INSERT INTO conversation (channel, address, user_id, flow, "
                "step, data, locale, version, updated_at) "
                f"SELECT {ch}, {addr}, 100000 + i, 'menu', 'menu.home', "
                "'{\"_tag\": ' || (i % 97) || :rest, 'id', i % 50, t FROM s",
                {"rest": f', "_role": "warga", "_choices": {MENU_JSON}}}'})
            con.execute(
                seq(30 * 86400) + 'INSERT INTO outbox (channel, address, user_id, "key", '
                "payload, priority, status, attempts, next_attempt_at, provider_id, created_at, "
                f"sent_at) SELECT {ch}, {addr}, 100000 + i, 'menu.home', :payload, 0, 'sent', "
                "1, t, 'hist-' || (1000000000 + i), t, t FROM s", {"payload": HIST_PAYLOAD})
            con.execute(
                seq(48 * 3600) + "INSERT INTO processedupdate (channel, external_id, "
                f"received_at) SELECT {ch}, 'hist-' || (1000000000 + i), t FROM s")
            con.execute("COMMIT")
            con.execute("PRAGMA journal_mode=WAL")
        finally:
            con.close()

    async def seal(self) -> None:
        """Registration's replies count as sent (the worker starts on an empty queue); the
        WAL goes into the file, so a copy of the file is the whole database."""
        def run() -> None:
            con = sqlite3.connect(self.path, isolation_level=None)
            try:
                con.execute("UPDATE outbox SET status = 'sent' WHERE status = 'queued'")
                con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                con.close()

        await asyncio.to_thread(run)

    async def clone(self) -> str:
        path = self.tmp / f"run-{uuid.uuid4().hex[:8]}.db"
        await asyncio.to_thread(_durable_copy, self.path, path)
        return self.url(path)

    async def discard(self, url: str) -> None:
        path = Path(url.split("///", 1)[1])
        for p in path.parent.glob(path.name + "*"):
            p.unlink()

    async def close(self) -> None:
        return None

    @contextlib.asynccontextmanager
    async def anchor(self, url: str, mode: str, workload: str) -> Any:
        path = url.split("///", 1)[1]
        conn = await aiosqlite.connect(path, isolation_level=None)
        for pragma in ("foreign_keys=ON", "busy_timeout=5000", "synchronous=NORMAL",
                       "journal_mode=WAL"):
            await conn.execute(f"PRAGMA {pragma}")
        path_ = _SqlitePath(conn, workload)
        batcher = _Batcher(path_.flush) if mode == "batched" else None
        try:
            yield batcher.handle if batcher else path_.one
        finally:
            if batcher:
                await batcher.close()
            await conn.close()


async def migrate_elsewhere(url: str) -> None:
    """Migrate a new database in a child process: a bot starting on a database at head never
    imports Alembic, so neither does the process whose memory the bench measures."""
    code = ("import asyncio, sys\nfrom storage.db import Database\n"
            "async def main():\n    db = Database(sys.argv[1])\n    await db.migrate()\n"
            "    await db.close()\nasyncio.run(main())\n")
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", code, url)
    if await child.wait():
        raise RuntimeError(f"migrating the bench database failed ({child.returncode})")


def _durable_copy(src: Path, dst: Path) -> None:
    """Copy and fsync: else the run's first checkpoint (an fsync of the database file) waits
    for the whole copy to reach the disk, a stall of seconds at a million rows."""
    shutil.copyfile(src, dst)
    fd = os.open(dst, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _stamp() -> str:
    """Now as SQLAlchemy stores a DateTime in SQLite."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


# a conversation with its account's state (last inbound, reachable, rows held for it), as
# the engine reads it
_READ = ("SELECT c.id, c.channel, c.address, c.user_id, c.step, c.data, a.last_inbound_at, "
         "a.reachable, EXISTS (SELECT 1 FROM outbox o WHERE o.channel = c.channel "
         "AND o.address = c.address AND o.status = 'waiting') FROM conversation c "
         "LEFT JOIN channelaccount a ON a.channel = c.channel AND a.address = c.address ")
_SQLITE_CONV = _READ + "WHERE c.channel = ? AND c.address = ?"
_SQLITE_UPDATE = ("UPDATE conversation SET flow = ?, step = ?, data = ?, locale = ?, "
                  "user_id = ?, version = version + 1, updated_at = ? WHERE id = ?")
_SQLITE_OUTBOX = ('INSERT INTO outbox (channel, address, user_id, "key", payload, priority, '
                  "status, attempts, next_attempt_at, created_at) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_SQLITE_AUDIT = ("INSERT INTO auditlog (actor, action, subject_type, subject_id, detail, "
                 "channel, at) VALUES (?, ?, ?, ?, ?, ?, ?)")
_SQLITE_SEEN = ("UPDATE channelaccount SET last_seen_at = ?, last_inbound_at = ?, reachable = 1, "
                "unreachable_reason = NULL WHERE channel = ? AND address = ?")
_SQLITE_HELD = ("UPDATE outbox SET status = 'queued', next_attempt_at = ? "
                "WHERE channel = ? AND address = ? AND status = 'waiting'")


def _sqlite_read_many(keys: list[tuple[str, str]]) -> tuple[str, list[str]]:
    """One `channel = ? AND address IN (...)` per channel: SQLite 3.40 scans the whole table
    for `(channel, address) IN (VALUES ...)`."""
    by_channel: dict[str, list[str]] = {}
    for channel, address in keys:
        by_channel.setdefault(channel, []).append(address)
    parts, params = [], []
    for channel, addresses in sorted(by_channel.items()):
        marks = ", ".join("?" * len(addresses))
        parts.append(_READ + f"WHERE c.channel = ? AND c.address IN ({marks})")
        params += [channel, *addresses]
    return " UNION ALL ".join(parts), params


class _SqlitePath:
    def __init__(self, conn: aiosqlite.Connection, workload: str) -> None:
        self.conn = conn
        self.workload = workload
        self.lock = asyncio.Lock()

    async def one(self, m: Msg) -> None:
        """One message, one transaction."""
        c = self.conn
        async with self.lock:
            now = _stamp()
            await c.execute("BEGIN IMMEDIATE")
            try:
                fresh = await c.execute_fetchall(
                    "INSERT INTO processedupdate (channel, external_id, received_at) "
                    "VALUES (?, ?, ?) ON CONFLICT (channel, external_id) DO NOTHING "
                    "RETURNING id", (m.channel, m.external_id, now))
                if fresh:
                    found = await c.execute_fetchall(_SQLITE_CONV, (m.channel, m.address))
                    row = next(iter(found))
                    conv = Conv(row[0], row[3], row[4], json.loads(row[5] or "{}"))
                    outbox: list[tuple[Any, ...]] = []
                    audit: list[tuple[Any, ...]] = []
                    apply(conv, m, self.workload, now, outbox, audit)
                    await c.execute(_SQLITE_UPDATE, ("menu", conv.step, json.dumps(conv.data),
                                                     "id", conv.user_id, now, conv.id))
                    await c.executemany(_SQLITE_OUTBOX, outbox)
                    await c.executemany(_SQLITE_AUDIT, audit)
                    await c.execute(_SQLITE_SEEN, (now, now, m.channel, m.address))
                    await c.execute(_SQLITE_HELD, (now, m.channel, m.address))
                await c.execute("COMMIT")
            except BaseException:
                await c.execute("ROLLBACK")
                raise

    async def flush(self, batch: list[Msg]) -> None:
        """A batch, one transaction, one statement per kind."""
        c = self.conn
        async with self.lock:
            now = _stamp()
            await c.execute("BEGIN IMMEDIATE")
            try:
                seen = {(m.channel, m.external_id): m for m in batch}
                inserted = await c.execute_fetchall(
                    "INSERT INTO processedupdate (channel, external_id, received_at) VALUES "
                    + ", ".join(["(?, ?, ?)"] * len(seen))
                    + " ON CONFLICT (channel, external_id) DO NOTHING "
                    "RETURNING channel, external_id",
                    [v for ch, ext in seen for v in (ch, ext, now)])
                fresh = {(r[0], r[1]) for r in inserted}
                todo = [m for m in batch if (m.channel, m.external_id) in fresh]
                if todo:
                    keys = sorted({(m.channel, m.address) for m in todo})
                    rows = await c.execute_fetchall(*_sqlite_read_many(keys))
                    convs = {(r[1], r[2]): Conv(r[0], r[3], r[4], json.loads(r[5] or "{}"))
                             for r in rows}
                    outbox: list[tuple[Any, ...]] = []
                    audit: list[tuple[Any, ...]] = []
                    for m in todo:
                        apply(convs[(m.channel, m.address)], m, self.workload, now, outbox,
                              audit)
                    await c.executemany(_SQLITE_UPDATE, [
                        ("menu", v.step, json.dumps(v.data), "id", v.user_id, now, v.id)
                        for v in convs.values()])
                    await c.executemany(_SQLITE_OUTBOX, outbox)
                    await c.executemany(_SQLITE_AUDIT, audit)
                    await c.executemany(_SQLITE_SEEN, [(now, now, ch, a) for ch, a in keys])
                    await c.executemany(_SQLITE_HELD, [(now, ch, a) for ch, a in keys])
                await c.execute("COMMIT")
            except BaseException:
                await c.execute("ROLLBACK")
                raise


# --- PostgreSQL -------------------------------------------------------------------------------


OWNER = "bench/engine.py pid "  # the comment on each database made here: who may drop it


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def drop_stale() -> list[str]:
    """Drop leftover bench_* databases: nobody connected, and the bench process that made
    them (named in the database's comment) gone, so a bench running beside us keeps its own
    (its template has no connection between runs)."""
    rows = await pg_admin(
        "SELECT datname, shobj_description(oid, 'pg_database') AS note FROM pg_database d "
        "WHERE datname LIKE 'bench\\_%' AND NOT EXISTS "
        "(SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)")
    names = []
    for r in rows:
        note = r["note"] or ""
        if note.startswith(OWNER) and _alive(int(note[len(OWNER):] or 0)):
            continue
        await pg_admin(f'DROP DATABASE IF EXISTS "{r["datname"]}" WITH (FORCE)')
        names.append(r["datname"])
    return names


class PgTarget:
    """PostgreSQL databases named bench_<hex>; a copy is CREATE DATABASE ... TEMPLATE. Every
    database made here is dropped by `close`, whatever happened."""

    label = "postgres"

    def __init__(self) -> None:
        self.made: list[str] = []
        self.tpl: str | None = None

    @staticmethod
    def url(name: str) -> str:
        return pg_url(name)

    @staticmethod
    def name(url: str) -> str:
        return url.rsplit("/", 1)[1]

    async def _create(self, template: str | None = None) -> str:
        name = f"bench_{uuid.uuid4().hex[:12]}"
        self.made.append(name)
        sql = f'CREATE DATABASE "{name}"'
        if template:
            sql += f' TEMPLATE "{template}" STRATEGY FILE_COPY'
        for attempt in range(50):  # the template's last session may still be closing
            try:
                await pg_admin(sql)
                await pg_admin(f"COMMENT ON DATABASE \"{name}\" IS '{OWNER}{os.getpid()}'")
                return name
            except asyncpg.ObjectInUseError:
                if attempt == 49:
                    raise
                await asyncio.sleep(0.1)
        raise AssertionError("unreachable")

    async def template(self, rows: int) -> str:
        if self.tpl:
            await self._drop(self.tpl)
        self.tpl = await self._create()
        await migrate_elsewhere(self.url(self.tpl))
        conn = await self._connect(self.tpl)
        try:
            await self._preload(conn, rows)
        finally:
            await conn.close()
        return self.url(self.tpl)

    @staticmethod
    async def _connect(name: str) -> asyncpg.Connection:
        return await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=name)

    @staticmethod
    async def _preload(conn: asyncpg.Connection, n: int) -> None:
        ch = "CASE i % 2 WHEN 0 THEN 'telegram' ELSE 'whatsapp' END"
        addr = ("CASE i % 2 WHEN 0 THEN (1000000000 + i)::text "
                "ELSE 'whatsapp:+628' || lpad(i::text, 10, '0') END")

        def ago(span: int) -> str:  # the higher the id, the more recent, as in real tables
            return f"now() - (($1::int - i)::bigint * {span} / $1::int) * interval '1 second'"

        async with conn.transaction():
            await conn.execute(
                "INSERT INTO conversation (channel, address, user_id, flow, step, data, locale, "
                f"version, updated_at) SELECT {ch}, {addr}, 100000 + i, 'menu', 'menu.home', "
                "('{\"_tag\": ' || (i % 97) || ', \"_role\": \"warga\", \"_choices\": ' "
                f"|| $2 || '}}')::json, 'id', i % 50, {ago(90 * 86400)} "
                "FROM generate_series(1, $1::int) i", n, MENU_JSON)
            await conn.execute(
                'INSERT INTO outbox (channel, address, user_id, "key", payload, priority, '
                "status, attempts, next_attempt_at, provider_id, created_at, sent_at) "
                f"SELECT {ch}, {addr}, 100000 + i, 'menu.home', $2::json, 0, 'sent', 1, t, "
                "'hist-' || lpad(i::text, 9, '0'), t, t "
                f"FROM (SELECT i, {ago(30 * 86400)} AS t FROM generate_series(1, $1::int) i) s",
                n, HIST_PAYLOAD)
            await conn.execute(
                "INSERT INTO processedupdate (channel, external_id, received_at) "
                f"SELECT {ch}, 'hist-' || lpad(i::text, 9, '0'), {ago(48 * 3600)} "
                "FROM generate_series(1, $1::int) i", n)

    async def seal(self) -> None:
        """Registration's replies count as sent; VACUUM ANALYZE, as autovacuum would have done
        by the time a database holds this history."""
        assert self.tpl
        conn = await self._connect(self.tpl)
        try:
            await conn.execute("UPDATE outbox SET status = 'sent' WHERE status = 'queued'")
            await conn.execute("VACUUM ANALYZE")
        finally:
            await conn.close()

    async def clone(self) -> str:
        assert self.tpl
        return self.url(await self._create(self.tpl))

    async def discard(self, url: str) -> None:
        await self._drop(self.name(url))

    async def _drop(self, name: str) -> None:
        await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.made:
            self.made.remove(name)

    async def close(self) -> None:
        for name in list(self.made):
            await self._drop(name)

    @contextlib.asynccontextmanager
    async def anchor(self, url: str, mode: str, workload: str) -> Any:
        name = self.name(url)
        size = 10 if mode == "raw" else 1  # as storage.db's pool; the batcher needs one
        pool = await asyncpg.create_pool(host=PG_HOST, port=PG_PORT, user=PG_USER,
                                         database=name, min_size=size, max_size=size)
        path_ = _PgPath(pool, workload)
        batcher = _Batcher(path_.flush) if mode == "batched" else None
        try:
            yield batcher.handle if batcher else path_.one
        finally:
            if batcher:
                await batcher.close()
            await pool.close()


_PG_DEDUPE = ("INSERT INTO processedupdate (channel, external_id, received_at) "
              "VALUES ($1, $2, $3) ON CONFLICT (channel, external_id) DO NOTHING RETURNING id")
_PG_CONV = _READ + "WHERE c.channel = $1 AND c.address = $2 FOR UPDATE OF c"
_PG_UPDATE = ("UPDATE conversation SET flow = $1, step = $2, data = $3, locale = $4, "
              "user_id = $5, version = version + 1, updated_at = $6 WHERE id = $7")
_PG_OUTBOX = ('INSERT INTO outbox (channel, address, user_id, "key", payload, priority, status, '
              "attempts, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
              "$9, $10)")
_PG_AUDIT = ("INSERT INTO auditlog (actor, action, subject_type, subject_id, detail, channel, "
             "at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
_PG_SEEN = ("UPDATE channelaccount SET last_seen_at = $1, last_inbound_at = $2, reachable = true, "
            "unreachable_reason = NULL WHERE channel = $3 AND address = $4")
_PG_HELD = ("UPDATE outbox SET status = 'queued', next_attempt_at = $1 "
            "WHERE channel = $2 AND address = $3 AND status = 'waiting'")


class _PgPath:
    def __init__(self, pool: asyncpg.Pool, workload: str) -> None:
        self.pool = pool
        self.workload = workload

    async def one(self, m: Msg) -> None:
        """One message, one transaction, on a pooled connection."""
        now = datetime.now(UTC)
        async with self.pool.acquire() as c, c.transaction():
            if await c.fetchval(_PG_DEDUPE, m.channel, m.external_id, now) is None:
                return
            row = await c.fetchrow(_PG_CONV, m.channel, m.address)
            conv = Conv(row["id"], row["user_id"], row["step"], json.loads(row["data"] or "{}"))
            outbox: list[tuple[Any, ...]] = []
            audit: list[tuple[Any, ...]] = []
            apply(conv, m, self.workload, now, outbox, audit)
            await c.execute(_PG_UPDATE, "menu", conv.step, json.dumps(conv.data), "id",
                            conv.user_id, now, conv.id)
            await c.executemany(_PG_OUTBOX, outbox)
            await c.executemany(_PG_AUDIT, audit)
            await c.execute(_PG_SEEN, now, now, m.channel, m.address)
            await c.execute(_PG_HELD, now, m.channel, m.address)

    async def flush(self, batch: list[Msg]) -> None:
        """A batch, one transaction, one statement per kind (arrays where rows come back)."""
        now = datetime.now(UTC)
        async with self.pool.acquire() as c, c.transaction():
            seen = {(m.channel, m.external_id) for m in batch}
            inserted = await c.fetch(
                "INSERT INTO processedupdate (channel, external_id, received_at) "
                "SELECT ch, ext, $3 FROM unnest($1::varchar[], $2::varchar[]) AS u(ch, ext) "
                "ON CONFLICT (channel, external_id) DO NOTHING RETURNING channel, external_id",
                [s[0] for s in seen], [s[1] for s in seen], now)
            fresh = {(r["channel"], r["external_id"]) for r in inserted}
            todo = [m for m in batch if (m.channel, m.external_id) in fresh]
            if not todo:
                return
            keys = sorted({(m.channel, m.address) for m in todo})
            rows = await c.fetch(
                _READ.replace("FROM conversation c ", "FROM conversation c JOIN unnest("
                              "$1::varchar[], $2::varchar[]) AS k(channel, address) ON "
                              "c.channel = k.channel AND c.address = k.address ")
                + "ORDER BY c.id FOR UPDATE OF c", [k[0] for k in keys], [k[1] for k in keys])
            convs = {(r["channel"], r["address"]): Conv(r["id"], r["user_id"], r["step"],
                                                        json.loads(r["data"] or "{}"))
                     for r in rows}
            outbox: list[tuple[Any, ...]] = []
            audit: list[tuple[Any, ...]] = []
            for m in todo:
                apply(convs[(m.channel, m.address)], m, self.workload, now, outbox, audit)
            await c.executemany(_PG_UPDATE, [
                ("menu", v.step, json.dumps(v.data), "id", v.user_id, now, v.id)
                for v in convs.values()])
            await c.executemany(_PG_OUTBOX, outbox)
            await c.executemany(_PG_AUDIT, audit)
            await c.executemany(_PG_SEEN, [(now, now, ch, a) for ch, a in keys])
            await c.executemany(_PG_HELD, [(now, ch, a) for ch, a in keys])
