"""Timers as rows: jobs the scheduler runs over due rows (DESIGN.md "Timers from rows").

Each timer is `async (session, now, out, config) -> int` (how many rows it handled, the type
`flows.table.Timer`); it runs in its own transaction and its messages go to the outbox with it.
Flow modules register theirs in `register(registry)` with `registry.timer(name, fn)`; this
module holds the ones that belong to no flow: retention (UU 27/2022) of the dedupe window, the
outbox, and the rest of storage/retention.py (media of finished matters, idle conversations),
and the media sweep (storage/media_sweep.py: files no row points at, hourly).

The three retention timers run when due (`storage.retention.due`: every 6 hours, at once again
while a backlog lasts) and each run leaves one audit row with its counts, so the officer sees
what went and the rhythm survives restarts. `sijakon-admin privacy retention` shows the same
categories (`pending`) and runs them (`purge_once`) on demand.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    delete,
    exists,
    func,
    not_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from flows.complaints import OPEN as UNDECIDED_COMPLAINT
from flows.context import FlowConfig
from flows.outbox import Outgoing
from flows.table import Registry
from storage import media_sweep, retention
from storage.clock import as_utc
from storage.models import Broadcast, Complaint, Outbox
from storage.reports import DELIVERED
from storage.sql import table

log = logging.getLogger(__name__)

DEDUPE_KEEP = timedelta(hours=48)  # the default of FlowConfig.dedupe_keep

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
    """External ids are kept `config.dedupe_keep` (48 hours unless set): longer than Telegram
    (24 h) or Twilio retry. Runs when due; each run is audited."""
    if not await retention.due(session, now, "retention.dedupe"):
        return 0
    n = await retention.delete_dedupe(session, now, config.dedupe_keep)
    retention.record(session, now, "retention.dedupe", {"dedupe": n})
    return n


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
    """When due (`storage.retention.due`), one chunk of `delete_outbox`, audited; a full
    chunk leaves the run due again at the next tick, so a backlog goes a chunk per tick."""
    if not await retention.due(session, now, "retention.outbox"):
        return 0
    n = await delete_outbox(session, now, config.outbox_keep)
    retention.record(session, now, "retention.outbox", {"outbox": n}, more=n >= PRUNE_CHUNK)
    return n


async def delete_outbox(session: AsyncSession, now: datetime, keep: timedelta) -> int:
    """Delete up to `PRUNE_CHUNK` of the oldest prunable outbox rows (`keep`,
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
    old = prunable(now, keep)
    picked = (await session.execute(oldest_prunable(now, keep, PRUNE_CHUNK))).all()
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


# --- the rest of the retention (storage/retention.py) ---------------------------------------

CATEGORIES = ("outbox", "dedupe", "conversation", "job_media", "complaint_media",
              "tukang_media")


async def pending(session: AsyncSession, now: datetime,
                  config: FlowConfig) -> dict[str, retention.Pending]:
    """What a retention run at `now` would delete, per category (`CATEGORIES` order)."""
    o = table(Outbox)
    n, oldest = (await session.execute(select(func.count(), func.min(o.c.created_at))
                                       .where(prunable(now, config.outbox_keep)))).one()
    rest = await retention.pending(
        session, now, dedupe=config.dedupe_keep, conversation=config.conversation_keep,
        job_media=config.job_media_keep, complaint_media=config.complaint_media_keep,
        tukang_media=config.tukang_media_keep)
    return {"outbox": retention.Pending(int(n), 0, as_utc(oldest) if oldest else None), **rest}


def keeps(config: FlowConfig) -> dict[str, timedelta]:
    """Each category's period, as configured."""
    return {"outbox": config.outbox_keep, "dedupe": config.dedupe_keep,
            "conversation": config.conversation_keep, "job_media": config.job_media_keep,
            "complaint_media": config.complaint_media_keep,
            "tukang_media": config.tukang_media_keep}


async def _purge_personal(session: AsyncSession, now: datetime,
                          config: FlowConfig) -> tuple[dict[str, int], int, bool]:
    """One chunk of conversations and of each kind of media: (rows per category, files
    deleted, whether a chunk was full). Files go once the emptied lists are flushed: a failed
    commit leaves rows listing missing files, which the next run empties again."""
    counts: dict[str, int] = {}
    files: list[str] = []
    counts["conversation"] = await retention.delete_conversations(
        session, now, config.conversation_keep)
    more = counts["conversation"] >= retention.CONVERSATION_CHUNK
    for name, strip, keep in (
            ("job_media", retention.strip_job_media, config.job_media_keep),
            ("complaint_media", retention.strip_complaint_media, config.complaint_media_keep),
            ("tukang_media", retention.strip_tukang_media, config.tukang_media_keep)):
        counts[name], gone = await strip(session, now, keep)
        more = more or counts[name] >= retention.MEDIA_CHUNK
        files += gone
    await session.flush()
    return counts, delete_files(files), more


def delete_files(paths: list[str]) -> int:
    """Remove files from disk, counting those gone; one that cannot be removed is logged
    (without its name, which may say whose it is) and retried by nobody: its row is empty."""
    gone = 0
    for path in paths:
        try:
            Path(path).unlink(missing_ok=True)
            gone += 1
        except OSError as exc:
            log.warning("retention could not delete a media file: %s", exc.strerror)
    return gone


async def purge_personal(session: AsyncSession, now: datetime, out: Outgoing,
                         config: FlowConfig) -> int:
    """The scheduler's run of storage/retention.py when due: idle conversations and the
    media of finished jobs, decided complaints and rejected or removed tukang; one audit row
    (`retention.run`) with the counts. Returns the rows changed."""
    if not await retention.due(session, now, "retention.run"):
        return 0
    counts, files, more = await _purge_personal(session, now, config)
    retention.record(session, now, "retention.run", counts, more=more, files=files)
    return sum(counts.values())


async def purge_once(session: AsyncSession, now: datetime,
                     config: FlowConfig) -> tuple[dict[str, int], int, bool]:
    """One chunk of every category, whatever the rhythm (the officer's
    `privacy retention`): (rows per category, files deleted, whether more is left)."""
    counts = {"outbox": await delete_outbox(session, now, config.outbox_keep),
              "dedupe": await retention.delete_dedupe(session, now, config.dedupe_keep)}
    rest, files, more = await _purge_personal(session, now, config)
    counts.update(rest)
    return counts, files, more or counts["outbox"] >= PRUNE_CHUNK


def media_dir(config: FlowConfig) -> Path:
    """Where the adapters save files: SIJAKON_DATA_DIR/media (bot.settings.Settings.media_dir)."""
    return config.data_dir / "media"


async def sweep_media(session: AsyncSession, now: datetime, out: Outgoing,
                      config: FlowConfig) -> int:
    """When due (every hour, `storage.retention.due`, at once again while files are left),
    delete the media files no row points at and older than an hour (storage/media_sweep.py);
    one audit row (`media.sweep`) with the counts. Returns the files deleted."""
    if not await retention.due(session, now, media_sweep.ACTION, media_sweep.EVERY):
        return 0
    swept = await media_sweep.sweep(session, media_dir(config), now)
    media_sweep.record(session, now, swept)
    return swept.deleted


def register(registry: Registry) -> None:
    registry.timer("prune_dedupe", prune_dedupe)
    registry.timer("prune_outbox", prune_outbox)
    registry.timer("retention", purge_personal)
    registry.timer("media_sweep", sweep_media)
