"""A tukang's own page: activation status, siap menerima / libur, service areas, skills, SKK.

Areas change at once (they only decide where offers come from). New skills and SKK data go
back to the Dinas through the registration steps (flows/tukang_reg.py, status "pending"). A
rejected tukang reads the Dinas's reason here and can correct and resubmit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from flows.complaints import begin_objection, objection_window, stamp
from flows.context import Context
from flows.offers import pick_again
from flows.outbox import Outgoing
from flows.parsing import dmy
from flows.start import kecamatan_options
from flows.steps import HOME, ChooseOne, Next
from flows.table import MenuEntry, Registry
from flows.tukang_reg import (
    BEGIN,
    EDIT_TARGETS,
    STATUS,
    Prefilled,
    kecamatan_names,
    profile_of,
    skill_names,
    start_edit,
)
from flows.types import Choice, Reprompt
from storage.models import Job, User
from storage.sql import rowcount

AREAS = "tukang.areas"
EDITABLE = ("active", "pending")
STOPPED = ("suspended", "removed")  # no offers, no work, no tukang broadcasts
TAKEN = ("accepted", "in_progress")


async def take_back_jobs(session: AsyncSession, out: Outgoing, tukang_id: int,
                         now: datetime) -> list[str]:
    """The Dinas stopped a tukang (suspended, or removed under Pasal 9): every job they had
    accepted or begun goes back to its warga, open again, with "Pilih tukang lain"; the
    tukang is told which. Conditional updates, so a job finished meanwhile stays finished.
    Returns the codes taken back."""
    jobs = (await session.execute(select(Job).where(
        Job.tukang_id == tukang_id, col(Job.status).in_(TAKEN)).order_by(col(Job.id))
    )).scalars().all()
    tukang = await session.get(User, tukang_id)
    name = tukang.name if tukang else "-"
    codes = []
    for job in jobs:
        done = await session.execute(
            update(Job).where(col(Job.id) == job.id, col(Job.tukang_id) == tukang_id,
                              col(Job.status).in_(TAKEN))
            .values(status="open", tukang_id=None, accepted_at=None,
                    notify_when_available=False)
            .execution_options(synchronize_session=False))
        if rowcount(done) != 1:
            continue
        codes.append(job.code)
        await out.notify(session, job.warga_id, "complaint.job_taken_back",
                         actions=[Choice(c.id, "job.choice_pick_other")
                                  for c in pick_again(job.id or 0)],
                         code=job.code, name=name, started=job.status == "in_progress")
    if codes:
        await out.notify(session, tukang_id, "complaint.jobs_taken_back_tukang",
                         codes=", ".join(codes))
    return codes


class StatusPage(ChooseOne):
    """Shows the profile; a tukang without one (an old or odd state) goes to registration."""

    exits = (BEGIN,)

    async def enter(self, ctx: Context) -> Next:
        if await profile_of(ctx) is None:
            return BEGIN
        return await super().enter(ctx)


async def _vars(ctx: Context) -> dict[str, Any]:
    p = await profile_of(ctx)
    if p is None:
        return {"status": "-", "state": "", "reason": "", "since": "-", "available": False,
                "skills": "-", "jenjang": "-", "valid_until": "-", "expired": False,
                "areas": "-", "decided": "", "objection": "", "object_until": ""}
    win = await objection_window(await ctx.db(), p.user_id, ctx.now, ctx.config)
    return {
        "decided": dmy(p.decided_at.date() if p.decided_at else None)
        if p.status in STOPPED else "",
        "objection": (f"{win.existing.code} · "
                      + ctx.t(f"complaint.objection_{win.existing.status}"))
        if win.existing else "",
        "object_until": stamp(win.until) if win.allowed else "",
        "status": p.status,
        "state": ctx.t(f"tukang.state_{p.status}") if p.status in (
            "pending", "active", "rejected", "suspended", "removed") else p.status,
        "reason": p.decision_reason or "",
        "since": dmy(p.submitted_at.date() if p.submitted_at else None),
        "available": p.available,
        "skills": ", ".join(await skill_names(ctx, list(p.skills or []))) or "-",
        "jenjang": p.jenjang,
        "valid_until": dmy(p.skk_valid_until),
        "expired": p.skk_valid_until < ctx.today,
        "areas": ", ".join(await kecamatan_names(ctx, list(p.areas or []))) or "-",
    }


async def _options(ctx: Context) -> list[Choice]:
    p = await profile_of(ctx)
    keys: list[tuple[str, str]] = []
    if p is not None and p.status == "active":
        keys.append(("off", "tukang.set_off") if p.available else ("on", "tukang.set_on"))
    if p is not None and p.status in EDITABLE:
        keys += [("areas", "tukang.change_areas"), ("skills", "tukang.change_skills"),
                 ("skk", "tukang.change_skk")]
    if p is not None and p.status == "rejected":
        keys.append(("resubmit", "tukang.resubmit"))
    if p is not None and p.status == "removed" and (await objection_window(
            await ctx.db(), p.user_id, ctx.now, ctx.config)).allowed:
        keys.append(("object", "complaint.choice_objection"))
    keys.append(("menu", "tukang.back_menu"))
    return [Choice(i, ctx.t(k)) for i, k in keys]


async def _chosen(ctx: Context, choice: Choice) -> Next:
    if choice.id == "menu":
        return HOME
    p = await profile_of(ctx)
    if p is None:
        return BEGIN
    if choice.id in ("on", "off") and p.status == "active":
        p.available = choice.id == "on"
        await ctx.audit("tukang.availability", "tukang_profile", p.id, available=p.available)
        ctx.say("tukang.now_on" if p.available else "tukang.now_off")
        return HOME
    if choice.id == "areas" and p.status in EDITABLE:
        ctx.data.pop("tk_areas_sel", None)
        return AREAS
    if choice.id in ("skills", "skk") and p.status in EDITABLE:
        return await start_edit(ctx, choice.id)
    if choice.id == "object" and p.status == "removed":
        return await begin_objection(ctx)
    if choice.id == "resubmit" and p.status == "rejected":
        ctx.say("tukang.resubmit_intro", reason=p.decision_reason or "-")
        return await start_edit(ctx, "full")
    raise Reprompt("tukang.not_now")


async def _current_areas(ctx: Context) -> list[str]:
    p = await profile_of(ctx)
    return list(p.areas or []) if p else []


async def _save_areas(ctx: Context, codes: list[str]) -> Next:
    p = await profile_of(ctx)
    if p is None:
        return BEGIN
    p.areas = codes
    await ctx.audit("tukang.areas", "tukang_profile", p.id, areas=codes)
    ctx.say("tukang.areas_saved", areas=", ".join(await kecamatan_names(ctx, codes)))
    return STATUS


def register(registry: Registry) -> None:
    registry.add(
        StatusPage(name=STATUS, key="tukang.status", vars=_vars, options=_options,
                   then=_chosen, goes_to=(HOME, BEGIN, AREAS, "complaint.objection_text",
                                          *EDIT_TARGETS)),
        Prefilled(name=AREAS, key="tukang.ask_areas", options=kecamatan_options,
                  then=_save_areas, initial=_current_areas, store="tk_areas_sel",
                  goes_to=(BEGIN, STATUS)),
    )
    registry.menu_entry(MenuEntry("tukang_status", "tukang.menu_item", STATUS,
                                  roles=("tukang",), position=20))
