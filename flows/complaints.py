"""Pengaduan: a warga's written complaint about a tukang, the tukang's statement, and a removed
tukang's keberatan (objection).

Perwako Batam 65/2021 Pasal 9: a tukang can be removed only after a written complaint with
evidence and after the Dinas has asked the tukang for a statement. So a complaint names a job
that had a tukang and carries at least one piece of evidence (a photo or a PDF: receipts and
letters are the usual written evidence); the Dinas verifies it (admin CLI), asks for a
statement, and decides. The Dinas is not party to disputes between warga and tukang (price,
quality agreed between them); the confirmation says so.

No dead ends: the warga's "Pengaduan" lists their complaints with the next step; the tukang's
"Pengaduan tentang saya" always reaches the statement (by button, number or label), so a
notification lost under other messages costs nothing; a complaint code typed at the menu
shows that complaint (`typed_at_menu`). Reminders go two working days and one working day
before the statement deadline (`complaint_reminders`). A removed tukang may object once within
`FlowConfig.objection_days` working days; the officer decides it with `sijakon-admin
complaints objection`. New complaints and objections reach the officers' chat at once
(SIJAKON_OFFICER_CHAT), and a digest of what waits goes there once a day (`officer_digest`).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from flows.context import Context, FlowConfig
from flows.deadlines import NEXT_LABELS, OPEN, REMIND_BEFORE, calendar, complaint_next, waking_only
from flows.outbox import PRIORITY_NOTIFY, Outgoing
from flows.parsing import row_id
from flows.render import render
from flows.steps import (
    HOME,
    ChooseOne,
    Confirm,
    Next,
    Photos,
    Text,
    clip_telling,
    part_chosen,
    words,
)
from flows.table import MenuEntry, Registry
from flows.types import Choice, Message, Reply, Reprompt
from storage.clock import as_utc, local
from storage.codes import next_code
from storage.models import AuditLog, Complaint, Job, Objection, TukangProfile, User
from storage.sql import rowcount

__all__ = ["OPEN"]  # the undecided statuses, for flows.timers and bot.metrics

MIN_TEXT = 15
MAX_TEXT = 2000
MAX_FILES = 5
JOBS_SHOWN = 10
MINE_SHOWN = 8
PDF = "application/pdf"
CODE = re.compile(r"^\s*P-\d{4}-\d{4,}\s*$", re.IGNORECASE)
SHOW_ACTION = "complaint.show"  # a typed complaint code, at any step (Registry.code)
STATEMENT_ACTION = "complaint.statement"
OBJECTION_ACTION = "complaint.objection"
DIGEST_HOUR_WIB = 8  # the officers' daily digest goes at the first tick after 08:00 WIB


def stamp(value: datetime | None) -> str:
    """A time as Batam reads it, with its zone: 30-11-2026 09:00 WIB."""
    return local(as_utc(value)).strftime("%d-%m-%Y %H:%M") + " WIB" if value else "-"


def statement_button(complaint_id: int) -> list[Choice]:
    """The action that opens the statement from any step (notifications, reminders)."""
    return [Choice(f"{STATEMENT_ACTION}:{complaint_id}", "choice.give_statement")]


class EvidenceFiles(Photos):
    """Photos or PDFs (PDF: receipts, letters); anything else is refused with a message that
    says both kinds, not "that is not a photo"."""

    async def handle(self, ctx: Context, msg: Message) -> Next:
        try:
            return await super().handle(ctx, msg)
        except Reprompt as rp:
            if rp.key == "photos.wrong_type":
                raise Reprompt("complaint.file_wrong_type") from None
            if rp.key == "photos.need_more":
                raise Reprompt("complaint.evidence_needed") from None
            raise


def officer_note(ctx_out: Outgoing, config: FlowConfig, key: str, **vars: Any) -> None:
    """A message for the officers' chat (SIJAKON_OFFICER_CHAT), through the outbox; nothing
    when no chat is set. Always in Indonesian: it is read by the Dinas."""
    if config.officer_chat is None:
        return
    channel, address = config.officer_chat
    ctx_out.add(channel, address, None, key, Reply(text=render(key, "id", **vars)),
                PRIORITY_NOTIFY)


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


EDITING = "complaint_editing"  # one part being changed from the summary ("Ubah")


async def _after_text(ctx: Context, text: str) -> Next:
    _keep_text(ctx, text, "complaint_text")
    return "complaint.confirm" if ctx.data.pop(EDITING, False) else "complaint.evidence"


async def _after_evidence(ctx: Context, paths: list[str]) -> Next:
    ctx.data["complaint_evidence"] = paths
    ctx.data.pop(EDITING, None)
    return "complaint.confirm"


async def _to_edit(ctx: Context) -> Next:
    return "complaint.edit"


async def _edit_options(ctx: Context) -> list[Choice]:
    return [Choice("complaint.text", ctx.t("complaint.part_text")),
            Choice("complaint.evidence", ctx.t("complaint.part_evidence")),
            Choice("summary", ctx.t("complaint.part_done"))]


def _back(previous: str) -> Callable[[Context], Awaitable[Next]]:
    """"kembali": the previous question, or the list of parts while one is being changed."""

    async def back(ctx: Context) -> Next:
        return "complaint.edit" if ctx.data.get(EDITING) else previous

    return back


async def _statement_again(ctx: Context) -> Next:
    return "complaint.statement_text"


async def _objection_again(ctx: Context) -> Next:
    return "complaint.objection_text"


async def _summary_vars(ctx: Context) -> dict[str, Any]:
    return {**await _job_vars(ctx), "text": ctx.data.get("complaint_text", ""),
            "photos": len(ctx.data.get("complaint_evidence") or [])}


async def _submit(ctx: Context) -> Next:
    s = await ctx.db()
    job = await s.get(Job, int(ctx.data.get("complaint_job") or 0))
    text = ctx.data.get("complaint_text")
    evidence = list(ctx.data.get("complaint_evidence") or [])
    if job is None or job.tukang_id is None or job.warga_id != ctx.conv.user_id or not text:
        ctx.clear_flow_data()
        ctx.say("complaint.job_unknown")
        return HOME
    if not evidence:  # a conversation moved here by hand: Pasal 9 needs evidence
        return "complaint.evidence"
    code = await next_code(s, "P", ctx.now)
    complaint = Complaint(code=code, job_id=job.id or 0, warga_id=job.warga_id,
                          tukang_id=job.tukang_id, text=text, evidence=evidence,
                          status="submitted", created_at=ctx.now)
    s.add(complaint)
    await s.flush()
    await ctx.audit("complaint.submit", "complaint", complaint.id, job=job.code)
    ctx.clear_flow_data()
    ctx.say("complaint.submitted", code=code, job=job.code)
    tukang = await s.get(User, job.tukang_id)
    _, due = complaint_next("submitted", ctx.now, None, None, None,
                            calendar(ctx.config.holidays_file))
    officer_note(ctx.out, ctx.config, "officer.new_complaint", code=code, job=job.code,
                 tukang=tukang.name if tukang else "-", files=len(evidence), due=stamp(due))
    return HOME


async def _drop(ctx: Context) -> Next:
    ctx.clear_flow_data()
    ctx.say("complaint.dropped")
    return HOME


# --- "Pengaduan saya" (warga) and "Pengaduan tentang saya" (tukang) -----------------------------


@dataclass(frozen=True, slots=True)
class Shown:
    """A complaint as a person reads it: status, what happens next and by when."""

    code: str
    job: str
    status: str
    state: str
    next: str
    due: str
    note: str
    decided: str
    files: int


async def shown(ctx: Context, c: Complaint) -> Shown:
    s = await ctx.db()
    job = await s.get(Job, c.job_id)
    what, due = complaint_next(c.status, c.created_at, c.statement_requested_at,
                               c.statement_due_at, c.statement_at,
                               calendar(ctx.config.holidays_file))
    return Shown(code=c.code, job=job.code if job else "-", status=c.status,
                 state=ctx.t(f"complaint.status_{c.status}"), next=what, due=stamp(due),
                 note=c.decision_note or "", decided=stamp(c.decided_at) if c.decided_at else "",
                 files=len(c.evidence or []))


async def _mine(ctx: Context) -> list[Complaint]:
    s = await ctx.db()
    return list((await s.execute(
        select(Complaint).where(Complaint.warga_id == (ctx.conv.user_id or 0))
        .order_by(col(Complaint.id).desc()).limit(MINE_SHOWN))).scalars())


class MyComplaints(ChooseOne):
    """The warga's complaints; without any, straight to choosing a job to complain about."""

    exits = ("complaint.pick",)

    async def enter(self, ctx: Context) -> Next:
        if not await _mine(ctx):
            return "complaint.pick"
        return await super().enter(ctx)


