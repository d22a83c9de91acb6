"""The tables of DESIGN.md, as SQLModel models.

All times are aware UTC (`storage.clock.utcnow`); SQLite keeps no zone and PostgreSQL's
`timestamp` matches, so one convention serves both. Status columns are plain strings with
the allowed values listed beside them, so a migration is not needed to read them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel


def _json(default: Any = None) -> Any:
    return Field(default_factory=lambda: default() if callable(default) else default,
                 sa_column=Column(JSON, nullable=True))


# --- reference data -------------------------------------------------------------------------


class Kecamatan(SQLModel, table=True):
    """One of the 12 kecamatan of Kota Batam; `code` is the BPS code."""

    code: str = Field(primary_key=True, max_length=6)
    name: str = Field(max_length=60, unique=True)
    neighbours: list[str] = _json(list)


class Category(SQLModel, table=True):
    """A kind of job a warga can book; the Dinas can edit these."""

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=40, unique=True)
    name: str = Field(max_length=80)
    position: int = 0
    active: bool = True


class Skill(SQLModel, table=True):
    """An SKK jabatan kerja (e.g. SI013001 Tukang Cat Bangunan Gedung)."""

    code: str = Field(primary_key=True, max_length=16)
    name: str = Field(max_length=120)
    active: bool = True


class SkillCategory(SQLModel, table=True):
    """Which categories a skill can serve."""

    skill_code: str = Field(foreign_key="skill.code", primary_key=True, max_length=16)
    category_id: int = Field(foreign_key="category.id", primary_key=True)


class Counter(SQLModel, table=True):
    """Named sequences for human codes (J-2611-0042, P-2611-0003)."""

    name: str = Field(primary_key=True, max_length=40)
    value: int = 0


# --- people ---------------------------------------------------------------------------------


class User(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(default="", max_length=120)
    phone: str | None = Field(default=None, max_length=20, index=True)
    phone_verified: bool = False
    role: str = Field(default="warga", max_length=10)  # warga | tukang
    locale: str = Field(default="id", max_length=5)
    kecamatan_code: str | None = Field(default=None, foreign_key="kecamatan.code", max_length=6)
    consent_at: datetime | None = None
    status: str = Field(default="active", max_length=12)  # active | erased
    broadcast_opt_out: bool = False
    topics: list[str] = _json(list)
    is_demo: bool = False
    created_at: datetime
    updated_at: datetime


class ChannelAccount(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("channel", "address"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    channel: str = Field(max_length=12)  # telegram | whatsapp | console
    address: str = Field(max_length=64)
    reachable: bool = True
    unreachable_reason: str | None = Field(default=None, max_length=200)
    last_seen_at: datetime | None = None
    last_inbound_at: datetime | None = None  # WhatsApp's 24-hour window starts here
    created_at: datetime


class TukangProfile(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", unique=True)
    skk_number: str = Field(max_length=40)
    jenjang: int
    skk_valid_until: date
    skk_media: list[str] = _json(list)
    skills: list[str] = _json(list)  # Skill.code
    areas: list[str] = _json(list)  # Kecamatan.code
    available: bool = True
    status: str = Field(default="pending", max_length=12, index=True)
    # pending | active | rejected | suspended | removed
    decided_by: str | None = Field(default=None, max_length=80)
    decided_at: datetime | None = None
    decision_reason: str | None = None
    submitted_at: datetime
    jobs_done: int = 0
    rating_sum: int = 0
    rating_count: int = 0
    last_offer_at: datetime | None = None
    cancellations: int = 0
    # what a warga sees before choosing (flows/profile_view.py): a face, past work, a few words
    photo: str | None = Field(default=None, max_length=300)  # a file under the data dir
    work_photos: list[str] = _json(list)  # up to 6, content-checked like every photo
    bio: str = Field(default="", max_length=300)


class TukangService(SQLModel, table=True):
    """Who may be listed for a (kecamatan, category), in list order: derived, never edited.

    One row per tukang per service area per category one of their active skills serves, for
    tukang the rule lists by status (an active tukang user, an activated profile, taking work).
    storage/service.py writes it from TukangProfile, User and the catalog on every change to
    them, so `find_tukang` reads one index range instead of every profile (docs/matching.md).
    SKK validity depends on the date and fairness on the time: the query filters and ranks on
    `skk_valid_until` and `last_offer_at`, they do not decide which rows exist.
    """

    __table_args__ = (
        # the list's order for tukang whose last offer is old enough for the full fairness
        # bonus; the trailing columns let the filters read the index alone
        Index("ix_tukangservice_rank", "kecamatan_code", "category_id", "rested_key",
              "jobs_done", "user_id", "skk_valid_until", "last_offer_at"),
        # those offered a job within FAIRNESS_HOURS, with what ranks them at query time
        Index("ix_tukangservice_recent", "kecamatan_code", "category_id", "last_offer_at",
              "offer_hours", "rested_key", "jobs_done", "user_id", "skk_valid_until"),
        # how many are listed (the pages): the narrowest index holding the count's columns,
        # so that it is the one read (with `skk_valid_until` third, SQLite would take it for
        # the list too, and sort)
        Index("ix_tukangservice_count", "kecamatan_code", "category_id", "user_id",
              "skk_valid_until"),
        {"sqlite_with_rowid": False},  # the primary key is the table: one B-tree less
    )

    kecamatan_code: str = Field(primary_key=True, max_length=6)
    category_id: int = Field(primary_key=True)
    # no foreign key: its check on each of the ~400,000 rows of a rebuild cost a quarter of it,
    # and a user's rows go with the user through storage/service.py like every other change
    user_id: int = Field(primary_key=True, index=True)
    name: str = Field(default="", max_length=120)
    jenjang: int
    skill_codes: list[str] = _json(list)  # the profile's skills serving category_id, in order
    skk_valid_until: date
    rating_sum: int = 0
    rating_count: int = 0
    jobs_done: int = 0
    last_offer_at: datetime | None = None
    # -(bayes + FAIRNESS_WEIGHT): the negated priority once the fairness bonus is full, so
    # ascending order with jobs_done and user_id is the list's order (an all-ascending index)
    rested_key: float
    # last_offer_at as hours since the Unix epoch: lets the database rank recent offers
    offer_hours: float | None = None


# --- jobs -----------------------------------------------------------------------------------


class Job(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=16, unique=True)
    warga_id: int = Field(foreign_key="user.id", index=True)
    category_id: int = Field(foreign_key="category.id")
    description: str
    kecamatan_code: str = Field(foreign_key="kecamatan.code", max_length=6)
    address: str = Field(default="", max_length=300)
    preferred_time: str = Field(default="", max_length=60)
    photos: list[str] = _json(list)
    status: str = Field(default="open", max_length=12, index=True)
    # open | offered | accepted | in_progress | done | cancelled | expired
    tukang_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    cancel_reason: str | None = None
    cancelled_by: str | None = Field(default=None, max_length=10)
    notify_when_available: bool = False
    created_at: datetime
    accepted_at: datetime | None = None
    done_at: datetime | None = None
    rating_reminder_at: datetime | None = None
    # several tukang asked: when the first said yes, the warga has until `choose_by` to confirm
    # one, then the first is chosen (flows/offers.py)
    choose_by: datetime | None = None
    # "Tandai selesai" by the tukang asks the warga first (flows/jobs.py): when it was asked
    finish_asked_at: datetime | None = None
    done_by: str | None = Field(default=None, max_length=10)  # warga | tukang | auto


class Offer(SQLModel, table=True):
    __table_args__ = (Index("ix_offer_due", "status", "expires_at"),)

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="job.id", index=True)
    tukang_id: int = Field(foreign_key="user.id", index=True)
    status: str = Field(default="pending", max_length=12)
    # pending | willing (said yes; the warga who asked several has not confirmed yet) |
    # accepted | declined | expired | cancelled | released (another was chosen)
    decline_reason: str | None = None
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None = None


class Rating(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="job.id", unique=True)
    warga_id: int = Field(foreign_key="user.id")
    tukang_id: int = Field(foreign_key="user.id", index=True)
    score: int
    comment: str = ""
    created_at: datetime


class Complaint(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=16, unique=True)
    job_id: int = Field(foreign_key="job.id", index=True)
    warga_id: int = Field(foreign_key="user.id")
    tukang_id: int = Field(foreign_key="user.id", index=True)
    text: str
    evidence: list[str] = _json(list)
    status: str = Field(default="submitted", max_length=20, index=True)
    # submitted | awaiting_statement | under_review | upheld | dismissed
    statement: str | None = None
    statement_media: list[str] = _json(list)
    statement_requested_at: datetime | None = None
    statement_due_at: datetime | None = None
    statement_at: datetime | None = None
    statement_reminders: int = 0  # reminders sent before the statement deadline (0, 1, 2)
    decision_note: str | None = None
    decided_by: str | None = Field(default=None, max_length=80)
    decided_at: datetime | None = None
    created_at: datetime


class Objection(SQLModel, table=True):
    """A removed tukang's keberatan (Pasal 9): one per removal, decided by an officer."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=16, unique=True)
    tukang_id: int = Field(foreign_key="user.id", index=True)
    complaint_id: int | None = Field(default=None, foreign_key="complaint.id")
    text: str
    media: list[str] = _json(list)
    status: str = Field(default="submitted", max_length=12, index=True)
    # submitted | reinstated | kept
    removed_at: datetime | None = None  # the removal objected to (TukangProfile.decided_at)
    created_at: datetime
    decision_note: str | None = None
    decided_by: str | None = Field(default=None, max_length=80)
    decided_at: datetime | None = None


