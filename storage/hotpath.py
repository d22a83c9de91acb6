"""The engine's per-batch statements, on the database driver itself.

Every inbound message costs the same handful of statements (dedupe row, conversation read,
conversation write, outbox row, access-history row, account touch). Through SQLAlchemy each
of them paid for statement compilation, per-row bind processing (the JSON dumps and the same
timestamp formatted again for every column) and, on SQLite, about three thread hops; at 50
users that was two thirds of the engine's CPU (docs/PERFORMANCE.md). Here they are fixed SQL
strings run on the DBAPI connection of the batch's own transaction: parameters are
serialised once, in the column format SQLAlchemy itself writes (so rows are byte-identical
and the ORM reads them back unchanged), and a batch's writes go down in one thread hop on
SQLite (one pipelined `executemany` per statement on asyncpg).

Both dialects read conversations through the `(channel, address)` unique index: SQLite 3.40
does a full scan for `(channel, address) IN (VALUES ...)`, so it gets one `channel = ? AND
address IN (...)` per channel; PostgreSQL joins `unnest` arrays and locks the rows it read.

Domain rows (jobs, offers, users...) are not here: steps use the ORM, in a session opened on
the same connection only when a step asks for one, or a `storage.reads.Read` for a list read
on every visit (`rows`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import run_on_driver
from storage.reads import Read

# The columns of a conversation as the engine reads them.
CONV_COLUMNS = "c.id, c.channel, c.address, c.user_id, c.flow, c.step, c.data, c.locale, " \
    "c.version, c.updated_at"

# An account is touched when its person writes, unless it was already touched this recently
# and is reachable: the check is in the UPDATE itself, so it is made under the row's lock
# (a refusal another process committed meanwhile is still undone by the person's message).
TOUCH_AFTER = timedelta(minutes=1)


@dataclass(slots=True)
class ConvRow:
    """A conversation as read for a batch."""

    id: int
    channel: str
    address: str
    user_id: int | None
    flow: str
    step: str
    data: dict[str, Any]
    locale: str
    version: int
    updated_at: datetime | None


@dataclass(slots=True)
class BatchWrites:
    """Everything a batch writes besides the steps' domain rows."""

    conversations: list[tuple[int, str, str, dict[str, Any], str, int | None]]
    # (id, flow, step, data, locale, user_id)
    outbox: list[tuple[str, str, int | None, str, dict[str, Any], int, datetime | None,
                       datetime | None]]
    # (channel, address, user_id, key, payload, priority, lease, due): with a lease the row is
    # written already claimed ("sending", attempt 1) for this process's worker; with `due`
    # it waits until then (an offer held through the night, flows.outbox.waking_due)
    audit: list[tuple[str, str, str, int | None, dict[str, Any], str | None]]
    # (actor, action, subject_type, subject_id, detail, channel)
    touched: list[tuple[str, str]]  # accounts whose person wrote
    owner: int | None = None  # the worker the leased outbox rows are written for


