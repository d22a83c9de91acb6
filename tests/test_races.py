"""Two bot processes answering the same job at the same moment (Step 3): a tukang's "Terima"
against the warga's cancel, and the same "Terima" delivered twice. One lock order
(docs/jobs.md) and a contended batch run again mean nobody gets the apology, and each race
ends one way."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta

import pytest
from sqlalchemy import select

from flows.engine import Engine
from flows.types import Inbound
from storage.db import Database
from storage.models import Job, Offer, Outbox
from tests.factories import make_job, make_tukang, user_id
from tests.harness import Harness, register_warga

TRIALS = 100
_ids = itertools.count()


def _payload(t: Harness, who: str, label: str) -> str:
    return next(p for p, shown in t.last(who).choices if shown == label)


async def _keys(db: Database, address: str) -> list[str]:
    async with db.read() as s:
        return list((await s.execute(select(Outbox.key).where(Outbox.address == address)
                                     .order_by(Outbox.id))).scalars())


async def _offer(t: Harness, warga: int, tukang: int) -> tuple[int, int]:
    """A job of `warga` offered to `tukang` (as booking leaves it), without the booking."""
    job_id = await make_job(t, warga, status="offered")
    now = t.clock()
    async with t.db.transaction() as s:
        offer = Offer(job_id=job_id, tukang_id=tukang, created_at=now,
                      expires_at=now + timedelta(hours=3))
        s.add(offer)
        await s.flush()
        return job_id, int(offer.id or 0)


@pytest.mark.parametrize("race", ["accept_cancel", "accept_accept"])
async def test_two_processes_race_on_one_offer(any_db: Database, race: str) -> None:
    t = Harness.console(any_db)
    other = Database(any_db.url)  # the second process: its own connections
    second = Engine(other, clock=t.clock)
    outcomes: dict[str, int] = {}
    try:
        await make_tukang(t, "andi", "Andi")
        await register_warga(t, "budi")
        andi, budi = t.account("andi")[1], t.account("budi")[1]
        warga, tukang = await user_id(t, "budi"), await user_id(t, "andi")
        assert t.engine is not None
        for i in range(TRIALS):
            job_id, offer_id = await _offer(t, warga, tukang)
            terima = f"!offer.accept:{offer_id}"  # the offer's "Terima" button
            if race == "accept_cancel":
                await t.setup_state("budi", step="jobs.cancel_confirm", data={"job": job_id},
                                    user=warga)
                other_side = Inbound("console", budi, f"r{next(_ids)}",
                                     choice=_payload(t, "budi", "Ya"))
            else:
                other_side = Inbound("console", andi, f"r{next(_ids)}", choice=terima)
            before = len(await _keys(any_db, andi)) + len(await _keys(any_db, budi))
            await asyncio.gather(
                t.engine.handle(Inbound("console", andi, f"r{next(_ids)}", choice=terima)),
                second.handle(other_side))
            keys = (await _keys(any_db, andi) + await _keys(any_db, budi))
            assert "error.sorry" not in keys, (i, keys)
            assert len(keys) > before, i  # both were answered
            async with any_db.read() as s:
                job = await s.get(Job, job_id)
                offer = await s.get(Offer, offer_id)
            assert job is not None and offer is not None
            if race == "accept_cancel":
                # the cancel first (the Terima comes too late), or the accept first and then
                # the cancel of an accepted job: the tukang is told either way
                assert job.status == "cancelled", i
                assert offer.status in ("cancelled", "accepted"), i
                outcome = "cancel first" if offer.status == "cancelled" else "accept first"
            else:
                assert (job.status, offer.status, job.tukang_id) == ("accepted", "accepted",
                                                                      tukang), i
                assert keys.count("offer.accepted_warga") == i + 1, (i, keys)
                outcome = "one accept"
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        assert sum(outcomes.values()) == TRIALS
    finally:
        await second.stop()
        await other.close()
        await t.close()


async def test_a_choice_while_the_dinas_withdraws_that_tukang(any_db: Database) -> None:
    """The warga presses "Pilih tukang ini" for Andi while the Dinas, in another process,
    stops Andi (his offers withdrawn, not yet committed): the choice waits, then finds the
    offer gone; Andi never becomes the job's tukang, and the other tukang is still asked."""
    from admin_cli.offers import withdraw_offers
    from flows.outbox import Outgoing

    t = Harness.console(any_db)
    other = Database(any_db.url)  # the admin CLI: its own connections
    try:
        andi = await make_tukang(t, "andi", "Andi")
        cahya = await make_tukang(t, "cahya", "Cahya")
        await register_warga(t, "budi")
        job_id, _ = await _offer(t, await user_id(t, "budi"), cahya)
        now = t.clock()
        async with t.db.transaction() as s:
            willing = Offer(job_id=job_id, tukang_id=andi, created_at=now, decided_at=now,
                            expires_at=now + timedelta(hours=3), status="willing")
            s.add(willing)
            await s.flush()
            willing_id = int(willing.id or 0)
        assert t.engine is not None
        async with other.transaction() as s:
            assert await withdraw_offers(s, Outgoing(), andi) == 1
            choice = asyncio.create_task(t.engine.handle(Inbound(
                "console", t.account("budi")[1], f"c{next(_ids)}",
                choice=f"!offer.choose:{willing_id}")))
            await asyncio.sleep(1.0)  # the choice waits for the job's row (or the file)
        await choice
        async with any_db.read() as s:
            job = await s.get(Job, job_id)
            statuses = dict((await s.execute(select(Offer.tukang_id, Offer.status)
                                              .where(Offer.job_id == job_id))).all())
        assert job is not None and (job.status, job.tukang_id) == ("offered", None)
        assert statuses == {andi: "cancelled", cahya: "pending"}
        await t.refresh()
        assert "tidak bisa dipilih" in t.got("budi", "Andi tidak bisa menerima").text
    finally:
        await other.close()
        await t.close()