async def _mine_vars(ctx: Context) -> dict[str, Any]:
    return {"items": [await shown(ctx, c) for c in await _mine(ctx)]}


async def _mine_options(ctx: Context) -> list[Choice]:
    items = [Choice(f"c{c.id}", f"{c.code} · {ctx.t(f'complaint.status_{c.status}')}")
             for c in await _mine(ctx)]
    return [*items, Choice("new", ctx.t("complaint.choice_new")),
            Choice("menu", ctx.t("complaint.back_menu"))]


async def _mine_chosen(ctx: Context, choice: Choice) -> Next:
    if choice.id == "menu":
        return HOME
    if choice.id == "new":
        return "complaint.pick"
    cid = row_id(choice.id[1:])
    s = await ctx.db()
    c = await s.get(Complaint, cid) if cid is not None else None
    if c is None or c.warga_id != ctx.conv.user_id:
        raise Reprompt("help.choose")
    ctx.say("complaint.detail", c=await shown(ctx, c), tukang=False)
    return HOME


async def _about_me(ctx: Context) -> list[Complaint]:
    """The complaints this tukang has been told of and that are not decided yet."""
    s = await ctx.db()
    return list((await s.execute(
        select(Complaint).where(Complaint.tukang_id == (ctx.conv.user_id or 0),
                                col(Complaint.status).in_(("awaiting_statement",
                                                           "under_review")))
        .order_by(col(Complaint.id)).limit(MINE_SHOWN))).scalars())


