"""What happens to the open offers of a tukang the Dinas stops (suspended, or removed under
Pasal 9): shared by `tukang` and `complaints`, which both decide such things."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from admin_cli.common import now
from flows.offers import ASKING, lock_job, pick_again, reopen, unsend_offer
from flows.outbox import Outgoing
from storage.models import Job, Offer, User


async def withdraw_offers(s: AsyncSession, out: Outgoing, tukang_id: int) -> int:
    """Cancel the offers still in play of a tukang who may no longer work (asked, or said yes
    and waiting to be chosen); each warga may choose another tukang once nobody else asked is
    still in play (the job goes back to open). Returns how many were withdrawn."""
    at = now()
    rows = (await s.execute(select(Offer.id, Offer.job_id).where(
        Offer.tukang_id == tukang_id, col(Offer.status).in_(ASKING)))).all()
    tukang = await s.get(User, tukang_id)
    for offer_id, job_id in rows:
        await lock_job(s, job_id)  # the job first, as every change of its offers does
        await s.execute(update(Offer).where(Offer.id == offer_id, col(Offer.status).in_(ASKING))
                        .values(status="cancelled", decided_at=at))
        offer = await s.get(Offer, offer_id)
        if offer is not None:
            await unsend_offer(s, offer)  # still waiting for the morning: never sent
        job = await s.get(Job, job_id)
        if job is not None and await reopen(s, job_id):
            await out.notify(s, job.warga_id, "admin.offer_withdrawn_warga",
                             actions=pick_again(job_id), code=job.code,
                             name=tukang.name if tukang else "-")
    return len(rows)
