"""Pengaduan: a warga's written complaint about a tukang, and the tukang's statement.

Perwako Batam 65/2021 Pasal 9: a tukang can be removed only after a written complaint with
evidence and after the Dinas has asked the tukang for a statement. So a complaint is only
possible on a job that had a tukang; the Dinas verifies it (admin CLI), asks for a statement
(a notification whose button is the action "complaint.statement:<id>"), and decides. The Dinas
is not party to disputes between warga and tukang (price, quality agreed between them); the
confirmation says so.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlmodel import col, select

from flows.context import Context
from flows.parsing import row_id
from flows.steps import HOME, ChooseOne, Confirm, Next, Photos, Text, clip_telling
from flows.table import MenuEntry, Registry
from flows.types import Choice, Reprompt
from storage.clock import local
from storage.codes import next_code
from storage.models import Complaint, Job, User
from storage.sql import rowcount

OPEN = ("submitted", "awaiting_statement", "under_review")
MIN_TEXT = 15
MAX_TEXT = 2000
MAX_PHOTOS = 5
JOBS_SHOWN = 10


# --- the warga's complaint ----------------------------------------------------------------


async def _jobs_with_tukang(ctx: Context) -> list[Job]:
    s = await ctx.db()
    return list((await s.execute(
        select(Job)
        .where(Job.warga_id == (ctx.conv.user_id or 0), col(Job.tukang_id).is_not(None))
        .order_by(col(Job.created_at).desc(), col(Job.id).desc())
        .limit(JOBS_SHOWN))).scalars().all())


class PickJob(ChooseOne):
    """The warga's jobs that had a tukang; none means there is nothing to complain about."""

    exits = (HOME,)

    async def enter(self, ctx: Context) -> Next:
        if not await _jobs_with_tukang(ctx):
            ctx.say("complaint.no_jobs")
            return HOME
        return await super().enter(ctx)


async def _job_options(ctx: Context) -> list[Choice]:
    s = await ctx.db()
    out = []
    for job in await _jobs_with_tukang(ctx):
        tukang = await s.get(User, job.tukang_id)
        out.append(Choice(str(job.id), ctx.t("complaint.job_label", code=job.code,
                                             tukang=tukang.name if tukang else "-")))
    out.append(Choice("menu", ctx.t("complaint.back_menu")))
    return out


async def start_for_job(ctx: Context, job_id: int) -> Next:
    """Begin a complaint on one job (also the hook for a "Adukan" button elsewhere)."""
    s = await ctx.db()
    job = await s.get(Job, job_id)
    if job is None or job.warga_id != ctx.conv.user_id:
        ctx.say("complaint.job_unknown")
        return HOME
    if job.tukang_id is None:
        ctx.say("complaint.no_tukang", code=job.code)
        return HOME
    existing = (await s.execute(select(Complaint).where(
        Complaint.job_id == job.id, col(Complaint.status).in_(OPEN)).limit(1))).scalar_one_or_none()
    if existing is not None:
        ctx.say("complaint.already_open", code=existing.code, job=job.code,
                status=ctx.t(f"complaint.status_{existing.status}"))
        return HOME
    ctx.clear_flow_data()
    ctx.data["complaint_job"] = job.id
    return "complaint.text"


async def _job_chosen(ctx: Context, choice: Choice) -> Next:
    if choice.id == "menu":
        return HOME
    job_id = row_id(choice.id)
    if job_id is None:
        raise Reprompt("help.choose")
    return await start_for_job(ctx, job_id)


async def _new_action(ctx: Context, arg: str) -> Next:
    """A button "Adukan" on a job (payload "!complaint.new:<job_id>")."""
    job_id = row_id(arg)
    if job_id is None:
        ctx.say("complaint.job_unknown")
        return HOME
    return await start_for_job(ctx, job_id)


async def _job_vars(ctx: Context) -> dict[str, Any]:
    s = await ctx.db()
    job = await s.get(Job, int(ctx.data.get("complaint_job") or 0))
    tukang = await s.get(User, job.tukang_id) if job and job.tukang_id else None
    return {"code": job.code if job else "-", "tukang": tukang.name if tukang else "-"}


async def _valid_text(ctx: Context, text: str) -> str:
    if len(text) < MIN_TEXT or sum(ch.isalpha() for ch in text) < 5:
        raise Reprompt("complaint.text_short", minimum=MIN_TEXT)
    return text


def _keep_text(ctx: Context, text: str, store: str) -> None:
    """Keep a complaint or statement text, cut to MAX_TEXT with a notice when longer."""
    ctx.data[store] = clip_telling(ctx, text, MAX_TEXT, "complaint.text_clipped", mark="")


async def _after_text(ctx: Context, text: str) -> Next:
    _keep_text(ctx, text, "complaint_text")
    return "complaint.evidence"


async def _after_evidence(ctx: Context, paths: list[str]) -> Next:
    ctx.data["complaint_evidence"] = paths
    return "complaint.confirm"


async def _summary_vars(ctx: Context) -> dict[str, Any]:
    return {**await _job_vars(ctx), "text": ctx.data.get("complaint_text", ""),
            "photos": len(ctx.data.get("complaint_evidence") or [])}


