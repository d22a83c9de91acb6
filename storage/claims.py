"""The delivery worker's claim, on the database driver itself.

The worker claims after every commit that wrote replies, so at one user it claims about as
often as the engine commits; through the ORM each claim cost more CPU than the engine's whole
batch (a session, the UPDATE ... RETURNING compiled again, a second query for the recipients)
and held the SQLite write lock meanwhile. Here it is fixed SQL: the claim (through the partial
index over live rows, `ix_outbox_claim`) and the recipients' state read in the same
transaction, in one hop to aiosqlite's thread, or one round trip on PostgreSQL (a
data-modifying CTE, rows locked with SKIP LOCKED so several workers never take the same row).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import TextClause, bindparam, text

from storage.db import Database, run_on_driver
from storage.hotpath import sqlite_read_time, sqlite_time
from storage.models import Worker
from storage.sql import rowcount, table


@dataclass(slots=True)
class Claimed:
    """An outbox row just claimed, with what the sender needs to know of its recipient."""

    id: int
    channel: str
    address: str
    user_id: int | None
    key: str
    payload: dict[str, Any]
    priority: int
    attempts: int
    broadcast_id: int | None
    created_at: datetime
    account_id: int | None  # None: no account at this address (someone still registering)
    reachable: bool | None
    last_inbound_at: datetime | None
    user_locale: str | None
    conv_locale: str | None
    conv_updated_at: datetime | None
    digest: int  # of the stored payload: the loop guard's "same message again", for free
    parts_sent: int = 0  # parts of a multi-part message already delivered (a retry skips them)


_DUE = ("channel = {ch} AND status IN ('queued', 'sending') "  # the partial index's predicate
        "AND ((status = 'queued' AND next_attempt_at <= {now}) "
        "OR (status = 'sending' AND claimed_until < {now2})) "
        "ORDER BY priority, id LIMIT {limit}")
_RETURNING = ("id, channel, address, user_id, \"key\", payload, priority, attempts, broadcast_id, "
              "created_at, parts_sent")
_RECIPIENTS = ("a.id, a.reachable, a.last_inbound_at, u.locale, c.locale, c.updated_at "
               "FROM {src} o LEFT JOIN channelaccount a ON a.channel = o.channel "
               "AND a.address = o.address LEFT JOIN \"user\" u ON u.id = a.user_id "
               "LEFT JOIN conversation c ON c.channel = o.channel AND c.address = o.address")

# fixed SQL: the formatted parts are placeholders and column lists, values are parameters
_SQLITE_CLAIM = (f"UPDATE outbox SET status = 'sending', claimed_until = ?, "  # nosec B608
                 f"claimed_by = ?, attempts = attempts + 1 WHERE id IN (SELECT id FROM outbox "
                 f"WHERE {_DUE.format(ch='?', now='?', now2='?', limit='?')}) "
                 f"RETURNING {_RETURNING}")
_SQLITE_RECIPIENTS = "SELECT o.id, " + _RECIPIENTS.format(src="outbox") + " WHERE o.id IN ({})"

_PG_CLAIM = (f"WITH o AS (UPDATE outbox SET status = 'sending', claimed_until = $1, "  # nosec B608
             f"claimed_by = $5, attempts = attempts + 1 WHERE id IN (SELECT id FROM outbox "
             f"WHERE {_DUE.format(ch='$2', now='$3', now2='$3', limit='$4')} "
             f"FOR UPDATE SKIP LOCKED) "
             f"RETURNING {_RETURNING}) "
             f"SELECT o.{_RETURNING.replace(', ', ', o.')}, "
             + _RECIPIENTS.format(src="o") + " ORDER BY o.priority, o.id")


def _row(r: Any, extra: Any, read_time: Any) -> Claimed:
    payload = r[5]
    if isinstance(payload, str | bytes):
        digest = hash(payload)
        payload = json.loads(payload)
    else:
        digest = hash(json.dumps(payload, sort_keys=True))
    return Claimed(id=r[0], channel=r[1], address=r[2], user_id=r[3], key=r[4],
                   payload=dict(payload or {}), priority=r[6], attempts=r[7],
                   broadcast_id=r[8], created_at=read_time(r[9]),
                   account_id=extra[0], reachable=None if extra[1] is None else bool(extra[1]),
                   last_inbound_at=read_time(extra[2]), user_locale=extra[3],
                   conv_locale=extra[4], conv_updated_at=read_time(extra[5]), digest=digest,
                   parts_sent=r[10] or 0)


async def claim(db: Database, channel: str, limit: int, now: datetime,
                until: datetime, owner: int | None = None) -> list[Claimed]:
    """Take up to `limit` due rows of `channel` (queued and due, or sending with a lease run
    out), in priority then arrival order, leased to worker `owner` until `until`."""
    # only the statements under the write lock; rows are made after the commit
    async with db.write() as conn:
        if db.is_sqlite:
            raw = await conn.get_raw_connection()
            at = sqlite_time(now)

            def run(sq: Any) -> tuple[list[Any], list[Any]]:
                found = sq.execute(_SQLITE_CLAIM, (sqlite_time(until), owner, channel, at,
                                                   at, limit)).fetchall()
                if not found:
                    return [], []
                ids = [r[0] for r in found]
                return found, sq.execute(_SQLITE_RECIPIENTS.format(", ".join("?" * len(ids))),
                                         ids).fetchall()

            found, recipients = await run_on_driver(raw, run)
        else:
            # through SQLAlchemy's adapter: its first statement opens the transaction
            result = await conn.exec_driver_sql(_PG_CLAIM, (until, channel, now, limit,
                                                            owner))
            return [_row(r[:11], r[11:], lambda v: v) for r in result.all()]
    extra = {r[0]: r[1:] for r in recipients}
    # a reply's rows share their times: each text parsed once per claim
    read_time = functools.lru_cache(maxsize=256)(sqlite_read_time)
    rows = [_row(r, extra[r[0]], read_time) for r in found]
    return sorted(rows, key=lambda c: (c.priority, c.id))


@dataclass(slots=True)
class Outcome:
    """What became of one claimed row: `status` sent, queued (again, at `next_at`), waiting
    or failed."""

    id: int
    status: str
    provider_id: str | None = None
    error: str | None = None
    next_at: datetime | None = None
    parts_sent: int | None = None  # a multi-part message stopped after this many parts


# a status callback may have overtaken the send (delivered, or failed 63016 and so waiting):
# keep the status it set, record only what we know
_SENT = ("UPDATE outbox SET provider_id = {p1}, sent_at = {p2}, claimed_until = NULL, "
         "claimed_by = NULL, "
         "last_error = CASE WHEN status = 'sending' THEN NULL ELSE last_error END, "
         "status = CASE WHEN status = 'sending' THEN 'sent' ELSE status END WHERE id = {p3}")
_OTHER = ("UPDATE outbox SET status = {p1}, last_error = {p2}, next_attempt_at = {p3}, "
          "claimed_until = NULL, claimed_by = NULL, parts_sent = coalesce({p4}, parts_sent) "
          "WHERE id = {p5} AND status = 'sending'")
_UNREACHABLE = ("UPDATE channelaccount SET reachable = {false}, unreachable_reason = {p1} "
                "WHERE channel = {p2} AND address = {p3}")


def _sql(template: str, dialect: str) -> str:
    marks = {f"p{i}": ("?" if dialect == "sqlite" else f"${i}") for i in range(1, 6)}
    return template.format(false="0" if dialect == "sqlite" else "false", **marks)


async def record(db: Database, outcomes: list[Outcome], now: datetime,
                 unreachable: dict[tuple[str, str], str | None]) -> None:
    """The worker's results in one write transaction: sends, retries, holds, failures, and the
    accounts the platform refused for good (`storage.outbox.mark_unreachable`'s rule)."""
    if not outcomes and not unreachable:
        return
    dialect = db.dialect
    stamp: Any = sqlite_time if db.is_sqlite else (lambda v: v)
    sent = [(o.provider_id, stamp(now), o.id) for o in outcomes if o.status == "sent"]
    others = [(o.status, (o.error or "")[:500] or None, stamp(o.next_at or now), o.parts_sent,
               o.id) for o in outcomes if o.status != "sent"]
    gone = [((why or "")[:200], channel, address)
            for (channel, address), why in unreachable.items()]
    statements = [(_sql(sql, dialect), params)
                  for sql, params in ((_SENT, sent), (_OTHER, others), (_UNREACHABLE, gone))
                  if params]
    async with db.write() as conn:
        if db.is_sqlite:
            raw = await conn.get_raw_connection()

            def run(sq: Any) -> None:
                for sql, params in statements:
                    sq.executemany(sql, params)

            await run_on_driver(raw, run)
            return
        for sql, params in statements:
            await conn.exec_driver_sql(sql, params)


# --- the workers' lives ------------------------------------------------------------------------
# Rows held by a worker go back to the queue ("given back": due now, no owner) when the
# worker is known to be gone: a new life of the same name started, or its beat is stale.
# `status IN ('queued', 'sending')` repeats the partial index's predicate: SQLite uses the
# index only for a WHERE that contains it (it cannot infer it from `status = 'sending'`),
# else each statement scans the whole history
_HELD = "status IN ('queued', 'sending') AND status = 'sending'"
_GIVE_BACK = ("UPDATE outbox SET status = 'queued', claimed_until = NULL, claimed_by = NULL, "  # nosec B608
              f"next_attempt_at = :now WHERE {_HELD} AND claimed_by IN "
              "(SELECT id FROM worker WHERE {which})")


def _sql_at(sql: str, *times: str) -> TextClause:
    """`sql` with its time parameters typed, so each database gets them in its own format."""
    kind = table(Worker).c.beat_at.type  # the models' own (aware UTC in, per dialect out)
    return text(sql).bindparams(*(bindparam(t, type_=kind) for t in times))


async def start_worker(db: Database, name: str, now: datetime) -> tuple[int, int]:
    """Register a worker's new life; the rows its earlier lives held are given back at once.
    Returns the worker's id and how many rows were given back."""
    async with db.transaction() as s:
        prior = {"name": name}
        back = await s.execute(_sql_at(_GIVE_BACK.format(
            which="name = :name AND stopped_at IS NULL"), "now"), {"now": now, **prior})
        await s.execute(_sql_at("UPDATE worker SET stopped_at = :now WHERE name = :name "
                                "AND stopped_at IS NULL", "now"), {"now": now, **prior})
        w = Worker(name=name, started_at=now, beat_at=now)
        s.add(w)
        await s.flush()
        return int(w.id or 0), rowcount(back)


@dataclass(frozen=True, slots=True)
class Beat:
    given_back: int  # rows of gone workers given back to the queue
    others: int  # other workers alive (beating) on this database
    unaware: int = 0  # of those, the ones that have not beaten since `started`


async def beat(db: Database, worker: int, now: datetime, until: datetime,
               stale_before: datetime, started: datetime | None = None) -> Beat:
    """The worker is alive: its beat, the lease of every row it holds renewed to `until`
    (a long pacing wait never outlives it), and the rows of workers whose beat is older than
    `stale_before` given back. Also counts the other live workers: a sender alone may hand
    replies straight over (bot/delivery.py `accepts`)."""
    async with db.transaction() as s:
        await s.execute(_sql_at("UPDATE worker SET beat_at = :now WHERE id = :me", "now"),
                        {"now": now, "me": worker})
        await s.execute(_sql_at(f"UPDATE outbox SET claimed_until = :until WHERE {_HELD} "  # nosec B608
                                "AND claimed_by = :me", "until"),
                        {"until": until, "me": worker})
        gone = {"now": now, "stale": stale_before, "me": worker}
        back = await s.execute(_sql_at(_GIVE_BACK.format(
            which="beat_at < :stale AND stopped_at IS NULL AND id <> :me"), "now", "stale"),
            gone)
        await s.execute(_sql_at("UPDATE worker SET stopped_at = :now WHERE beat_at < :stale "
                                "AND stopped_at IS NULL AND id <> :me", "now", "stale"), gone)
        others, unaware = (await s.execute(_sql_at(
            "SELECT count(*), coalesce(sum(CASE WHEN beat_at <= :started THEN 1 ELSE 0 END), 0) "
            "FROM worker WHERE stopped_at IS NULL AND id <> :me AND beat_at >= :stale",
            "stale", "started"),
            {"me": worker, "stale": stale_before, "started": started or now})).one()
        return Beat(rowcount(back), int(others), int(unaware))


async def take_over(db: Database, channel: str, worker: int, now: datetime) -> int:
    """The channel's sender lease was just taken (storage/leader.py): its previous holder is
    gone, so the rows it held go back to the queue now, not when its beat goes stale."""
    async with db.transaction() as s:
        back = await s.execute(_sql_at(
            "UPDATE outbox SET status = 'queued', claimed_until = NULL, claimed_by = NULL, "
            f"next_attempt_at = :now WHERE channel = :ch AND {_HELD} "  # nosec B608 - fixed SQL
            "AND (claimed_by IS NULL OR claimed_by <> :me)",
            "now"), {"now": now, "ch": channel, "me": worker})
        return rowcount(back)


async def stop_worker(db: Database, worker: int, now: datetime, unsent: list[int]) -> None:
    """A clean stop: the rows still waiting in memory go back to the queue, the life ends."""
    async with db.transaction() as s:
        if unsent:
            await s.execute(
                _sql_at("UPDATE outbox SET status = 'queued', claimed_until = NULL, "
                        "claimed_by = NULL, next_attempt_at = :now WHERE status = 'sending' "
                        "AND claimed_by = :me AND id IN :ids", "now")
                .bindparams(bindparam("ids", expanding=True)),
                {"now": now, "me": worker, "ids": unsent})
        await s.execute(_sql_at("UPDATE worker SET stopped_at = :now WHERE id = :me", "now"),
                        {"now": now, "me": worker})
