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

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.db import Database
from storage.hotpath import run_on_sqlite_thread, sqlite_read_time, sqlite_time


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


_DUE = ("channel = {ch} AND status IN ('queued', 'sending') "  # the partial index's predicate
        "AND ((status = 'queued' AND next_attempt_at <= {now}) "
        "OR (status = 'sending' AND claimed_until < {now2})) "
        "ORDER BY priority, id LIMIT {limit}")
_RETURNING = ("id, channel, address, user_id, \"key\", payload, priority, attempts, broadcast_id, "
              "created_at")
_RECIPIENTS = ("a.id, a.reachable, a.last_inbound_at, u.locale, c.locale, c.updated_at "
               "FROM {src} o LEFT JOIN channelaccount a ON a.channel = o.channel "
               "AND a.address = o.address LEFT JOIN \"user\" u ON u.id = a.user_id "
               "LEFT JOIN conversation c ON c.channel = o.channel AND c.address = o.address")

_SQLITE_CLAIM = (f"UPDATE outbox SET status = 'sending', claimed_until = ?, "
                 f"attempts = attempts + 1 WHERE id IN (SELECT id FROM outbox WHERE "
                 f"{_DUE.format(ch='?', now='?', now2='?', limit='?')}) RETURNING {_RETURNING}")
_SQLITE_RECIPIENTS = "SELECT o.id, " + _RECIPIENTS.format(src="outbox") + " WHERE o.id IN ({})"

_PG_CLAIM = (f"WITH o AS (UPDATE outbox SET status = 'sending', claimed_until = $1, "
             f"attempts = attempts + 1 WHERE id IN (SELECT id FROM outbox WHERE "
             f"{_DUE.format(ch='$2', now='$3', now2='$3', limit='$4')} FOR UPDATE SKIP LOCKED) "
             f"RETURNING {_RETURNING}) "
             f"SELECT o.{_RETURNING.replace(', ', ', o.')}, "
             + _RECIPIENTS.format(src="o") + " ORDER BY o.priority, o.id")


def _row(r: Any, extra: Any, read_time: Any) -> Claimed:
    payload = r[5]
    if isinstance(payload, str | bytes):
        payload = json.loads(payload)
    return Claimed(id=r[0], channel=r[1], address=r[2], user_id=r[3], key=r[4],
                   payload=dict(payload or {}), priority=r[6], attempts=r[7],
                   broadcast_id=r[8], created_at=read_time(r[9]),
                   account_id=extra[0], reachable=None if extra[1] is None else bool(extra[1]),
                   last_inbound_at=read_time(extra[2]), user_locale=extra[3],
                   conv_locale=extra[4], conv_updated_at=read_time(extra[5]))


async def claim(db: Database, channel: str, limit: int, now: datetime,
                until: datetime) -> list[Claimed]:
    """Take up to `limit` due rows of `channel` (queued and due, or sending with a lease run
    out), in priority then arrival order, leased until `until`."""
    async with db.write() as conn:
        if db.is_sqlite:
            raw = await conn.get_raw_connection()
            at = sqlite_time(now)

            def run(sq: Any) -> list[Claimed]:
                found = sq.execute(_SQLITE_CLAIM, (sqlite_time(until), channel, at, at,
                                                   limit)).fetchall()
                if not found:
                    return []
                ids = [r[0] for r in found]
                extra = {r[0]: r[1:] for r in sq.execute(
                    _SQLITE_RECIPIENTS.format(", ".join("?" * len(ids))), ids).fetchall()}
                rows = [_row(r, extra[r[0]], sqlite_read_time) for r in found]
                return sorted(rows, key=lambda c: (c.priority, c.id))

            return await run_on_sqlite_thread(raw.driver_connection, run)
        # through SQLAlchemy's adapter: its first statement opens the transaction
        result = await conn.exec_driver_sql(_PG_CLAIM, (until, channel, now, limit))
        return [_row(r[:10], r[10:], lambda v: v) for r in result.all()]
