"""The media sweep: files in the media folder that no row points at, older than a grace period,
are deleted (by the scheduler every hour, and by `sijakon-admin media sweep`).

Why: a file is saved when it arrives, before the conversation decides what to do with it. A
photo sent at the menu or before the privacy consent, a booking abandoned before "Selesai", a
whole message dropped for one bad file, a crash between the download and the commit, a
download cut off half-way (`media/.incoming/*.part`): nothing else removes those (3 × 10 photos
sent at the menu wrote 30 unused files). Retention (storage/retention.py) empties rows whose
period ended and deletes their files; this removes what no row holds at all.

- **Referenced** means named by one of `MEDIA_COLUMNS` (the files of jobs, complaints,
  objections, SKK certificates, a tukang's photos of past work, a broadcast's picture), by one
  of `MEDIA_PATHS` (a tukang's profile photo) or anywhere inside a conversation's data
  (drafts: a booking's photos before it is sent, an SKK photo mid-registration). Files are
  matched by name (an unguessable uuid), so a row that wrote the path relative, absolute, or
  restored into another data dir (storage/backup.py) still protects its file. Every JSON column
  of the schema is in `MEDIA_COLUMNS` or in `NOT_MEDIA` with the reason
  (tests/test_media_sweep.py), so a new media column cannot be forgotten silently.
- **Grace**: a file younger than `GRACE` stays whatever the rows say: a download waiting for
  its commit, a photo whose conversation is being written right now.
- **One snapshot**: every reference is read by one statement (a UNION ALL), so on PostgreSQL
  under READ COMMITTED too a draft moving from a conversation into its job between two reads
  cannot be missed by both; the files on disk are listed before it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import String, cast, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from storage.models import (
    AuditLog,
    Broadcast,
    Complaint,
    Conversation,
    Job,
    Objection,
    TukangProfile,
)
from storage.sql import table

log = logging.getLogger(__name__)

GRACE = timedelta(hours=1)  # files younger than this are never swept
EVERY = timedelta(hours=1)  # the scheduler's rhythm (storage.retention.due)
ACTION = "media.sweep"  # the audit action of a run, by the scheduler or an officer
# At most this many files deleted per run: the scheduler runs it inside a write transaction
# (on SQLite other writers of the process wait); a full run leaves the next one due at once.
CHUNK = 5000

# (model, column) holding file paths: a JSON list of paths, a plain path, or (Conversation.data)
# a JSON document whose strings anywhere may be paths
MEDIA_COLUMNS: tuple[tuple[type[SQLModel], str], ...] = (
    (Job, "photos"), (Complaint, "evidence"), (Complaint, "statement_media"),
    (Objection, "media"), (TukangProfile, "skk_media"), (TukangProfile, "work_photos"),
    (Broadcast, "image"), (Conversation, "data"))
# (model, column) holding one plain path, no JSON (Broadcast.image, older, is listed above)
MEDIA_PATHS: tuple[tuple[type[SQLModel], str], ...] = ((TukangProfile, "photo"),)
# every other JSON column, and why it never names a file of its own
NOT_MEDIA: dict[str, str] = {
    "kecamatan.neighbours": "kecamatan codes",
    "user.topics": "subscription topics",
    "tukangprofile.skills": "skill codes",
    "tukangprofile.areas": "kecamatan codes",
    "tukangservice.skill_codes": "skill codes",
    "surveyresponse.scores": "numbers",
    "broadcast.audience": "who a broadcast goes to",
    "broadcast.pruned": "counts",
    "outbox.payload": "its media are copies of a job's photos or a broadcast's picture, which "
                      "those rows hold (flows/offers.py, flows/broadcast.py)",
    "auditlog.detail": "counts and names of what was done, never a file to keep",
}


@dataclass(frozen=True, slots=True)
class Orphan:
    """A file no row points at, older than the grace period."""

    path: Path
    size: int
    modified: datetime


@dataclass(frozen=True, slots=True)
class Swept:
    """One run: the orphans found (all of them when dry), how many files and bytes went, and
    whether more are left for the next run."""

    orphans: list[Orphan]
    deleted: int
    freed: int
    more: bool


def old_files(media_dir: Path, before: datetime) -> list[Orphan]:
    """Every regular file under `media_dir` last changed before `before`, oldest first.
    Symbolic links are neither followed nor listed: the sweep never deletes outside."""
    found: list[Orphan] = []
    if not media_dir.is_dir():
        return found
    cutoff = before.timestamp()
    for folder, _, files in os.walk(media_dir, followlinks=False):
        for name in files:
            path = Path(folder) / name
            try:
                st = path.lstat()
            except OSError:  # gone meanwhile
                continue
            if path.is_symlink() or not path.is_file() or st.st_mtime >= cutoff:
                continue
            found.append(Orphan(path, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC)))
    found.sort(key=lambda o: o.modified)
    return found


def _names(value: Any, into: set[str]) -> None:
    """The file names of every string inside a JSON value."""
    if isinstance(value, str):
        if value:
            into.add(Path(value).name)
    elif isinstance(value, list):
        for v in value:
            _names(v, into)
    elif isinstance(value, dict):
        for v in value.values():
            _names(v, into)


async def referenced(session: AsyncSession) -> set[str]:
    """The names of the files some row points at, read in one statement (one snapshot)."""
    parts = []
    for model, column in (*MEDIA_COLUMNS, *MEDIA_PATHS):
        c = table(model).c[column]
        parts.append(select(cast(c, String).label("v")).where(c.is_not(None)))
    names: set[str] = set()
    for (raw,) in (await session.execute(union_all(*parts))).all():
        if raw is None:
            continue
        try:
            value = json.loads(raw)
        except ValueError:  # a plain path column (Broadcast.image)
            value = raw
        if not isinstance(value, str | list | dict):  # a bare number or null: no file
            continue
        _names(value, names)
    return names


async def find(session: AsyncSession, media_dir: Path, now: datetime,
               grace: timedelta = GRACE) -> list[Orphan]:
    """The files under `media_dir` older than `grace` at `now` that no row points at, oldest
    first. The disk is listed (in a thread) before the rows are read."""
    candidates = await asyncio.to_thread(old_files, media_dir, now - grace)
    if not candidates:
        return []
    names = await referenced(session)
    return [o for o in candidates if o.path.name not in names]


def delete(orphans: list[Orphan]) -> tuple[int, int]:
    """Remove the files; (files, bytes) gone. One that cannot be removed is logged without its
    name and tried again by the next run."""
    files = freed = 0
    for o in orphans:
        try:
            o.path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("media sweep could not delete a file: %s", exc.strerror)
            continue
        files += 1
        freed += o.size
    return files, freed


def record(session: AsyncSession, now: datetime, swept: Swept, *, actor: str = "system",
           **detail: Any) -> None:
    """The audit row of one run (`ACTION`, what `storage.retention.due` reads for the rhythm):
    how many files and bytes went, whether more are left; never a file's name."""
    session.add(AuditLog(actor=actor, action=ACTION, subject_type="media",
                         detail={"deleted": {"media_files": swept.deleted},
                                 "bytes": swept.freed, "more": swept.more, **detail}, at=now))


async def sweep(session: AsyncSession, media_dir: Path, now: datetime, *,
                grace: timedelta = GRACE, dry_run: bool = False,
                limit: int = CHUNK) -> Swept:
    """Find the orphans and, unless `dry_run`, delete up to `limit` of them (oldest first)."""
    orphans = await find(session, media_dir, now, grace)
    if dry_run:
        return Swept(orphans, 0, 0, False)
    batch = orphans[:limit]
    files, freed = await asyncio.to_thread(delete, batch)
    return Swept(batch, files, freed, len(orphans) > limit)
