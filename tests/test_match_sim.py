"""The match simulation (bench/match_sim.py) keeps the rules it claims: waking hours, the
confirmation window, and its output format; behaviour only, never timings."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from bench.match_sim import (
    MODES,
    Params,
    Reply,
    Request,
    draw_request,
    main,
    one_at_a_time,
    simulate,
    up_to_three,
)
from storage.clock import WIB, as_utc, local

ZERO = timedelta()


def wib(day: int, hour: int, minute: int = 0) -> datetime:
    """A March 2026 moment in Batam, as aware UTC (how the simulation keeps time)."""
    return as_utc(datetime(2026, 3, day, hour, minute, tzinfo=WIB))


def request(at: datetime, *replies: Reply, react: timedelta = timedelta(minutes=20)) -> Request:
    return Request(at, replies, (react,) * len(replies))


def test_asking_three_is_not_slower_at_the_median() -> None:
    """The same requests, both ways: asking three at once matches at least as fast."""
    res = simulate(400, 1, Params())
    one, three = res["one_at_a_time"], res["up_to_three"]
    assert one.median_h is not None and three.median_h is not None
    assert three.median_h <= one.median_h
    assert three.within_3_waking_h >= one.within_3_waking_h


def test_everyone_says_yes_at_once() -> None:
    """yes = 1 and no delays: a request in waking hours is matched the moment it is made in
    both modes, one offer (or three) each; one made at night at 06:00 the next morning."""
    p = replace(Params(), p_yes=1.0, p_no=0.0, answer_median=ZERO, react_median=ZERO)
    rng = random.Random(1)
    drawn = [draw_request(rng, p) for _ in range(300)]
    awake = [r for r in drawn if 6 <= local(r.at).hour < 21]
    assert awake and len(awake) < len(drawn)
    for r in drawn:
        for mode in (one_at_a_time, up_to_three):
            out = mode(r, p)
            if r in awake:
                assert out.matched == r.at
            else:
                assert out.matched is not None
                assert local(out.matched).time().hour == 6 and out.matched > r.at
            assert len(out.asks) == (1 if mode is one_at_a_time else 3)


def test_a_night_offer_expires_the_next_morning() -> None:
    """At 22:00 WIB with the tukang silent, the three-hour offer ends at 09:00 the next day,
    and the warga (20 min to react) asks the next one at 09:20."""
    silent = Reply("silent", timedelta(minutes=30))
    out = one_at_a_time(request(wib(2, 22), silent, silent), Params())
    assert out.matched is None
    first, second = out.asks
    assert first.sent == wib(2, 22) and first.answer == "silent"
    assert first.expires == wib(3, 9)
    assert second.sent == wib(3, 9, 20) and second.expires == wib(3, 12, 20)


@pytest.mark.parametrize(("react", "matched"), [
    (timedelta(minutes=20), wib(2, 10, 50)),  # the warga confirms at 10:30 + 20 min
    (timedelta(minutes=90), wib(2, 11, 30)),  # no reaction: the first yes at 10:30 + 60 min
])
def test_the_confirmation_window(react: timedelta, matched: datetime) -> None:
    """Up to three: the first yes (10:30) opens the 60-minute window; one at a time takes the
    same yes at once."""
    yes, no = Reply("yes", timedelta(minutes=30)), Reply("no", timedelta(minutes=5))
    req = request(wib(2, 10), no, yes, Reply("yes", timedelta(minutes=45)), react=react)
    assert up_to_three(req, Params()).matched == matched
    # one at a time: the no at 10:05, the next asked at 10:05 + react, yes 30 min later
    assert one_at_a_time(req, Params()).matched == wib(2, 10, 35) + react


def test_the_last_tukang_alone_needs_no_confirmation() -> None:
    """Four on the list: three say nothing, the fourth is asked alone and its yes is final."""
    silent = Reply("silent", ZERO)
    req = request(wib(2, 8), silent, silent, silent, Reply("yes", timedelta(minutes=10)),
                  react=timedelta(minutes=30))
    out = up_to_three(req, Params())
    # the three expire at 11:00, the warga asks the fourth at 11:30, who says yes at 11:40
    assert [a.sent for a in out.asks] == [wib(2, 8)] * 3 + [wib(2, 11, 30)]
    assert out.matched == wib(2, 11, 40)


def test_json_last_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--requests", "200", "--seed", "2", "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert "| one at a time |" in "\n".join(lines) and "| up to three |" in "\n".join(lines)
    data = json.loads(lines[-1])
    assert data["requests"] == 200 and data["seed"] == 2
    for mode in MODES:
        assert set(data[mode]) == {"median_h", "p90_h", "within_3_waking_h", "unmatched",
                                   "offers_per_request"}
        assert 0 <= data[mode]["unmatched"] <= 1
