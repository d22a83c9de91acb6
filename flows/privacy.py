"""A person's data: export everything held about them, or erase it (anonymise).

Shared by the bot's Pengaturan menu and `sijakon-admin privacy`. Erasure keeps the anonymous
history the Dinas must report on (ids, statuses, dates, scores, kecamatan) and removes what
identifies or describes the person: name, phone, channel accounts, conversations, free texts
they wrote and the files they sent. `data_administrator` is whom the privacy notice and
"Data saya" tell people to ask (Perwako Batam 65/2021 Pasal 6(3)).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic_core import to_jsonable_python
from sqlalchemy import ColumnElement, delete, or_, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col, select
from sqlmodel.sql.expression import SelectOfScalar

from flows.context import FlowConfig
from storage.models import (
    AuditLog,
    ChannelAccount,
    Complaint,
    Conversation,
    Job,
    Objection,
    Offer,
    Officer,
    Outbox,
    Rating,
    SurveyResponse,
    TukangProfile,
    User,
)

log = logging.getLogger(__name__)
_T = TypeVar("_T")

ERASED_NAME = "(dihapus)"
ERASED_TEXT = "(dihapus)"
OPEN_JOB_STATUSES = ("open", "offered", "accepted", "in_progress")
DECIDED_COMPLAINT_STATUSES = ("upheld", "dismissed")
UNDECIDED_OBJECTION_STATUSES = ("submitted",)


class ErasureRefused(Exception):
    """Erasure is not possible right now; `reason` is one sentence in Indonesian (the CLI),
    `blocks` what stands in the way as (kind, codes) (`erasure_blocks`; empty when the
    reason is another), for a message in the person's language that lists them."""

    def __init__(self, reason: str, blocks: list[tuple[str, list[str]]] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.blocks = list(blocks or [])


async def data_administrator(session: AsyncSession, config: FlowConfig) -> dict[str, Any]:
    """The data administrator residents may reach, as message variables `pdp_name` and
    `pdp_contact`: the active `pdp` officer (`sijakon-admin officer add NAME --role pdp`),
    read at each use so a change by the Dinas shows at once; else SIJAKON_PDP_NAME and
    SIJAKON_PDP_CONTACT (`config`), so a new installation can name one before any officer is
    registered. Both are empty when neither names anyone; the messages then name the Dinas."""
    row = (await session.execute(
        select(Officer.display_name, Officer.contact)
        .where(Officer.role == "pdp", col(Officer.active).is_(True))
        .order_by(col(Officer.id)).limit(1))).first()
    if row is not None:
        return {"pdp_name": row[0], "pdp_contact": row[1]}
    if config.pdp_name and config.pdp_contact:
        return {"pdp_name": config.pdp_name, "pdp_contact": config.pdp_contact}
    return {"pdp_name": "", "pdp_contact": ""}


def dinas_contact(config: FlowConfig) -> dict[str, Any]:
    """The Dinas's office as message variables `dinas_address`, `dinas_phone`, `dinas_hours`
    (SIJAKON_DINAS_*; an empty one is left out of the message): named in help and wherever the
    bot cannot help further, so nobody is left without a person to turn to. Messages show
    them through `info.dinas_contact`."""
    return {f"dinas_{k}": str(getattr(config, f"dinas_{k}", "") or "").strip()
            for k in ("address", "phone", "hours")}


def published_profile_line(tukang_profile: Mapping[str, Any], t: Callable[..., str]) -> str:
    """For "Data saya": what a tukang publishes to warga (flows/profile_view.py), as one line
    in the person's language (`t`, a context's renderer): whether a profile photo is set, how
    many photos of past work, the description."""
    return t("profile.data_line", photo=bool(tukang_profile.get("photo")),
             work=len(tukang_profile.get("work_photos") or []),
             bio=str(tukang_profile.get("bio") or ""))


def _row(obj: SQLModel) -> dict[str, Any]:
    """A row as JSON-able values (datetimes as ISO strings), for the export and "Data saya"."""
    return dict(to_jsonable_python(obj.model_dump()))


async def _all(session: AsyncSession, stmt: SelectOfScalar[_T]) -> list[_T]:
    return list((await session.execute(stmt)).scalars().all())


async def export_user_data(session: AsyncSession, user_id: int) -> dict[str, Any]:
    """Everything held about a person, JSON-able (datetimes as ISO strings).

    Raises LookupError when there is no such user.
    """
    user = await session.get(User, user_id)
    if user is None:
        raise LookupError(f"user {user_id} not found")
    accounts = await _all(session, select(ChannelAccount)
                          .where(ChannelAccount.user_id == user_id)
                          .order_by(col(ChannelAccount.id)))
    keys = [(a.channel, a.address) for a in accounts]
    conv_filter: list[ColumnElement[bool]] = [col(Conversation.user_id) == user_id]
    if keys:
        conv_filter.append(tuple_(Conversation.channel, Conversation.address).in_(keys))
    conversations = await _all(session, select(Conversation).where(or_(*conv_filter))
                               .order_by(col(Conversation.id)))
    profile = (await session.execute(select(TukangProfile).where(
        TukangProfile.user_id == user_id))).scalar_one_or_none()
    jobs = await _all(session, select(Job).where(
        or_(col(Job.warga_id) == user_id, col(Job.tukang_id) == user_id)).order_by(col(Job.id)))
    offers = await _all(session, select(Offer).where(Offer.tukang_id == user_id)
                        .order_by(col(Offer.id)))
    ratings = await _all(session, select(Rating).where(
        or_(col(Rating.warga_id) == user_id, col(Rating.tukang_id) == user_id))
        .order_by(col(Rating.id)))
    complaints = await _all(session, select(Complaint).where(
        or_(col(Complaint.warga_id) == user_id, col(Complaint.tukang_id) == user_id))
        .order_by(col(Complaint.id)))
    objections = await _all(session, select(Objection).where(Objection.tukang_id == user_id)
                            .order_by(col(Objection.id)))
    surveys = await _all(session, select(SurveyResponse)
                         .where(SurveyResponse.user_id == user_id)
                         .order_by(col(SurveyResponse.id)))
    audit = await _all(session, select(AuditLog).where(or_(
        (col(AuditLog.subject_type) == "user") & (col(AuditLog.subject_id) == user_id),
        col(AuditLog.actor) == f"user:{user_id}",
    )).order_by(col(AuditLog.id)))
    return {
        "user_id": user_id,
        "profile": _row(user),
        "channel_accounts": [_row(a) for a in accounts],
        "conversations": [_row(c) for c in conversations],
        "tukang_profile": _row(profile) if profile is not None else None,
        "jobs": [{**_row(j), "role": "warga" if j.warga_id == user_id else "tukang"}
                 for j in jobs],
        "offers": [_row(o) for o in offers],
        "ratings": [{**_row(r), "role": "given" if r.warga_id == user_id else "received"}
                    for r in ratings],
        "complaints": [{**_row(c), "role": "complainant" if c.warga_id == user_id
                        else "respondent"} for c in complaints],
        "objections": [_row(o) for o in objections],
        "survey_responses": [_row(s) for s in surveys],
        "audit": [_row(a) for a in audit],
    }


# What can stand in the way of an erasure, in the order people are told
BLOCKS = ("jobs", "offers", "complaints", "objections")
_BLOCK_TEXT = {
    "jobs": "masih ada pekerjaan yang berjalan ({}); selesaikan atau batalkan dulu",
    "offers": "masih ada tawaran pekerjaan yang belum dijawab ({})",
    "complaints": "masih ada pengaduan yang belum diputus ({})",
    "objections": "masih ada keberatan yang belum diputus ({})",
}


async def erasure_blocks(session: AsyncSession, user_id: int) -> list[tuple[str, list[str]]]:
    """What stands in the way of erasing a person, as (kind, codes) with kind one of
    `BLOCKS`: each person is told in their own language (settings.delete_refused)."""
    open_jobs = (await session.execute(select(Job.code).where(
        or_(col(Job.warga_id) == user_id, col(Job.tukang_id) == user_id),
        col(Job.status).in_(OPEN_JOB_STATUSES)).order_by(col(Job.id)))).scalars().all()
    pending_offers = (await session.execute(select(Job.code)
                                            .join(Offer, col(Offer.job_id) == Job.id)
                                            .where(Offer.tukang_id == user_id,
                                                   col(Offer.status).in_(("pending", "willing")))
                                            )).scalars().all()
    complaints = (await session.execute(select(Complaint.code).where(
        or_(col(Complaint.warga_id) == user_id, col(Complaint.tukang_id) == user_id),
        col(Complaint.status).not_in(DECIDED_COMPLAINT_STATUSES)).order_by(col(Complaint.id)))
    ).scalars().all()
    # like a complaint: the Dinas must be able to decide what is before it (Pasal 9)
    objections = (await session.execute(select(Objection.code).where(
        Objection.tukang_id == user_id,
        col(Objection.status).in_(UNDECIDED_OBJECTION_STATUSES)).order_by(col(Objection.id)))
    ).scalars().all()
    found = zip(BLOCKS, (open_jobs, pending_offers, complaints, objections), strict=True)
    return [(kind, list(codes)) for kind, codes in found if codes]


async def erasure_blockers(session: AsyncSession, user_id: int) -> list[str]:
    """Why a person cannot be erased yet (empty when they can), in Indonesian."""
    return [_BLOCK_TEXT[kind].format(", ".join(codes))
            for kind, codes in await erasure_blocks(session, user_id)]


async def erase_user(session: AsyncSession, user_id: int, now: datetime, *,
                     actor: str | None = None, channel: str | None = None) -> None:
    """Anonymise a person, keeping anonymous history; raises ErasureRefused while a job of
    theirs is running or a complaint by or about them, or their objection, is undecided.

    Files they sent (SKK photos, job photos, evidence, statements, objections) are deleted
    from disk once the rows are flushed: if the transaction later fails the person's files
    are still gone, which errs on the side of what they asked for. `actor` defaults to the
    person themselves.
    """
    user = await session.get(User, user_id)
    if user is None:
        raise LookupError(f"user {user_id} not found")
    if user.status == "erased":
        raise ErasureRefused("Data orang ini sudah dihapus sebelumnya.")
    blocks = await erasure_blocks(session, user_id)
    if blocks:
        blockers = [_BLOCK_TEXT[kind].format(", ".join(codes)) for kind, codes in blocks]
        raise ErasureRefused("Data belum bisa dihapus: " + "; ".join(blockers) + ".", blocks)

    files: list[str] = []
    accounts = await _all(session, select(ChannelAccount)
                          .where(ChannelAccount.user_id == user_id))
    keys = [(a.channel, a.address) for a in accounts]

    # Messages not yet sent to them are cancelled; sent ones lose their text.
    out_filter: list[ColumnElement[bool]] = [col(Outbox.user_id) == user_id]
    if keys:
        out_filter.append(tuple_(Outbox.channel, Outbox.address).in_(keys))
    await session.execute(update(Outbox).where(
        or_(*out_filter), col(Outbox.status).in_(("queued", "waiting", "sending")))
        .values(status="cancelled", last_error="erased"))
    await session.execute(update(Outbox).where(or_(*out_filter))
                          .values(payload={}, address=ERASED_TEXT))

    conv_filter: list[ColumnElement[bool]] = [col(Conversation.user_id) == user_id]
    if keys:
        conv_filter.append(tuple_(Conversation.channel, Conversation.address).in_(keys))
    await session.execute(delete(Conversation).where(or_(*conv_filter)))
    await session.execute(delete(ChannelAccount).where(col(ChannelAccount.user_id) == user_id))

    profile = (await session.execute(select(TukangProfile).where(
        TukangProfile.user_id == user_id))).scalar_one_or_none()
    if profile is not None:
        files += list(profile.skk_media or [])
        files += [profile.photo, *(profile.work_photos or [])] if profile.photo \
            else list(profile.work_photos or [])
        profile.skk_media = []
        profile.photo = None  # the profile warga saw: photo, past work, description
        profile.work_photos = []
        profile.bio = ""
        profile.skk_number = ERASED_TEXT
        profile.available = False
        profile.status = "erased"

    for job in await _all(session, select(Job).where(Job.warga_id == user_id)):
        files += list(job.photos or [])
        job.photos = []
        job.description = ERASED_TEXT
        job.address = ""
        job.preferred_time = ""

    for c in await _all(session, select(Complaint).where(Complaint.warga_id == user_id)):
        files += list(c.evidence or [])
        c.evidence = []
        c.text = ERASED_TEXT
    for c in await _all(session, select(Complaint).where(Complaint.tukang_id == user_id)):
        files += list(c.statement_media or [])
        c.statement_media = []
        if c.statement is not None:
            c.statement = ERASED_TEXT
    for o in await _all(session, select(Objection).where(Objection.tukang_id == user_id)):
        files += list(o.media or [])
        o.media = []
        o.text = ERASED_TEXT

    await session.execute(update(Rating).where(col(Rating.warga_id) == user_id).values(comment=""))
    await session.execute(update(SurveyResponse).where(col(SurveyResponse.user_id) == user_id)
                          .values(user_id=None, suggestion=""))

    user.name = ERASED_NAME
    user.phone = None
    user.phone_verified = False
    user.status = "erased"
    user.topics = []
    user.broadcast_opt_out = True
    user.updated_at = now
    session.add(AuditLog(actor=actor or f"user:{user_id}", action="privacy.erase",
                         subject_type="user", subject_id=user_id,
                         detail={"files": len(files), "accounts": len(keys)},
                         channel=channel, at=now))
    await session.flush()
    _delete_files(files)


def _delete_files(paths: list[str]) -> None:
    """Remove files from disk; one that cannot be deleted must not undo the erasure."""
    for path in paths:
        try:
            Path(path).unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not delete a media file of an erased user: %s", exc.strerror)
