"""Time to match, simulated: asking tukang one at a time against asking up to three at once.

    .venv/bin/python bench/match_sim.py
    .venv/bin/python bench/match_sim.py --requests 20000 --seed 3 --json
    .venv/bin/python bench/match_sim.py --p-yes 0.3 --p-no 0.2 --offer-ttl 120

Why: the choice between the two ways of asking is a choice about how long a warga waits, and
no real jobs exist yet to measure it; this runs both on the same made-up requests.

Each request has its own ranked list of `--tukang` tukang (10), each with an answer drawn once
(yes 0.45, no 0.20, silent otherwise) and an answer delay (lognormal, median 30 min, heavy
tail), plus the warga's reaction delays (lognormal, median 20 min). Both modes run on the same
draws (common random numbers), so their difference is the way of asking, not luck. Every
delay is waking time (flows.deadlines.Waking, 06:00-21:00 WIB, the project's rule): nobody
answers at night, and a request at 22:00 is first seen at 06:00.

- one at a time (today): the request offers the job to the top tukang; the offer lasts
  `--offer-ttl` (180) waking minutes; on a no or the offer's expiry the warga picks the next
  one after their reaction delay; matched when a tukang says yes.
- up to three (new): the warga asks the next three at once. The first yes opens a
  confirmation window of `--choose-within` (60) waking minutes: the warga confirms after their
  reaction delay, or the first yes is chosen automatically when the window ends. With no yes
  from any of the three (all said no or expired), the warga asks the next three after their
  reaction delay. When the list has exactly one tukang left, that one is asked alone and a
  yes is final at once (nothing to choose between).

An answer that would come after its offer expired counts as silence. Requests do not compete
for tukang (a tukang's other jobs are not modelled), so each request's events are worked out
in time order on their own; no global event queue is needed.

Time to match is request → matched (the yes, or the confirmation), in clock hours, over the
matched requests; "within 3 waking h" is the share of all requests matched within three
waking hours (`Waking.between`, as storage/reports.py counts "fast"; unmatched ones are not
fast); "unmatched" the share left without a tukang after the whole list; "offers per request"
the tukang asked per request. The anchor is the one-at-a-time row of the same run: the
up-to-three median and p90 are printed as ratios of it. `--json` prints one JSON object as the
last line: {"requests", "seed", "one_at_a_time": {...}, "up_to_three": {...}, "ratio": {...},
"params": {...}}, shares as fractions (0-1), times in hours.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time as clock
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flows.deadlines import DEFAULT_WAKING, Waking
from storage.clock import WIB, as_utc

# --- parameters (each overridable on the command line) -------------------------------------

REQUESTS = 5000  # simulated requests: enough for a stable p90, still well under 10 s
SEED = 1  # random.Random seed: the same seed gives the same table
DAYS = 28  # requests arrive over four weeks (every day alike: waking hours ignore weekends)
START = datetime(2026, 3, 2, tzinfo=WIB)  # a Monday, 00:00 WIB: the first day of arrivals
TUKANG = 10  # tukang on a request's list; past them the request stays unmatched
P_YES = 0.45  # a tukang asked says yes...
P_NO = 0.20  # ...or no; silent (the offer expires) otherwise: 0.35
ANSWER_MEDIAN_MIN = 30.0  # a tukang's answer delay, waking minutes, median...
ANSWER_SIGMA = 1.2  # ...lognormal sigma: p90 ~2.3 h, about 7% later than a 3 h offer
REACT_MEDIAN_MIN = 20.0  # the warga's reaction to news (a no, an expiry, a yes), median...
REACT_SIGMA = 1.0  # ...lognormal sigma: p90 ~72 min, about 14% slower than a 60 min window
OFFER_TTL_MIN = 180  # an offer's life, waking minutes (SIJAKON_OFFER_TTL_MINUTES' default)
CHOOSE_WITHIN_MIN = 60  # confirmation window after the first yes (SIJAKON_CHOOSE_MINUTES)
BATCH = 3  # tukang asked at once in the new mode
FAST = timedelta(hours=3)  # "matched fast": within three waking hours (storage/reports.py)

# When in the day (WIB) requests are made, relative weight per hour 00..23: people ask after
# work and at lunch; 93% fall between 07:00 and 22:00, 5% between 22:00 and 06:00 (10%
# outside the default waking hours, 21:00-06:00).
HOUR_WEIGHTS: tuple[float, ...] = (
    0.4, 0.2, 0.1, 0.1, 0.2, 0.5,  # 00-05: a few, from people up late or early
    1.5, 4.0, 6.0, 6.5, 6.0, 5.5,  # 06-11: the morning, before work and on breaks
    6.5, 5.5, 5.0, 5.0, 5.5, 6.5,  # 12-17: lunch, the afternoon
    7.5, 8.0, 7.0, 5.0, 2.5, 1.0,  # 18-23: after work, the busiest; tails off towards 23:00
)

Answer = Literal["yes", "no", "silent"]
MODES = ("one_at_a_time", "up_to_three")
LABELS = {"one_at_a_time": "one at a time", "up_to_three": "up to three"}


@dataclass(frozen=True, slots=True)
class Params:
    """Everything a run depends on besides the seed, so a test can change one knob."""

    tukang: int = TUKANG
    p_yes: float = P_YES
    p_no: float = P_NO
    answer_median: timedelta = timedelta(minutes=ANSWER_MEDIAN_MIN)
    answer_sigma: float = ANSWER_SIGMA
    react_median: timedelta = timedelta(minutes=REACT_MEDIAN_MIN)
    react_sigma: float = REACT_SIGMA
    offer_ttl: timedelta = timedelta(minutes=OFFER_TTL_MIN)
    choose_within: timedelta = timedelta(minutes=CHOOSE_WITHIN_MIN)
    days: int = DAYS
    waking: Waking = field(default_factory=Waking)


@dataclass(frozen=True, slots=True)
class Reply:
    """One tukang's answer to this request, drawn once and used by both modes."""

    answer: Answer
    delay: timedelta  # waking time from the offer to the answer (unused when silent)


