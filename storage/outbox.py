"""What happens to outbox rows after their send: platform receipts, and held rows released.

The delivery worker claims rows and records its own sends (bot/delivery.py). Later news about
a row comes from outside and goes through here: a platform's receipt for a message (Twilio's
status callback: delivered, read, failed...), or the person writing again, which releases
the rows held for them.
"""

from __future__ import annotations

from collections.abc import Iterable
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
            a = table(ChannelAccount)
            await s.execute(update(a).where(a.c.channel == channel, a.c.address == row.address)
                            .values(reachable=False, unreachable_reason=unreachable[:200]))
    return result


async def release_held(conn: AsyncConnection, accounts: Iterable[tuple[str, str]],
                       now: datetime) -> None:
    """The person at each (channel, address) wrote: rows held for them ("waiting", e.g.
    WhatsApp's window was closed) are due now. Runs in the caller's transaction."""
    params = [{"_c": channel, "_a": address, "_t": now} for channel, address in accounts]
    if not params:
        return
    o = table(Outbox)
    await conn.execute(
        update(o).where(o.c.channel == bindparam("_c"), o.c.address == bindparam("_a"),
                        o.c.status == "waiting")
        .values(status="queued", next_attempt_at=bindparam("_t")), params)