class AboutMe(ChooseOne):
    """The tukang's open complaints with their deadlines; "Tulis pernyataan" for each one
    awaiting a statement, and its evidence on request."""

    exits = (HOME,)

    async def enter(self, ctx: Context) -> Next:
        if not await _about_me(ctx):
            ctx.say("complaint.about_me_none")
            return HOME
        return await super().enter(ctx)


async def _about_vars(ctx: Context) -> dict[str, Any]:
    return {"items": [await shown(ctx, c) for c in await _about_me(ctx)]}


async def _about_options(ctx: Context) -> list[Choice]:
    found = await _about_me(ctx)
    awaiting = [c for c in found if c.status == "awaiting_statement"]
    one = len(found) == 1
    out = []
    for c in awaiting:
        out.append(Choice(f"s{c.id}", ctx.t("choice.give_statement") if len(awaiting) == 1
                          else ctx.t("complaint.choice_write_for", code=c.code)))
    for c in found:
        if c.evidence:
            out.append(Choice(f"e{c.id}", ctx.t("complaint.choice_evidence") if one
                              else ctx.t("complaint.choice_evidence_for", code=c.code)))
    return [*out, Choice("menu", ctx.t("complaint.back_menu"))]


async def _about_chosen(ctx: Context, choice: Choice) -> Next:
    if choice.id == "menu":
        return HOME
    cid = row_id(choice.id[1:])
    s = await ctx.db()
    c = await s.get(Complaint, cid) if cid is not None else None
    if c is None or c.tukang_id != ctx.conv.user_id:
        raise Reprompt("help.choose")
    if choice.id.startswith("s"):
        return await begin_statement(ctx, c.id or 0)
    ctx.say("complaint.evidence_shown", code=c.code, files=len(c.evidence or []),
            media=list(c.evidence or []))
    return None