async def _submit(ctx: Context) -> Next:
    s = await ctx.db()
    job = await s.get(Job, int(ctx.data.get("complaint_job") or 0))
    text = ctx.data.get("complaint_text")
    if job is None or job.tukang_id is None or job.warga_id != ctx.conv.user_id or not text:
        ctx.clear_flow_data()
        ctx.say("complaint.job_unknown")
        return HOME
    code = await next_code(s, "P", ctx.now)
    complaint = Complaint(code=code, job_id=job.id or 0, warga_id=job.warga_id,
                          tukang_id=job.tukang_id, text=text,
                          evidence=list(ctx.data.get("complaint_evidence") or []),
                          status="submitted", created_at=ctx.now)
    s.add(complaint)
    await s.flush()
    await ctx.audit("complaint.submit", "complaint", complaint.id, job=job.code)
    ctx.clear_flow_data()
    ctx.say("complaint.submitted", code=code, job=job.code)
    return HOME


async def _drop(ctx: Context) -> Next:
    ctx.clear_flow_data()
    ctx.say("complaint.dropped")
    return HOME


# --- the tukang's statement ------------------------------------------------------------------


async def _open_for_statement(ctx: Context, complaint_id: int) -> Complaint | None:
    s = await ctx.db()
    c = await s.get(Complaint, complaint_id)
    if c is None or c.tukang_id != ctx.conv.user_id or c.status != "awaiting_statement":
        return None
    return c


async def _statement_action(ctx: Context, arg: str) -> Next:
    """The Dinas asked this tukang for a statement: collect it, whatever step they were at."""
    cid = row_id(arg)
    c = await _open_for_statement(ctx, cid) if cid is not None else None
    if c is None:
        ctx.say("complaint.statement_closed")
        return None  # the engine asks the current step's question again
    ctx.clear_flow_data()
    ctx.data["statement_for"] = c.id
    return "complaint.statement_text"


async def _statement_vars(ctx: Context) -> dict[str, Any]:
    s = await ctx.db()
    c = await s.get(Complaint, int(ctx.data.get("statement_for") or 0))
    if c is None:
        return {"code": "-", "job": "-", "text": "-", "due": "-"}
    job = await s.get(Job, c.job_id)
    due = local(c.statement_due_at).strftime("%d-%m-%Y %H:%M") if c.statement_due_at else "-"
    return {"code": c.code, "job": job.code if job else "-", "text": c.text, "due": due}


async def _after_statement(ctx: Context, text: str) -> Next:
    _keep_text(ctx, text, "statement_text")
    return "complaint.statement_media"


async def _after_statement_media(ctx: Context, paths: list[str]) -> Next:
    ctx.data["statement_media"] = paths
    return "complaint.statement_confirm"


async def _statement_summary(ctx: Context) -> dict[str, Any]:
    v = await _statement_vars(ctx)
    return {"code": v["code"], "statement": ctx.data.get("statement_text", ""),
            "photos": len(ctx.data.get("statement_media") or [])}


async def _send_statement(ctx: Context) -> Next:
    s = await ctx.db()
    cid = int(ctx.data.get("statement_for") or 0)
    text = ctx.data.get("statement_text")
    # a conditional update: the Dinas may have decided meanwhile
    result = await s.execute(
        update(Complaint).where(col(Complaint.id) == cid,
                                col(Complaint.tukang_id) == ctx.conv.user_id,
                                col(Complaint.status) == "awaiting_statement")
        .values(statement=text, statement_media=list(ctx.data.get("statement_media") or []),
                statement_at=ctx.now, status="under_review"))
    ctx.clear_flow_data()
    if not text or (rowcount(result) or 0) != 1:
        ctx.say("complaint.statement_closed")
        return HOME
    c = await s.get(Complaint, cid)
    assert c is not None
    await s.refresh(c)
    await ctx.audit("complaint.statement", "complaint", cid)
    ctx.say("complaint.statement_sent", code=c.code)
    await ctx.notify(c.warga_id, "complaint.statement_received", code=c.code)
    return HOME


async def _drop_statement(ctx: Context) -> Next:
    ctx.clear_flow_data()
    ctx.say("complaint.statement_dropped")
    return HOME


def register(registry: Registry) -> None:
    registry.add(
        PickJob(name="complaint.pick", key="complaint.ask_job", options=_job_options,
                then=_job_chosen, goes_to=(HOME, "complaint.text")),
        Text(name="complaint.text", key="complaint.ask_text", vars=_job_vars,
             validate=_valid_text, then=_after_text, help="complaint.text_help",
             goes_to=("complaint.evidence",)),
        Photos(name="complaint.evidence", key="complaint.ask_evidence", then=_after_evidence,
               maximum=MAX_PHOTOS, store="complaint_photo_sel", goes_to=("complaint.confirm",)),
        Confirm(name="complaint.confirm", key="complaint.summary", vars=_summary_vars,
                on_yes=_submit, on_no=_drop, yes_label="complaint.send", goes_to=(HOME,)),
        Text(name="complaint.statement_text", key="complaint.ask_statement",
             vars=_statement_vars, validate=_valid_text, then=_after_statement,
             help="complaint.statement_help", goes_to=("complaint.statement_media",)),
        Photos(name="complaint.statement_media", key="complaint.ask_statement_media",
               then=_after_statement_media, maximum=MAX_PHOTOS, store="statement_photo_sel",
               goes_to=("complaint.statement_confirm",)),
        Confirm(name="complaint.statement_confirm", key="complaint.statement_summary",
                vars=_statement_summary, on_yes=_send_statement, on_no=_drop_statement,
                yes_label="complaint.send", goes_to=(HOME,)),
    )
    registry.action("complaint.new", _new_action, goes_to=(HOME, "complaint.text"))
    registry.action("complaint.statement", _statement_action,
                    goes_to=("complaint.statement_text",))
    registry.menu_entry(MenuEntry("pengaduan", "complaint.menu_item", "complaint.pick",
                                  roles=("warga",), position=40))