class HotPath(Protocol):
    """The engine's statements for one batch transaction."""

    async def dedupe(self, keys: Sequence[tuple[str, str]], now: datetime,
                     convs: Sequence[tuple[str, str]]) -> tuple[set[tuple[str, str]],
                                                                list[ConvRow]]:
        """Insert the (channel, external_id) rows; return the ones that were new, and the
        conversations at `convs` (the batch's first two statements, together)."""

    async def fetch(self, keys: Sequence[tuple[str, str]]) -> list[ConvRow]:
        """The conversations at these (channel, address), locked for the batch."""

    async def create(self, rows: Sequence[tuple[str, str, str]], step: str,
                     now: datetime) -> None:
        """Start conversations at (channel, address, locale), at `step`, unless they exist."""

    async def write(self, w: BatchWrites, now: datetime) -> list[tuple[int, int]]:
        """Conversation updates, outbox rows, access history and account touches; returns
        (id, payload digest) of each leased outbox row, in order."""

    async def rows(self, read: Read, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """A step's `Read`, on the driver, in the batch's transaction."""


def dumps(value: Any) -> str:
    """JSON as SQLAlchemy's JSON type writes it (its default serializer is `json.dumps`)."""
    return json.dumps(value)


def sqlite_time(value: datetime) -> str:
    """A time as SQLAlchemy's SQLite DATETIME stores it (UTC, no zone, microseconds)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def sqlite_read_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


def _json_value(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _conv(r: Sequence[Any], read_time: Callable[[Any], datetime | None]) -> ConvRow:
    data = _json_value(r[6])
    return ConvRow(id=r[0], channel=r[1], address=r[2], user_id=r[3], flow=r[4], step=r[5],
                   data=dict(data or {}), locale=r[7], version=r[8],
                   updated_at=read_time(r[9]))


_UPDATE_CONV = ("UPDATE conversation SET flow = {p1}, step = {p2}, data = {p3}, "
                "locale = {p4}, user_id = {p5}, version = version + 1, updated_at = {p6} "
                "WHERE id = {p7}")
_INSERT_OUTBOX = ("INSERT INTO outbox (channel, address, user_id, \"key\", payload, priority, "
                  "status, attempts, next_attempt_at, created_at) "
                  "VALUES ({p1}, {p2}, {p3}, {p4}, {p5}, {p6}, 'queued', 0, {p7}, {p8})")
_INSERT_LEASED = ("INSERT INTO outbox (channel, address, user_id, \"key\", payload, priority, "
                  "status, attempts, next_attempt_at, created_at, claimed_until, claimed_by) "
                  "VALUES ({p1}, {p2}, {p3}, {p4}, {p5}, {p6}, 'sending', 1, {p7}, {p8}, {p9}, "
                  "{p10})")
_INSERT_AUDIT = ("INSERT INTO auditlog (actor, action, subject_type, subject_id, detail, "
                 "channel, at) VALUES ({p1}, {p2}, {p3}, {p4}, {p5}, {p6}, {p7})")
_TOUCH = ("UPDATE channelaccount SET last_seen_at = {p1}, last_inbound_at = {p2}, "
          "reachable = {true}, unreachable_reason = NULL WHERE channel = {p3} AND address = {p4} "
          "AND (reachable = {false} OR last_inbound_at IS NULL OR last_inbound_at < {p5})")
# someone wrote: what waited for them goes now (a closed WhatsApp window, or held through
# the night); a retry's backoff (attempts > 0) is left as it is
_RELEASE = ("UPDATE outbox SET status = 'queued', next_attempt_at = {p1} "
            "WHERE channel = {p2} AND address = {p3} AND (status = 'waiting' "
            "OR (status = 'queued' AND attempts = 0 AND next_attempt_at > {p4}))")


def _qmark(sql: str, **extra: str) -> str:
    return sql.format(**{f"p{i}": "?" for i in range(1, 11)}, **extra)


def _dollar(sql: str, **extra: str) -> str:
    return sql.format(**{f"p{i}": f"${i}" for i in range(1, 11)}, **extra)


class SqliteHotPath:
    """aiosqlite: one statement per read, the batch's writes in one hop to its thread."""

    UPDATE_CONV = _qmark(_UPDATE_CONV)
    INSERT_OUTBOX = _qmark(_INSERT_OUTBOX)
    INSERT_LEASED = _qmark(_INSERT_LEASED.replace("(channel,", "(id, channel,")
                           .replace("VALUES (", "VALUES (?, "))
    INSERT_AUDIT = _qmark(_INSERT_AUDIT)
    TOUCH = _qmark(_TOUCH, true="1", false="0")
    RELEASE = _qmark(_RELEASE)

    def __init__(self, raw: Any, dialect: Dialect) -> None:
        self.raw = raw  # the pooled connection (its BEGIN may still be to send: run_on_driver)
        self.dialect = dialect

    async def rows(self, read: Read, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        text, args = read.sql(self.dialect, params)
        return await run_on_driver(self.raw, lambda db: db.execute(text, args).fetchall())

    async def dedupe(self, keys: Sequence[tuple[str, str]], now: datetime,
                     convs: Sequence[tuple[str, str]]) -> tuple[set[tuple[str, str]],
                                                                list[ConvRow]]:
        at = sqlite_time(now)
        values = ", ".join(["(?, ?, ?)"] * len(keys))
        params = [v for channel, ext in keys for v in (channel, ext, at)]
        insert = (f"INSERT INTO processedupdate (channel, external_id, received_at) "  # nosec B608
                  f"VALUES {values} ON CONFLICT (channel, external_id) DO NOTHING "
                  "RETURNING channel, external_id")
        fetch = self.fetch_sql(convs) if convs else None

        def run(db: Any) -> tuple[list[Any], list[Any]]:  # one hop for both
            new = db.execute(insert, params).fetchall()
            return new, db.execute(*fetch).fetchall() if fetch else []

        new, found = await run_on_driver(self.raw, run)
        return ({(r[0], r[1]) for r in new},
                sorted((_conv(r, sqlite_read_time) for r in found), key=lambda c: c.id))

    @staticmethod
    def fetch_sql(keys: Sequence[tuple[str, str]]) -> tuple[str, list[str]]:
        """One `channel = ? AND address IN (...)` per channel: an index search each."""
        by_channel: dict[str, list[str]] = defaultdict(list)
        for channel, address in keys:
            by_channel[channel].append(address)
        parts, params = [], []
        for channel, addresses in sorted(by_channel.items()):
            marks = ", ".join("?" * len(addresses))
            parts.append(f"SELECT {CONV_COLUMNS} FROM conversation c "  # nosec B608
                         f"WHERE c.channel = ? AND c.address IN ({marks})")
            params += [channel, *addresses]
        return " UNION ALL ".join(parts), params

    async def fetch(self, keys: Sequence[tuple[str, str]]) -> list[ConvRow]:
        sql, params = self.fetch_sql(keys)
        rows = await run_on_driver(self.raw, lambda db: db.execute(sql, params).fetchall())
        return sorted((_conv(r, sqlite_read_time) for r in rows), key=lambda c: c.id)

    async def create(self, rows: Sequence[tuple[str, str, str]], step: str,
                     now: datetime) -> None:
        at, flow = sqlite_time(now), step.split(".", 1)[0]
        params = [(channel, address, flow, step, locale, at) for channel, address, locale in rows]
        await run_on_driver(self.raw, lambda db: db.executemany(
            "INSERT INTO conversation (channel, address, flow, step, data, locale, version, "
            "updated_at) VALUES (?, ?, ?, ?, '{}', ?, 0, ?) "
            "ON CONFLICT (channel, address) DO NOTHING", params))

    async def write(self, w: BatchWrites, now: datetime) -> list[tuple[int, int]]:
        at = sqlite_time(now)
        conv = [(flow, step, dumps(data), locale, user_id, at, id_)
                for id_, flow, step, data, locale, user_id in w.conversations]
        out = [(c, a, u, k, dumps(p), pr, sqlite_time(due) if due else at, at)
               for c, a, u, k, p, pr, lease, due in w.outbox if lease is None]
        leased = [(c, a, u, k, dumps(p), pr, at, at, sqlite_time(lease), w.owner)
                  for c, a, u, k, p, pr, lease, _ in w.outbox if lease is not None]
        audit = [(ac, act, st, sid, dumps(d), ch, at) for ac, act, st, sid, d, ch in w.audit]
        stale = sqlite_time(now - TOUCH_AFTER)
        touched = [(at, at, c, a, stale) for c, a in w.touched]
        release = [(at, c, a, at) for c, a in w.touched]

        def run(db: Any) -> list[tuple[int, int]]:  # on aiosqlite's thread: one hop
            for sql, params in ((self.UPDATE_CONV, conv), (self.INSERT_OUTBOX, out),
                                (self.INSERT_AUDIT, audit), (self.TOUCH, touched),
                                (self.RELEASE, release)):
                if params:
                    db.executemany(sql, params)
            if not leased:
                return []
            # executemany returns no ids, and one INSERT ... RETURNING per row costs four
            # times as much: the ids are given, after the highest (the write lock is held)
            top = db.execute("SELECT coalesce(max(id), 0) FROM outbox").fetchone()[0]
            db.executemany(self.INSERT_LEASED, [(top + i, *p) for i, p in enumerate(leased, 1)])
            return [(top + i, hash(p[4])) for i, p in enumerate(leased, 1)]

        return await run_on_driver(self.raw, run)


class PostgresHotPath:
    """asyncpg: arrays through `unnest` for the set-at-once reads, pipelined executemany."""

    UPDATE_CONV = _dollar(_UPDATE_CONV.replace("{p3}", "{p3}::json"))
    INSERT_OUTBOX = _dollar(_INSERT_OUTBOX.replace("{p5}", "{p5}::json"))
    INSERT_LEASED = _dollar(_INSERT_LEASED.replace("{p5}", "{p5}::json")
                            .replace("(channel,", "(id, channel,")
                            .replace("VALUES (", "VALUES ($11, "))
    INSERT_AUDIT = _dollar(_INSERT_AUDIT.replace("{p5}", "{p5}::json"))
    TOUCH = _dollar(_TOUCH, true="true", false="false")
    RELEASE = _dollar(_RELEASE)

    def __init__(self, conn: AsyncConnection, driver: Any) -> None:
        self.conn = conn
        self.driver = driver  # asyncpg.Connection, with SQLAlchemy's json codec (text in)

    async def rows(self, read: Read, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        text, args = read.sql(self.conn.dialect, params)
        return [tuple(r) for r in await self.driver.fetch(text, *args)]

    async def dedupe(self, keys: Sequence[tuple[str, str]], now: datetime,
                     convs: Sequence[tuple[str, str]]) -> tuple[set[tuple[str, str]],
                                                                list[ConvRow]]:
        # the batch's first statement goes through SQLAlchemy: its asyncpg adapter opens the
        # transaction lazily, at the first statement it runs, and everything after must be in it
        rows = await self.conn.exec_driver_sql(
            "INSERT INTO processedupdate (channel, external_id, received_at) "
            "SELECT k.channel, k.external_id, $3 FROM unnest($1::varchar[], $2::varchar[]) "
            "AS k(channel, external_id) "
            "ON CONFLICT (channel, external_id) DO NOTHING RETURNING channel, external_id",
            ([c for c, _ in keys], [e for _, e in keys], now))
        found: Sequence[Any] = rows.all()  # untyped raw SQL: rows of (channel, external_id)
        return {(r[0], r[1]) for r in found}, await self.fetch(convs) if convs else []

    async def fetch(self, keys: Sequence[tuple[str, str]]) -> list[ConvRow]:
        rows = await self.driver.fetch(
            f"SELECT {CONV_COLUMNS} FROM conversation c "  # nosec B608
            "JOIN unnest($1::varchar[], $2::varchar[]) AS k(channel, address) "
            "ON c.channel = k.channel AND c.address = k.address "
            "ORDER BY c.id FOR UPDATE OF c",
            [c for c, _ in keys], [a for _, a in keys])
        return [_conv(r, lambda v: v) for r in rows]

    async def create(self, rows: Sequence[tuple[str, str, str]], step: str,
                     now: datetime) -> None:
        await self.driver.execute(
            "INSERT INTO conversation (channel, address, flow, step, data, locale, version, "
            "updated_at) SELECT k.channel, k.address, $4, $5, '{}'::json, "
            "k.locale, 0, $6 FROM unnest($1::varchar[], $2::varchar[], $3::varchar[]) "
            "AS k(channel, address, locale) ON CONFLICT (channel, address) DO NOTHING",
            [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
            step.split(".", 1)[0], step, now)

    async def write(self, w: BatchWrites, now: datetime) -> list[tuple[int, int]]:
        if w.conversations:
            await self.driver.executemany(self.UPDATE_CONV, [
                (flow, step, dumps(data), locale, user_id, now, id_)
                for id_, flow, step, data, locale, user_id in w.conversations])
        out = [(c, a, u, k, dumps(p), pr, due or now, now)
               for c, a, u, k, p, pr, lease, due in w.outbox if lease is None]
        if out:
            await self.driver.executemany(self.INSERT_OUTBOX, out)
        leased = [(c, a, u, k, dumps(p), pr, now, now, lease, w.owner)
                  for c, a, u, k, p, pr, lease, _ in w.outbox if lease is not None]
        ids: list[int] = []
        if leased:
            # executemany returns nothing: the ids are taken from the sequence first
            ids = [r[0] for r in await self.driver.fetch(
                "SELECT nextval(pg_get_serial_sequence('outbox', 'id')) "
                "FROM generate_series(1, $1)", len(leased))]
            await self.driver.executemany(self.INSERT_LEASED,
                                          [(*p, i) for p, i in zip(leased, ids, strict=True)])
        if w.audit:
            await self.driver.executemany(self.INSERT_AUDIT, [
                (ac, act, st, sid, dumps(d), ch, now) for ac, act, st, sid, d, ch in w.audit])
        if w.touched:
            await self.driver.executemany(self.TOUCH, [(now, now, c, a, now - TOUCH_AFTER)
                                                       for c, a in w.touched])
            await self.driver.executemany(self.RELEASE, [(now, c, a, now) for c, a in w.touched])
        return [(i, hash(p[4])) for p, i in zip(leased, ids, strict=True)]


async def hot_path(conn: AsyncConnection) -> HotPath:
    """The statements for the driver under a SQLAlchemy connection, in its transaction."""
    raw = await conn.get_raw_connection()
    if conn.dialect.name == "sqlite":
        return SqliteHotPath(raw, conn.dialect)
    return PostgresHotPath(conn, raw.driver_connection)
