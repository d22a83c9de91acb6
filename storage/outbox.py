"""What happens to an address after a send, and to its rows when the person writes again.

The delivery worker claims rows and records its own sends (bot/delivery.py). The news about
an address goes through here, one function each: a platform's receipt for a message (Twilio's
status callback: delivered, read, failed...), a permanent refusal (`mark_unreachable`: from a
receipt or from a send), and the person writing again (`person_wrote`: seen, reachable again,
the rows held for them due now).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import Database
from storage.models import ChannelAccount, Outbox
from storage.sql import table

_DONE = ("sending", "sent", "delivered")
# a receipt's status -> the statuses it may replace: a row never moves backwards
_MOVES: dict[str, tuple[str, ...]] = {
    "sent": ("sending",),
    "delivered": ("sending", "sent"),
    "read": _DONE,
    "failed": _DONE,
    "undelivered": _DONE,
    "waiting": _DONE,  # the platform delivered nothing; it goes after the person's next message
}


async def apply_receipt(db: Database, channel: str, provider_id: str, status: str, *,
                        row_id: int | None = None, error: str | None = None,
                        unreachable: str | None = None) -> str | None:
    """Move the row of message `provider_id` on to `status` (never backwards) and return the
    row's status, or None for no row or a status not tracked. `row_id` finds a row whose send
    the worker has not recorded yet (the receipt overtook it); `unreachable` marks the
    address's account unreachable with that reason."""
    before = _MOVES.get(status)
    if before is None:
        return None
    o = table(Outbox)
    which = or_(o.c.provider_id == provider_id,
                and_(o.c.id == (row_id or -1), o.c.provider_id.is_(None)))
    async with db.transaction() as s:
        row = (await s.execute(select(o.c.id, o.c.address, o.c.status)
                               .where(o.c.channel == channel, which)
                               .order_by(o.c.id).limit(1))).first()
        if row is None:
            return None
        result = status
        if row.status in before:
            values: dict[str, Any] = {"status": status, "provider_id": provider_id}
            if error:
                values["last_error"] = error
            await s.execute(update(o).where(o.c.id == row.id, o.c.status.in_(before))
                            .values(**values))
        else:
            result = row.status
        if unreachable:
            await mark_unreachable(await s.connection(), {(channel, row.address): unreachable})
    return result


async def mark_unreachable(conn: AsyncConnection,
                           gone: Mapping[tuple[str, str], str | None]) -> None:
    """The platform refused each (channel, address) for good (blocked, not on WhatsApp): stop
    sending until the person writes again. Runs in the caller's transaction."""
    if not gone:
        return
    a = table(ChannelAccount)
    await conn.execute(
        update(a).where(a.c.channel == bindparam("_c"), a.c.address == bindparam("_a"))
        .values(reachable=False, unreachable_reason=bindparam("_why")),
        [{"_c": c, "_a": addr, "_why": (why or "")[:200]} for (c, addr), why in gone.items()])


async def person_wrote(conn: AsyncConnection, accounts: Iterable[tuple[str, str]],
                       now: datetime) -> None:
    """The person at each (channel, address) wrote: the account is seen and reachable again
    (WhatsApp's window opens here), and rows held for them ("waiting") are due now. Runs in
    the caller's transaction."""
    params = [{"_c": channel, "_a": address, "_t": now} for channel, address in accounts]
    if not params:
        return
    a = table(ChannelAccount)
    await conn.execute(
        update(a).where(a.c.channel == bindparam("_c"), a.c.address == bindparam("_a"))
        .values(last_seen_at=bindparam("_t"), last_inbound_at=bindparam("_t"),
                reachable=True, unreachable_reason=None), params)
    o = table(Outbox)
    await conn.execute(
        update(o).where(o.c.channel == bindparam("_c"), o.c.address == bindparam("_a"),
                        o.c.status == "waiting")
        .values(status="queued", next_attempt_at=bindparam("_t")), params)