class SurveyResponse(SQLModel, table=True):
    """One answer to the SKM survey (PermenPANRB 14/2017): nine elements scored 1-4."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    role: str = Field(max_length=10)
    period: str = Field(max_length=8, index=True)  # e.g. 2026Q4
    scores: list[int | None] = _json(list)
    suggestion: str = ""
    created_at: datetime


# --- information and broadcast --------------------------------------------------------------


class InfoArticle(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    topic: str = Field(max_length=60, index=True)
    body: str
    published: bool = False
    published_at: datetime | None = None
    created_by: str = Field(default="", max_length=80)
    created_at: datetime
    updated_at: datetime


class Broadcast(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    text: str
    article_id: int | None = Field(default=None, foreign_key="infoarticle.id")
    image: str | None = None
    audience: dict[str, Any] = _json(dict)
    template_sid: str | None = Field(default=None, max_length=64)
    status: str = Field(default="draft", max_length=12)  # draft | sending | sent | cancelled
    created_by: str = Field(default="", max_length=80)
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    total: int = 0
    queued: int = 0
    skipped: int = 0
    last_user_id: int = 0  # resumable enqueue: users up to here are queued
    # outbox rows of this broadcast pruned after the retention: their count per status, and
    # how many of them reached someone (storage/reports.py adds these to the live rows)
    pruned: dict[str, int] = _json(dict)
    pruned_reached: int = 0


LIVE_OUTBOX = text("status IN ('queued', 'sending')")
_HAS_PROVIDER = text("provider_id IS NOT NULL")
_HAS_BROADCAST = text("broadcast_id IS NOT NULL")


# --- the message path -----------------------------------------------------------------------


class Outbox(SQLModel, table=True):
    """A message waiting to be sent, sent, or given up on.

    priority: 0 reply to someone waiting, 1 notification, 2 broadcast (lower goes first).
    status: queued | sending | sent | delivered | read | failed | undelivered | waiting | cancelled
    ("waiting": WhatsApp's 24-hour window is closed and no template fits).
    """

    __table_args__ = (
        # the claim's index holds live rows only, so it stays small however long the history
        Index("ix_outbox_claim", "channel", "priority", "id", sqlite_where=LIVE_OUTBOX,
              postgresql_where=LIVE_OUTBOX),
        # replies have neither: kept out of these two, a reply's insert touches fewer indexes
        Index("ix_outbox_provider_id", "provider_id", sqlite_where=_HAS_PROVIDER,
              postgresql_where=_HAS_PROVIDER),
        Index("ix_outbox_broadcast_id", "broadcast_id", sqlite_where=_HAS_BROADCAST,
              postgresql_where=_HAS_BROADCAST),
        Index("ix_outbox_addr", "channel", "address", "status"),
        Index("ix_outbox_created", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=12)
    address: str = Field(max_length=64)
    user_id: int | None = Field(default=None, index=True)
    key: str = Field(max_length=60)
    payload: dict[str, Any] = _json(dict)
    priority: int = 0
    status: str = Field(default="queued", max_length=12)
    attempts: int = 0
    next_attempt_at: datetime
    claimed_until: datetime | None = None
    claimed_by: int | None = None  # the DeliveryWorker holding a "sending" row
    # parts of a multi-part message (WhatsApp: a long text, several files) already delivered:
    # a retry sends only the rest
    parts_sent: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    last_error: str | None = None
    provider_id: str | None = Field(default=None, max_length=64)
    broadcast_id: int | None = None
    created_at: datetime
    sent_at: datetime | None = None


class Conversation(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("channel", "address"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=12)
    address: str = Field(max_length=64)
    user_id: int | None = Field(default=None, index=True)
    flow: str = Field(default="start", max_length=40)
    step: str = Field(default="start.new", max_length=80)
    data: dict[str, Any] = _json(dict)
    locale: str = Field(default="id", max_length=5)
    version: int = 0
    updated_at: datetime
    expires_at: datetime | None = None


class ProcessedUpdate(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=12)
    external_id: str = Field(max_length=80)
    received_at: datetime = Field(index=True)


class AuditLog(SQLModel, table=True):
    """Who did what to whom, when: user access history and every admin read of personal data."""

    __table_args__ = (Index("ix_audit_subject", "subject_type", "subject_id"),)

    id: int | None = Field(default=None, primary_key=True)
    actor: str = Field(max_length=80, index=True)  # "user:12", "admin:siti", "system"
    action: str = Field(max_length=60, index=True)
    subject_type: str = Field(default="", max_length=20)
    subject_id: int | None = None
    detail: dict[str, Any] = _json(dict)
    channel: str | None = Field(default=None, max_length=12)
    at: datetime = Field(index=True)


# --- officers ---------------------------------------------------------------------------------


class Officer(SQLModel, table=True):
    """A named Dinas officer of `sijakon-admin` (Perwako Batam 65/2021 Pasal 6(3)).

    Every admin command acts as an active officer; the role says what it may do (admin:
    everything, viewer: look only, pdp: look plus the privacy commands; the one active pdp is
    the data administrator whom the privacy notice names). `name` is what `--as` takes, kept
    lower-case so it is unique whatever the case typed.
    """

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=40, unique=True)
    display_name: str = Field(max_length=120)
    role: str = Field(max_length=12)  # admin | viewer | pdp
    contact: str = Field(default="", max_length=120)  # shown to residents for the pdp
    active: bool = True
    is_demo: bool = False  # made by `demo seed`
    created_at: datetime
    disabled_at: datetime | None = None


class Worker(SQLModel, table=True):
    """A running delivery worker (one per bot process) and its heartbeat.

    Rows it holds ("sending", `Outbox.claimed_by`) go back to the queue as soon as its beat is
    stale, or as soon as a new life of the same `name` (host and data directory) starts: a
    killed process's replies leave seconds after the restart, not when their lease ends.
    """

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120, index=True)
    started_at: datetime
    beat_at: datetime
    stopped_at: datetime | None = None


# --- the national SKK registry, as the Dinas exports it ---------------------------------------


class SkkHolder(SQLModel, table=True):
    """One SKK holder of the list the Dinas exports from the national registry (LPJK) and
    imports with `sijakon-admin skk import` (storage/skk.py); a new import replaces the list.

    An officer activating a tukang compares the number, name and expiry the tukang typed with
    this list instead of trusting a photo alone. `key` is the number without spaces, dots or
    dashes, upper-case, so "1.2.3" and "123" are the same certificate.
    """

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=60, unique=True)
    number: str = Field(max_length=60)
    name: str = Field(max_length=160)
    jabatan: str = Field(default="", max_length=200)  # jabatan kerja, as the registry writes it
    jenjang: str = Field(default="", max_length=20)
    valid_until: date
    imported_at: datetime