@dataclass(frozen=True, slots=True)
class Request:
    """A request and every random draw it needs, so both modes see the same world."""

    at: datetime  # aware UTC
    replies: tuple[Reply, ...]  # in the order the list ranks the tukang
    reactions: tuple[timedelta, ...]  # the warga's successive reaction delays, waking time


@dataclass(frozen=True, slots=True)
class Ask:
    """One offer as it happened: kept so a test can check the waking-hours arithmetic."""

    tukang: int  # rank on the list, from 0
    sent: datetime
    expires: datetime
    answer: Answer  # "silent" also when the answer would have come after `expires`
    answered: datetime | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one request ended in one mode."""

    requested: datetime
    matched: datetime | None  # None: nobody on the list took it
    asks: tuple[Ask, ...]


# --- drawing requests -------------------------------------------------------------------------


def lognormal(rng: random.Random, median: timedelta, sigma: float) -> timedelta:
    """A heavy-tailed delay with the given median; zero when the median is zero (tests)."""
    if median <= timedelta() or sigma < 0:
        return timedelta()
    return median * rng.lognormvariate(0.0, sigma)


def draw_request(rng: random.Random, p: Params) -> Request:
    """A request at a daytime-weighted moment of the period, with its tukang's answers."""
    day = rng.randrange(p.days)
    hour = rng.choices(range(24), weights=HOUR_WEIGHTS)[0]
    at = START + timedelta(days=day, hours=hour, seconds=rng.uniform(0, 3600))
    replies = []
    for _ in range(p.tukang):
        u = rng.random()
        answer: Answer = "yes" if u < p.p_yes else "no" if u < p.p_yes + p.p_no else "silent"
        replies.append(Reply(answer, lognormal(rng, p.answer_median, p.answer_sigma)))
    reactions = tuple(lognormal(rng, p.react_median, p.react_sigma) for _ in range(p.tukang))
    return Request(as_utc(at), tuple(replies), reactions)


# --- the two ways of asking -------------------------------------------------------------------


def _ask(req: Request, rank: int, sent: datetime, p: Params) -> Ask:
    """The offer to the tukang at `rank`, sent at `sent`: when it expires and what came back."""
    expires = p.waking.add(sent, p.offer_ttl)
    reply = req.replies[rank]
    if reply.answer != "silent":
        answered = p.waking.add(sent, reply.delay)
        if answered < expires:  # an offer is expired from `expires_at` on (flows/offers.py)
            return Ask(rank, sent, expires, reply.answer, answered)
    return Ask(rank, sent, expires, "silent", None)