async def typed_at_menu(ctx: Context, text: str) -> Next | bool:
    """What the menu understands beyond its entries: "Tulis pernyataan" (the statement, or the
    list when there are several) and "keberatan" (a removed tukang's objection). A complaint
    code is understood at every step (`show_code`). False: not ours, the menu gives its help."""
    said = words(text)
    if said in (words(ctx.t("choice.give_statement")), "pernyataan"):
        awaiting = [c for c in await _about_me(ctx) if c.status == "awaiting_statement"]
        if len(awaiting) == 1:
            return await begin_statement(ctx, awaiting[0].id or 0)
        return "complaint.about_me" if awaiting else False
    if said in ("keberatan", words(ctx.t("complaint.choice_objection"))):
        return await begin_objection(ctx)
    return False


async def show_code(ctx: Context, text: str) -> Next:
    """A complaint code typed at any step (`Registry.code`): the complaint, to its warga or
    its tukang; anyone else, or a code not (yet) theirs, is told it is not known."""
    s = await ctx.db()
    c = (await s.execute(select(Complaint).where(
        Complaint.code == text.strip().upper()))).scalar_one_or_none()
    me = ctx.conv.user_id
    if c is None or me not in (c.warga_id, c.tukang_id) or (
            me == c.tukang_id and c.status == "submitted"):
        ctx.say("complaint.code_unknown", code=text.strip().upper())
        return HOME
    tukang = me == c.tukang_id
    ctx.say("complaint.detail", c=await shown(ctx, c), tukang=tukang)
    # the tukang's list holds "Tulis pernyataan" and the evidence
    return "complaint.about_me" if tukang and c.status in OPEN else HOME


# --- the tukang's statement ------------------------------------------------------------------


async def _open_for_statement(ctx: Context, complaint_id: int) -> Complaint | None:
    s = await ctx.db()
    c = await s.get(Complaint, complaint_id)
    if c is None or c.tukang_id != ctx.conv.user_id or c.status != "awaiting_statement":
        return None
    return c


async def begin_statement(ctx: Context, complaint_id: int) -> Next:
    """Open the statement for a complaint awaiting it; otherwise say it is closed."""
    c = await _open_for_statement(ctx, complaint_id)
    if c is None:
        ctx.say("complaint.statement_closed")
        return HOME
    ctx.clear_flow_data()
    ctx.data["statement_for"] = c.id
    return "complaint.statement_text"


async def _statement_action(ctx: Context, arg: str) -> Next:
    """The Dinas asked this tukang for a statement: collect it, whatever step they were at."""
    cid = row_id(arg)
    c = await _open_for_statement(ctx, cid) if cid is not None else None
    if c is None:
        ctx.say("complaint.statement_closed")
        return None  # the engine asks the current step's question again
    return await begin_statement(ctx, c.id or 0)


async def _statement_vars(ctx: Context) -> dict[str, Any]:
    s = await ctx.db()
    c = await s.get(Complaint, int(ctx.data.get("statement_for") or 0))
    if c is None:
        return {"code": "-", "job": "-", "text": "-", "due": "-", "files": 0}
    job = await s.get(Job, c.job_id)
    return {"code": c.code, "job": job.code if job else "-", "text": c.text,
            "due": stamp(c.statement_due_at), "files": len(c.evidence or [])}


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


async def complaint_reminders(session: AsyncSession, now: datetime, out: Outgoing,
                              config: FlowConfig) -> int:
    """Remind a tukang of a statement still missing two working days and one working day
    before its deadline (`Complaint.statement_reminders` counts them, so none goes twice)."""
    cal = calendar(config.holidays_file)
    rows = (await session.execute(select(Complaint).where(
        Complaint.status == "awaiting_statement", col(Complaint.statement_at).is_(None),
        col(Complaint.statement_due_at) > now,
        col(Complaint.statement_reminders) < len(REMIND_BEFORE))
        .order_by(col(Complaint.id)).limit(200))).scalars().all()
    sent = 0
    for c in rows:
        assert c.statement_due_at is not None
        due = as_utc(c.statement_due_at)
        reached = sum(1 for days in REMIND_BEFORE if now >= cal.before(due, days))
        if reached <= c.statement_reminders:
            continue
        done = await session.execute(
            update(Complaint).where(col(Complaint.id) == c.id,
                                    col(Complaint.statement_reminders) == c.statement_reminders)
            .values(statement_reminders=reached).execution_options(synchronize_session=False))
        if rowcount(done) != 1:
            continue
        left = REMIND_BEFORE[reached - 1]
        job = await session.get(Job, c.job_id)
        await out.notify(session, c.tukang_id, "complaint.reminder",
                         actions=statement_button(c.id or 0), code=c.code,
                         job=job.code if job else "-", due=stamp(due), left=left)
        sent += 1
    return sent


