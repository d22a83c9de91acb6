"""WhatsApp pacing: the Twilio stand-in refuses what goes over a sender's rate the way the bench
counts it, the sender's rate and burst never let more than WHATSAPP_RATE_PER_SECOND leave in
any one second yet catch up a late pacing loop, and its connections are reused. Speed figures
are bench/delivery.py's; these check the rules on a stepped clock."""

from __future__ import annotations

import asyncio
import random

import pytest

import bot.delivery
from bot.delivery import Retryable, TokenBucket
from bot.whatsapp import pacing
from flows.types import Reply
from tests.channels import claimed
from tests.whatsapp.conftest import MakeHarness

SITI = "+6281255556666"


async def test_the_standin_refuses_the_message_over_its_rate(make_h: MakeHarness) -> None:
    """With a limit of 3 a second, the 4th message within one second is refused with 429 /
    20429 and a Retry-After, which the sender turns into a pause of the whole channel; once
    the first message is a second old, the next one goes."""
    h = await make_h()
    standin, sender = h.driver.standin, h.driver.sender
    now = [100.0]
    standin.rate, standin.clock = 3, lambda: now[0]
    for i in range(3):
        await sender.send(claimed(SITI, Reply(text=f"m{i}"), row_id=i + 1))
        now[0] += 0.1
    for _ in range(2):  # at 100.3 and at 100.9 the three are still within the second
        with pytest.raises(Retryable) as refused:
            await sender.send(claimed(SITI, Reply(text="m3"), row_id=4))
        assert refused.value.retry_after == 1.0 and refused.value.whole_channel
        assert "20429" in str(refused.value) and SITI[3:] not in str(refused.value)
        now[0] += 0.6
    await sender.send(claimed(SITI, Reply(text="m3"), row_id=4))  # at 101.5
    assert [m.body for m in standin.sent] == ["m0", "m1", "m2", "m3"]
    assert standin.stats()["throttled"] == 2 and standin.stats()["sent"] == 4


async def test_the_worker_paces_with_the_senders_burst(make_h: MakeHarness) -> None:
    """The delivery worker's bucket for WhatsApp takes the sender's rate and burst: at 80/s a
    burst above one token (catching up late wake-ups), at 20/s exactly one."""
    fast = await make_h(whatsapp_rate_per_second=80)
    bucket = fast.driver.rt.worker.pumps["whatsapp"].bucket
    assert (bucket.rate, bucket.burst) == (fast.driver.sender.rate, fast.driver.sender.burst)
    assert bucket.burst > 1.0
    slow = await make_h()  # the default, 20/s
    assert slow.driver.rt.worker.pumps["whatsapp"].bucket.burst == 1.0


@pytest.mark.parametrize("limit", [1, 7, 20, 80, 200, 400])
async def test_never_more_than_the_limit_in_any_second(limit: float,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's bucket at the sender's rate and burst, on a clock where every wake-up of
    the pacing loop is 0-4 ms late: no one-second window (closed) holds more than the limit,
    and from 80/s on the lateness is caught up, so the rate stays 97% of the limit (with a
    burst of one token it was lost: ~84% at 80/s)."""
    now = [0.0]
    late = random.Random(limit)

    async def sleep(seconds: float) -> None:
        now[0] += seconds + late.uniform(0.0, 0.004)

    monkeypatch.setattr(bot.delivery.asyncio, "sleep", sleep)
    rate, burst = pacing(limit)
    bucket = TokenBucket(rate, burst, clock=lambda: now[0])
    sent = []
    for _ in range(int(limit * 30) + 1):
        await bucket.acquire()
        sent.append(now[0])
    first = 0
    for last, at in enumerate(sent):
        while sent[first] < at - 1.0:
            first += 1
        assert last - first + 1 <= limit, f"{last - first + 1} sends within one second"
    achieved = (len(sent) - 1) / (sent[-1] - sent[0])
    if limit >= 80:
        assert achieved >= 0.965 * limit


async def test_connections_are_kept_for_every_thread(make_h: MakeHarness) -> None:
    """Sixteen messages at once to an API that takes a while to answer, twice: the second
    round reuses the first round's connections (the library's own pool kept ten and threw
    the rest away: a new TLS handshake for each message over ten in flight)."""
    h = await make_h()
    standin, sender = h.driver.standin, h.driver.sender
    standin.latency = 0.2

    async def round_of(first: int) -> None:
        await asyncio.gather(*[sender.send(claimed(f"+62812000{first + i:05d}", Reply(text="x"),
                                                   row_id=first + i)) for i in range(16)])

    await round_of(0)
    await round_of(100)
    assert len(standin.sent) == 32
    assert standin.stats()["connections"] <= 16