def one_at_a_time(req: Request, p: Params) -> Outcome:
    """Today's flow: one offer at a time, the next one after the warga hears of a no/expiry."""
    asks: list[Ask] = []
    sent = req.at  # the request itself offers the job to the top tukang
    reactions = iter(req.reactions)
    for rank in range(len(req.replies)):
        ask = _ask(req, rank, sent, p)
        asks.append(ask)
        if ask.answer == "yes":
            return Outcome(req.at, ask.answered, tuple(asks))
        news = ask.answered or ask.expires  # the no, or the expiry
        sent = p.waking.add(news, next(reactions))
    return Outcome(req.at, None, tuple(asks))


def up_to_three(req: Request, p: Params, batch: int = BATCH) -> Outcome:
    """The new flow: `batch` offers at once; the first yes opens a confirmation window that
    the warga closes by reacting, or that closes itself choosing the first yes."""
    asks: list[Ask] = []
    sent = req.at
    reactions = iter(req.reactions)
    rank, total = 0, len(req.replies)
    while rank < total:
        group = [_ask(req, r, sent, p) for r in range(rank, min(rank + batch, total))]
        asks.extend(group)
        rank += len(group)
        yeses = [a.answered for a in group if a.answer == "yes" and a.answered is not None]
        if yeses:
            first = min(yeses)
            if len(group) == 1:  # the last one on the list: nobody to choose between
                return Outcome(req.at, first, tuple(asks))
            closes = p.waking.add(first, p.choose_within)
            confirms = p.waking.add(first, next(reactions))
            return Outcome(req.at, min(confirms, closes), tuple(asks))
        news = max(a.answered or a.expires for a in group)  # the last no, or the expiry
        sent = p.waking.add(news, next(reactions))
    return Outcome(req.at, None, tuple(asks))


# --- figures ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Figures:
    """One row of the table."""

    mode: str
    median_h: float | None
    p90_h: float | None
    within_3_waking_h: float  # share of all requests, 0-1
    unmatched: float  # share of all requests, 0-1
    offers_per_request: float


def _hours(span: timedelta) -> float:
    return span.total_seconds() / 3600


def figures(mode: str, outcomes: Sequence[Outcome], waking: Waking) -> Figures:
    """Median/p90 clock hours over the matched, fast and unmatched shares over all."""
    waits = sorted(_hours(o.matched - o.requested) for o in outcomes if o.matched is not None)
    fast = sum(1 for o in outcomes
               if o.matched is not None and waking.between(o.requested, o.matched) <= FAST)
    n = max(len(outcomes), 1)
    p90 = waits[min(len(waits) - 1, round(0.9 * (len(waits) - 1)))] if waits else None
    return Figures(mode, round(statistics.median(waits), 3) if waits else None,
                   None if p90 is None else round(p90, 3), round(fast / n, 4),
                   round(1 - len(waits) / n, 4),
                   round(sum(len(o.asks) for o in outcomes) / n, 3))


def simulate(requests: int, seed: int, p: Params) -> dict[str, Figures]:
    """Both modes on the same `requests` drawn from `random.Random(seed)`."""
    rng = random.Random(seed)
    drawn = [draw_request(rng, p) for _ in range(requests)]
    return {"one_at_a_time": figures("one_at_a_time", [one_at_a_time(r, p) for r in drawn],
                                     p.waking),
            "up_to_three": figures("up_to_three", [up_to_three(r, p) for r in drawn],
                                   p.waking)}


def _ratio(new: float | None, anchor: float | None) -> float | None:
    return None if new is None or not anchor else round(new / anchor, 3)


def _cell(value: float | None, fmt: str = ".2f") -> str:
    return "-" if value is None else format(value, fmt)


def report(results: dict[str, Figures]) -> str:
    """The markdown table, the one-at-a-time row first (the anchor)."""
    out = ["| mode | median h | p90 h | within 3 waking h (%) | unmatched (%) "
           "| offers per request |",
           "|---|---:|---:|---:|---:|---:|"]
    for key in MODES:
        f = results[key]
        out.append(f"| {LABELS[key]} | {_cell(f.median_h)} | {_cell(f.p90_h)} | "
                   f"{100 * f.within_3_waking_h:.1f} | {100 * f.unmatched:.1f} | "
                   f"{f.offers_per_request:.2f} |")
    return "\n".join(out)


