"""Timers as rows: jobs the scheduler runs over due rows (DESIGN.md "Timers from rows").

Each timer is `async (session, now, out, config) -> int` (how many rows it handled, the type
`flows.table.Timer`); it runs in its own transaction and its messages go to the outbox with it.
Flow modules register theirs in `register(registry)` with `registry.timer(name, fn)`; this
module holds the ones that belong to no flow: pruning the dedupe window and the outbox.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    delete,
    exists,
    not_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from flows.complaints import OPEN as UNDECIDED_COMPLAINT
from flows.context import FlowConfig
from flows.outbox import Outgoing
from flows.table import Registry
from storage.models import Broadcast, Complaint, Outbox, ProcessedUpdate
from storage.reports import DELIVERED
from storage.sql import rowcount, table

DEDUPE_KEEP = timedelta(hours=48)

# Outbox rows nothing will move any more. "waiting" (held for a closed WhatsApp window) is
# final once it is older than the retention: the person never wrote back. queued and sending
# rows are never pruned, however old.
OUTBOX_FINAL = ("sent", "delivered", "read", "failed", "undelivered", "skipped", "cancelled",
                "waiting")
# At most this many rows per tick: on SQLite the scheduler holds the write lock while it
# deletes. 5,000 rows took 0.15 s (median) on a loaded 2-core machine with 300,000 rows (about
# 30 us a row, index entries included); only a backlog (the first start, a long outage) needs
# full chunks, in steady state a tick deletes what aged in the last 15 s.
PRUNE_CHUNK = 5000
# The Pasal 9 check (admin_cli/complaints.py:request_delivery) reads the newest statement
# request sent to the tukang of an undecided complaint: such rows stay until the decision.
STATEMENT_REQUEST = "admin.statement_requested"


async def prune_dedupe(session: AsyncSession, now: datetime, out: Outgoing,
                       config: FlowConfig) -> int:
    """External ids are kept 48 hours: longer than Telegram (24 h) or Twilio retry."""
    result = await session.execute(
        delete(ProcessedUpdate).where(col(ProcessedUpdate.received_at) < now - DEDUPE_KEEP))
    return rowcount(result) or 0


def prunable(now: datetime, keep: timedelta) -> ColumnElement[bool]:
    """Outbox rows the pruner may delete at `now`: created more than `keep` ago, in a final
    status, and no statement request the Pasal 9 check of an undecided complaint still reads."""
    o, c = table(Outbox), table(Complaint)
    pasal9 = and_(o.c.key == STATEMENT_REQUEST,
                  exists().where(c.c.tukang_id == o.c.user_id,
                                 c.c.status.in_(UNDECIDED_COMPLAINT)))
    return and_(o.c.created_at < now - keep, o.c.status.in_(OUTBOX_FINAL), not_(pasal9))


def oldest_prunable(now: datetime, keep: timedelta, limit: int = PRUNE_CHUNK) -> Select[Any]:
    """(id, broadcast_id) of the oldest prunable rows, read along `ix_outbox_created`."""
    o = table(Outbox)
    return (select(o.c.id, o.c.broadcast_id).where(prunable(now, keep))
            .order_by(o.c.created_at).limit(limit))


async def prune_outbox(session: AsyncSession, now: datetime, out: Outgoing,
                       config: FlowConfig) -> int:
    """Delete up to `PRUNE_CHUNK` of the oldest prunable outbox rows (`config.outbox_keep`,
    SIJAKON_OUTBOX_RETENTION_DAYS), folding each deleted broadcast row into its broadcast's
    `pruned` counts (per status) and `pruned_reached` in the same transaction, so the reports
    (`storage.reports.broadcast_figures`) stay whole.

    The rows are found through `ix_outbox_created` (oldest first). Their broadcasts are
    locked before the rows are deleted, the order `flows.broadcast.cancel` takes too, so a
    cancel and a prune of one broadcast never deadlock on PostgreSQL. The delete repeats the
    conditions and returns what it removed: a row a receipt moved meanwhile is counted under
    the status it was deleted with, and a row another process pruned first is not counted
    twice."""
    o, b = table(Outbox), table(Broadcast)
    old = prunable(now, config.outbox_keep)
    picked = (await session.execute(oldest_prunable(now, config.outbox_keep, PRUNE_CHUNK))).all()
    if not picked:
        return 0
    ids = sorted({r.broadcast_id for r in picked if r.broadcast_id is not None})
    before: dict[int, dict[str, int]] = {}
    if ids:
        locked = await session.execute(select(b.c.id, b.c.pruned).where(b.c.id.in_(ids))
                                       .order_by(b.c.id).with_for_update())
        before = {r.id: dict(r.pruned or {}) for r in locked}
    gone = (await session.execute(delete(o).where(o.c.id.in_([r.id for r in picked]), old)
                                  .returning(o.c.broadcast_id, o.c.status))).all()
    tallies: dict[int, Counter[str]] = {}
    for broadcast_id, status in gone:
        if broadcast_id in before:
            tallies.setdefault(broadcast_id, Counter())[status] += 1
    if tallies:
        await session.execute(
            update(b).where(b.c.id == bindparam("_id")).values(
                pruned=bindparam("_pruned", type_=b.c.pruned.type),
                pruned_reached=b.c.pruned_reached + bindparam("_reached")),
            [{"_id": bid, "_pruned": dict(Counter(before[bid]) + n),
              "_reached": sum(n[k] for k in DELIVERED)} for bid, n in tallies.items()])
    return len(gone)


def register(registry: Registry) -> None:
    registry.timer("prune_dedupe", prune_dedupe)
    registry.timer("prune_outbox", prune_outbox)