# --- the removed tukang's keberatan ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    """Whether a tukang may object now: `until` the end of the period, `existing` one filed
    for this removal (only one is allowed)."""

    allowed: bool
    until: datetime | None
    existing: Objection | None


async def objection_window(session: AsyncSession, tukang_id: int, now: datetime,
                           config: FlowConfig) -> Window:
    """A removed tukang may file one keberatan within `config.objection_days` working days
    of the removal."""
    p = (await session.execute(select(TukangProfile).where(
        TukangProfile.user_id == tukang_id))).scalar_one_or_none()
    if p is None or p.status != "removed" or p.decided_at is None:
        return Window(False, None, None)
    removed_at = as_utc(p.decided_at)
    until = calendar(config.holidays_file).add(removed_at, config.objection_days)
    existing = (await session.execute(select(Objection).where(
        Objection.tukang_id == tukang_id, col(Objection.created_at) >= removed_at)
        .order_by(col(Objection.id).desc()).limit(1))).scalar_one_or_none()
    return Window(existing is None and now <= until, until, existing)


async def removal_complaint(session: AsyncSession, tukang_id: int) -> Complaint | None:
    """The upheld complaint the tukang's current removal rests on, or None when that removal
    did not come from a complaint. Every removal leaves a `tukang.remove` audit row naming its
    complaint (`complaints decide ... upheld`, `tukang remove --complaint`); the newest one is
    the current removal. Not "his newest upheld complaint": after a reinstatement that one may
    belong to an earlier removal, and its warga would be told about the wrong objection."""
    detail = (await session.execute(select(AuditLog.detail).where(
        AuditLog.action == "tukang.remove", AuditLog.subject_type == "user",
        AuditLog.subject_id == tukang_id).order_by(col(AuditLog.id).desc()).limit(1))
    ).scalar_one_or_none()
    complaint_id = (detail or {}).get("complaint_id")
    if not isinstance(complaint_id, int):
        return None
    c = await session.get(Complaint, complaint_id)
    return c if c is not None and c.tukang_id == tukang_id and c.status == "upheld" else None


async def begin_objection(ctx: Context) -> Next:
    """Open the objection for a removed tukang within the period; otherwise say why not."""
    win = await objection_window(await ctx.db(), ctx.conv.user_id or 0, ctx.now, ctx.config)
    if not win.allowed:
        if win.existing is not None:
            ctx.say("complaint.objection_exists", code=win.existing.code,
                    state=ctx.t(f"complaint.objection_{win.existing.status}"))
        else:
            ctx.say("complaint.objection_closed", until=stamp(win.until) if win.until else "")
        return HOME
    ctx.clear_flow_data()
    return "complaint.objection_text"


async def _objection_action(ctx: Context, arg: str) -> Next:
    """The "Ajukan keberatan" button of the removal notice (payload "!complaint.objection:0")."""
    return await begin_objection(ctx)


async def _objection_vars(ctx: Context) -> dict[str, Any]:
    win = await objection_window(await ctx.db(), ctx.conv.user_id or 0, ctx.now, ctx.config)
    return {"until": stamp(win.until) if win.until else "-"}


async def _after_objection_text(ctx: Context, text: str) -> Next:
    _keep_text(ctx, text, "objection_text")
    return "complaint.objection_media"


async def _after_objection_media(ctx: Context, paths: list[str]) -> Next:
    ctx.data["objection_media"] = paths
    return "complaint.objection_confirm"


async def _objection_summary(ctx: Context) -> dict[str, Any]:
    return {"text": ctx.data.get("objection_text", ""),
            "files": len(ctx.data.get("objection_media") or [])}


async def _send_objection(ctx: Context) -> Next:
    s = await ctx.db()
    me = ctx.conv.user_id or 0
    text = ctx.data.get("objection_text")
    win = await objection_window(s, me, ctx.now, ctx.config)
    media = list(ctx.data.get("objection_media") or [])
    ctx.clear_flow_data()
    if not text or not win.allowed:
        return await begin_objection(ctx)
    p = (await s.execute(select(TukangProfile).where(TukangProfile.user_id == me))).scalar_one()
    upheld = await removal_complaint(s, me)
    o = Objection(code=await next_code(s, "K", ctx.now), tukang_id=me,
                  complaint_id=upheld.id if upheld else None, text=text, media=media,
                  status="submitted", removed_at=p.decided_at, created_at=ctx.now)
    s.add(o)
    await s.flush()
    await ctx.audit("objection.submit", "objection", o.id, code=o.code,
                    complaint=upheld.code if upheld else None)
    ctx.say("complaint.objection_sent", code=o.code)
    user = await ctx.user()
    officer_note(ctx.out, ctx.config, "officer.new_objection", code=o.code,
                 tukang=user.name if user else "-", complaint=upheld.code if upheld else "-",
                 files=len(media))
    return HOME


async def _drop_objection(ctx: Context) -> Next:
    ctx.clear_flow_data()
    ctx.say("complaint.objection_dropped")
    return HOME


# --- the officers' daily digest ----------------------------------------------------------------


async def officer_digest(session: AsyncSession, now: datetime, out: Outgoing,
                         config: FlowConfig) -> int:
    """Once a day (the first tick after 08:00 WIB) the officers' chat gets what waits for
    them: pending tukang, open complaints (overdue, due within a working day), objections.
    Nothing is sent on a day with nothing waiting; the day is recorded either way."""
    if config.officer_chat is None or local(now).hour < DIGEST_HOUR_WIB:
        return 0
    day = local(now).date().isoformat()
    seen = (await session.execute(select(AuditLog.id).where(
        AuditLog.action == "officer.digest", AuditLog.subject_type == day).limit(1))).first()
    if seen is not None:
        return 0
    cal = calendar(config.holidays_file)
    pending = int((await session.execute(select(func.count()).select_from(TukangProfile)
                                         .where(TukangProfile.status == "pending"))).scalar_one())
    overdue, soon, fresh = [], [], 0
    for c in (await session.execute(select(Complaint).where(
            col(Complaint.status).in_(OPEN)).order_by(col(Complaint.id)))).scalars():
        what, due = complaint_next(c.status, c.created_at, c.statement_requested_at,
                                   c.statement_due_at, c.statement_at, cal)
        fresh += c.status == "submitted"
        if due is None:
            continue
        line = {"code": c.code, "next": NEXT_LABELS.get(what, what), "due": stamp(due)}
        if now > due:
            overdue.append(line)
        elif cal.before(due, 1) <= now:
            soon.append(line)
    objections = int((await session.execute(select(func.count()).select_from(Objection)
                                            .where(Objection.status == "submitted"))
                      ).scalar_one())
    session.add(AuditLog(actor="system", action="officer.digest", subject_type=day,
                         detail={"pending": pending, "new": fresh, "overdue": len(overdue),
                                 "soon": len(soon), "objections": objections}, at=now))
    if not (pending or fresh or overdue or soon or objections):
        return 0
    officer_note(out, config, "officer.digest", day=local(now).strftime("%d-%m-%Y"),
                 pending=pending, fresh=fresh, overdue=overdue, soon=soon,
                 objections=objections)
    return 1


def register(registry: Registry) -> None:
    registry.add(
        MyComplaints(name="complaint.home", key="complaint.mine", vars=_mine_vars,
                     options=_mine_options, then=_mine_chosen,
                     goes_to=(HOME, "complaint.pick")),
        PickJob(name="complaint.pick", key="complaint.ask_job", options=_job_options,
                then=_job_chosen, back="complaint.home", goes_to=(HOME, "complaint.text")),
        Text(name="complaint.text", key="complaint.ask_text", vars=_job_vars,
             validate=_valid_text, then=_after_text, help="complaint.text_help",
             back=_back("complaint.pick"), goes_to=("complaint.evidence", "complaint.confirm")),
        EvidenceFiles(name="complaint.evidence", key="complaint.ask_evidence",
                      then=_after_evidence, minimum=1, maximum=MAX_FILES, allow_pdf=True,
                      store="complaint_photo_sel", help="complaint.evidence_help",
                      kept="complaint_evidence", back=_back("complaint.text"),
                      goes_to=("complaint.confirm",)),
        Confirm(name="complaint.confirm", key="complaint.summary", vars=_summary_vars,
                on_yes=_submit, on_no=_drop, on_edit=_to_edit, yes_label="complaint.send",
                help="complaint.confirm_help",
                back="complaint.evidence", goes_to=(HOME, "complaint.evidence",
                                                    "complaint.edit")),
        ChooseOne(name="complaint.edit", key="complaint.ask_edit", options=_edit_options,
                  then=part_chosen("complaint.confirm", EDITING), help="complaint.edit_help",
                  back="complaint.confirm",
                  goes_to=("complaint.confirm", "complaint.text", "complaint.evidence")),
        AboutMe(name="complaint.about_me", key="complaint.about_me", vars=_about_vars,
                options=_about_options, then=_about_chosen,
                goes_to=(HOME, "complaint.statement_text")),
        Text(name="complaint.statement_text", key="complaint.ask_statement",
             vars=_statement_vars, validate=_valid_text, then=_after_statement,
             help="complaint.statement_help", goes_to=("complaint.statement_media",)),
        EvidenceFiles(name="complaint.statement_media", key="complaint.ask_statement_media",
                      then=_after_statement_media, maximum=MAX_FILES, allow_pdf=True,
                      store="statement_photo_sel", kept="statement_media",
                      back="complaint.statement_text", goes_to=("complaint.statement_confirm",)),
        Confirm(name="complaint.statement_confirm", key="complaint.statement_summary",
                vars=_statement_summary, on_yes=_send_statement, on_no=_drop_statement,
                on_edit=_statement_again, yes_label="complaint.send",
                back="complaint.statement_media",
                goes_to=(HOME, "complaint.statement_text")),
        Text(name="complaint.objection_text", key="complaint.objection_ask_text",
             vars=_objection_vars, validate=_valid_text, then=_after_objection_text,
             help="complaint.objection_help", goes_to=("complaint.objection_media",)),
        EvidenceFiles(name="complaint.objection_media", key="complaint.objection_ask_media",
                      then=_after_objection_media, maximum=MAX_FILES, allow_pdf=True,
                      store="objection_file_sel", kept="objection_media",
                      back="complaint.objection_text",
                      goes_to=("complaint.objection_confirm",)),
        Confirm(name="complaint.objection_confirm", key="complaint.objection_summary",
                vars=_objection_summary, on_yes=_send_objection, on_no=_drop_objection,
                on_edit=_objection_again, yes_label="complaint.send",
                back="complaint.objection_media",
                goes_to=(HOME, "complaint.objection_text")),
    )
    registry.action("complaint.new", _new_action, goes_to=(HOME, "complaint.text"))
    registry.action(SHOW_ACTION, show_code, goes_to=(HOME, "complaint.about_me"))
    registry.code(CODE, SHOW_ACTION)
    registry.action(STATEMENT_ACTION, _statement_action,
                    goes_to=(HOME, "complaint.statement_text"))
    registry.action(OBJECTION_ACTION, _objection_action,
                    goes_to=(HOME, "complaint.objection_text"))
    registry.menu_entry(MenuEntry("pengaduan", "complaint.menu_item", "complaint.home",
                                  roles=("warga",), position=40))
    registry.menu_entry(MenuEntry("pengaduan_tukang", "complaint.menu_about_me",
                                  "complaint.about_me", roles=("tukang",), position=15))
    registry.timer("complaint_reminders", waking_only(complaint_reminders))
    registry.timer("officer_digest", officer_digest)