def waking_hours(text: str) -> Waking:
    """`06:00-21:00` → Waking; argparse turns the ValueError into a usage message."""
    lo, hi = text.split("-")
    return Waking(time.fromisoformat(lo.strip()), time.fromisoformat(hi.strip()))


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--requests", type=int, default=REQUESTS)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--days", type=int, default=DAYS, help="arrival period, days")
    ap.add_argument("--tukang", type=int, default=TUKANG, help="tukang on each request's list")
    ap.add_argument("--p-yes", type=float, default=P_YES)
    ap.add_argument("--p-no", type=float, default=P_NO)
    ap.add_argument("--answer-median", type=float, default=ANSWER_MEDIAN_MIN,
                    help="tukang's answer delay, median waking minutes")
    ap.add_argument("--answer-sigma", type=float, default=ANSWER_SIGMA)
    ap.add_argument("--react-median", type=float, default=REACT_MEDIAN_MIN,
                    help="warga's reaction delay, median waking minutes")
    ap.add_argument("--react-sigma", type=float, default=REACT_SIGMA)
    ap.add_argument("--offer-ttl", type=float, default=OFFER_TTL_MIN, help="waking minutes")
    ap.add_argument("--choose-within", type=float, default=CHOOSE_WITHIN_MIN,
                    help="waking minutes")
    ap.add_argument("--waking", type=waking_hours,
                    default=Waking(*DEFAULT_WAKING), help="waking hours WIB, e.g. 06:00-21:00")
    ap.add_argument("--json", action="store_true", help="a JSON object as the last line")
    args = ap.parse_args(argv)
    if args.requests < 1 or args.tukang < 1 or args.days < 1:
        ap.error("--requests, --tukang and --days must be at least 1")
    if not (args.p_yes >= 0 and args.p_no >= 0 and args.p_yes + args.p_no <= 1):
        ap.error("--p-yes and --p-no are probabilities adding up to at most 1")
    p = Params(tukang=args.tukang, p_yes=args.p_yes, p_no=args.p_no,
               answer_median=timedelta(minutes=args.answer_median),
               answer_sigma=args.answer_sigma,
               react_median=timedelta(minutes=args.react_median), react_sigma=args.react_sigma,
               offer_ttl=timedelta(minutes=args.offer_ttl),
               choose_within=timedelta(minutes=args.choose_within), days=args.days,
               waking=args.waking)
    started = clock.perf_counter()
    results = simulate(args.requests, args.seed, p)
    seconds = clock.perf_counter() - started
    one, three = results["one_at_a_time"], results["up_to_three"]
    ratio = {"median": _ratio(three.median_h, one.median_h),
             "p90": _ratio(three.p90_h, one.p90_h)}
    print(f"Match simulation: {args.requests:,} requests over {p.days} days, seed {args.seed}, "
          f"{p.tukang} tukang each; yes {p.p_yes:g} / no {p.p_no:g} / silent "
          f"{1 - p.p_yes - p.p_no:g}; answer median {args.answer_median:g} min, warga "
          f"{args.react_median:g} min; offer {args.offer_ttl:g} min, choose within "
          f"{args.choose_within:g} min; waking {p.waking.start:%H:%M}-{p.waking.end:%H:%M} "
          f"WIB ({seconds:.1f} s)\n")
    print(report(results))
    print(f"\nanchor: one at a time; up to three / one at a time: median "
          f"{_cell(ratio['median'], '.2f')}x, p90 {_cell(ratio['p90'], '.2f')}x")
    if args.json:
        params: dict[str, Any] = {  # durations in minutes
            (f"{k}_min" if isinstance(v, timedelta) else k):
                (round(_hours(v) * 60, 3) if isinstance(v, timedelta) else v)
            for k, v in asdict(p).items() if k != "waking"}
        params["waking"] = f"{p.waking.start:%H:%M}-{p.waking.end:%H:%M}"
        out: dict[str, Any] = {"requests": args.requests, "seed": args.seed}
        for key in MODES:
            out[key] = {k: v for k, v in asdict(results[key]).items() if k != "mode"}
        out["ratio"] = ratio
        out["params"] = params
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
