"""The public-satisfaction survey (SKM, PermenPANRB 14/2017) inside the bot.

Nine questions, the regulation's own wording and answer scale (1-4), one tap each, every one
skippable ("Lewati" keeps None for that element), then one optional suggestion. At most one
answer per person per quarter (WIB); nothing is saved until the end, so "menu" half-way
leaves no partial answer behind.

Who is asked:
- a warga right after rating a finished job: the rating flow hands over to
  `invite_after_rating`, whose step is the main menu with "Isi survei" after its entries (the
  survey is a favour asked, never a gate in front of the menu, and the menu's numbers stay
  what they always are: "Pesan tukang" is 1);
- every active tukang once a quarter, by the `survey_invite_tukang` timer, with the same
  button as a notification. The invitation is remembered as an AuditLog row "survey.invited".
The button is an action (`!survey.start:`), so it works from whatever step the person is at.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import exists
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from flows.context import Context, FlowConfig
from flows.deadlines import waking_only
from flows.menu import Menu
from flows.outbox import PRIORITY_REPLY, Outgoing
from flows.steps import HOME, ChooseOne, Next, Text, clip_telling, keyed
from flows.table import Registry
from flows.types import Choice, Reply, Reprompt
from storage.clock import local
from storage.models import AuditLog, SurveyResponse, TukangProfile, User
from storage.reports import N_ELEMENTS, Quarter, period_of
from storage.sql import pk

SUGGESTION_MAX = 1000
START_ACTION = "survey.start"
INVITE = "survey.invite"
SUGGESTION = "survey.suggestion"
INVITED = "survey.invited"
INVITE_HOURS = range(8, 20)  # tukang are invited in the day, WIB, never at night
INVITE_BATCH = 200
_PHONE = re.compile(r"(?:\+?62|0)[\s.-]?8(?:[\s.-]?\d){7,11}")


def question_step(n: int) -> str:
    return f"survey.q{n}"


async def answered(s: AsyncSession, user_id: int, period: str) -> bool:
    """Has this person answered the survey of `period` ("2026Q4")?"""
    row = await s.execute(select(pk(SurveyResponse.id)).where(
        SurveyResponse.user_id == user_id, SurveyResponse.period == period).limit(1))
    return row.first() is not None


async def invite_after_rating(ctx: Context) -> str | None:
    """The survey's first step for a warga who just rated a job, or None if they already
    answered this quarter. The rating flow returns `await invite_after_rating(ctx) or HOME`."""
    if ctx.conv.user_id is None:
        return None
    if await answered(await ctx.db(), ctx.conv.user_id, period_of(ctx.now)):
        return None
    return INVITE


def strip_phones(text: str) -> str:
    """Suggestions are kept for the Dinas to read; phone numbers in them are not."""
    return _PHONE.sub("[nomor HP dihapus]", text)


# --- steps ------------------------------------------------------------------------------------


class Invite(Menu):
    """The invitation as the main menu with "Isi survei" last: the survey never stands in the
    way, the menu's entries keep their numbers (docs/conversations.md), and one list of
    choices means typing a number works on every channel. "Isi survei" is the action
    `!survey.start:`, so the button keeps working after the person moves on (like a
    notification's buttons); the other choices are the menu's own."""

    async def prompt(self, ctx: Context) -> None:
        # ctx.say, with one action payload among the step's choices (say tags them all)
        pairs = [(f"{ctx.conv.tag}:{c.id}", c.label) for c in await self.choices(ctx)]
        pairs.append((f"!{START_ACTION}:", ctx.t("survey.choice_start")))
        ctx.conv.data["_choices"] = [list(p) for p in pairs]
        ctx.out.add(ctx.conv.channel, ctx.conv.address, ctx.conv.user_id, self.key,
                    Reply(text=ctx.t(self.key), choices=pairs), PRIORITY_REPLY)
        ctx.said += 1


def _options(n: int) -> Any:
    return keyed(*((str(i), f"survey.q{n}_{i}") for i in range(1, 5)), ("skip", "choice.skip"))


def _after(n: int) -> str:
    """The step after question `n`: the next question, or the suggestion after the last."""
    return question_step(n + 1) if n < N_ELEMENTS else SUGGESTION


def _then(n: int) -> Any:
    async def then(ctx: Context, choice: Choice) -> Next:
        if choice.id not in {"1", "2", "3", "4", "skip"}:
            raise Reprompt("survey.help")
        scores: list[int | None] = list(ctx.data.get("survey_scores") or [None] * N_ELEMENTS)
        scores[n - 1] = None if choice.id == "skip" else int(choice.id)
        ctx.data["survey_scores"] = scores
        return _after(n)

    return then


async def _valid_suggestion(ctx: Context, text: str) -> str:
    suggestion = clip_telling(ctx, " ".join(text.split()), SUGGESTION_MAX,
                              "survey.suggestion_cut")
    return strip_phones(suggestion)


async def _save(ctx: Context, suggestion: str) -> Next:
    scores = list(ctx.data.get("survey_scores") or [None] * N_ELEMENTS)[:N_ELEMENTS]
    ctx.clear_flow_data()
    user = await ctx.user()
    if user is None:
        return HOME
    period = period_of(ctx.now)
    s = await ctx.db()
    if await answered(s, user.id or 0, period):  # a second run started before the first ended
        ctx.say("survey.already", period=period)
        return HOME
    response = SurveyResponse(user_id=user.id, role=ctx.data.get("_role") or user.role,
                              period=period, scores=scores, suggestion=suggestion,
                              created_at=ctx.now)
    s.add(response)
    await s.flush()
    await ctx.audit("survey.answer", "survey", response.id, period=period,
                    skipped=sum(1 for v in scores if v is None))
    ctx.say("survey.thanks")
    return HOME


async def _no_suggestion(ctx: Context, choice: Choice) -> Next:
    return await _save(ctx, "")


async def start(ctx: Context, arg: str) -> Next:
    """"Isi survei" from an invitation: once per quarter, else a thank-you and the menu."""
    period = period_of(ctx.now)
    if ctx.conv.user_id is None:
        return None
    if await answered(await ctx.db(), ctx.conv.user_id, period):
        ctx.say("survey.already", period=period)
        return HOME
    ctx.clear_flow_data()
    ctx.data["survey_scores"] = [None] * N_ELEMENTS
    ctx.say("survey.start")
    return question_step(1)


# --- the tukang's quarterly invitation --------------------------------------------------------


async def survey_invite_tukang(session: AsyncSession, now: datetime, out: Outgoing,
                               config: FlowConfig) -> int:
    """Active tukang who neither answered nor were invited this quarter get one invitation,
    in the daytime (WIB). The AuditLog row remembers it, so a restart never repeats it."""
    if local(now).hour not in INVITE_HOURS:
        return 0
    quarter = Quarter.of(now)
    invited = exists().where(col(AuditLog.action) == INVITED, col(AuditLog.subject_type) == "user",
                             col(AuditLog.subject_id) == User.id,
                             col(AuditLog.at) >= quarter.start)
    done = exists().where(col(SurveyResponse.user_id) == User.id,
                          col(SurveyResponse.period) == quarter.label)
    due = (await session.execute(
        select(pk(User.id), User.name)
        .join(TukangProfile, col(TukangProfile.user_id) == User.id)
        .where(TukangProfile.status == "active", User.status == "active", ~invited, ~done)
        .order_by(col(User.id)).limit(INVITE_BATCH))).all()
    for uid, name in due:
        reached = await out.notify(session, uid, "survey.invite_tukang",
                                   actions=[Choice(f"{START_ACTION}:", "survey.choice_start")],
                                   name=name, period=quarter.label)
        session.add(AuditLog(actor="system", action=INVITED, subject_type="user",
                             subject_id=uid, detail={"period": quarter.label,
                                                     "reached": reached}, at=now))
    await session.flush()
    return len(due)


def register(registry: Registry) -> None:
    registry.add(
        Invite(name=INVITE, key="survey.invite", entries=registry.menu),
        *(ChooseOne(name=question_step(n), key=f"survey.q{n}", options=_options(n),
                    then=_then(n), help="survey.help",
                    goes_to=(_after(n),))
          for n in range(1, N_ELEMENTS + 1)),
        Text(name=SUGGESTION, key="survey.ask_suggestion", validate=_valid_suggestion,
             then=_save, options=keyed(("skip", "choice.skip")), on_choice=_no_suggestion,
             help="survey.suggestion_help", goes_to=(HOME,)),
    )
    registry.action(START_ACTION, start, goes_to=(HOME, question_step(1)))
    registry.timer("survey_invite_tukang", waking_only(survey_invite_tukang))
