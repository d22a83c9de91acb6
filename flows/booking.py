"""Pesan tukang: what, where, when, a summary with the disclaimer, then choosing a tukang.

Answers live in the conversation data until the warga confirms; only then is a Job row made
(with its code, J-2611-0042). Choosing a tukang shows a page of eligible tukang in the order
of storage/matching.py (docs/matching.md); none found offers the neighbouring kecamatan or a
message once one becomes available (a timer over `Job.notify_when_available`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from flows.context import DRAFT, Context, FlowConfig
from flows.deadlines import waking_only
from flows.jobs import AGAIN, cancel_job, own_job
from flows.offers import (
    ASKED_MAX,
    OPEN,
    asked_count,
    category_name,
    kecamatan_name,
    make_offer,
    pick_again,
    user_name,
)
from flows.outbox import PRIORITY_NOTIFY, Outgoing, window_cutoff
from flows.parsing import clip, dmy, parse_date, row_id
from flows.privacy import dinas_contact
from flows.profile_view import show_profile
from flows.render import render
from flows.start import kecamatan_options
from flows.steps import (
    HOME,
    NEXT,
    PREV,
    ChooseOne,
    Confirm,
    Guarded,
    GuardedChoice,
    GuardedConfirm,
    Next,
    PagedChoice,
    Photos,
    Text,
    clip_telling,
    keyed,
    part_chosen,
    words,
)
from flows.table import MenuEntry, Registry
from flows.types import Choice, Message, Reply, Reprompt
from storage.clock import local
from storage.codes import next_code
from storage.matching import (
    Candidate,
    count_tukang,
    find_tukang,
    is_eligible,
    offered_for_job,
)
from storage.models import AuditLog, Category, Conversation, Job, Kecamatan, Skill
from storage.sql import rowcount

DESCRIPTION_MIN_CHARS = 15
DESCRIPTION_MIN_WORDS = 3
DESCRIPTION_MAX = 1000
ADDRESS_MIN = 5
ADDRESS_MAX = 300
MAX_PHOTOS = 5
PHOTO_TYPES = ("image/jpeg", "image/png")  # a photo, not a sticker (image/webp)
FARTHEST_DATE = timedelta(days=180)
RESUME_AFTER = timedelta(hours=20)  # "the next day", still inside WhatsApp's 24-hour window
REMINDED = "resume_reminded"
WAIT_FOR_TUKANG = timedelta(days=14)  # "tell me when one is available" gives up after this
CANCEL_CONFIRM = "booking.cancel_confirm"  # cancelling while choosing: asked once more
PICK_PAGE = "pick_page"  # the conversation-data key of the page of tukang shown
ASKED = "asked"  # someone was asked from this list already: "Cukup" ends the choosing
PROFILES = "booking.profiles"  # whose profile to open, from the list


# --- category, description, photos ------------------------------------------------------------


async def _category_options(ctx: Context) -> list[Choice]:
    rows = (await (await ctx.db()).execute(
        select(Category).where(col(Category.active).is_(True))
        .order_by(col(Category.position), col(Category.id)))).scalars()
    return [Choice(str(c.id), c.name) for c in rows]


# --- starting, resuming, editing -------------------------------------------------------------

# the answers of a booking, kept as a draft when the warga leaves half-way (Registry.draft)
ANSWERS = ("category_id", "description", "photos", "kecamatan", "address", "time", AGAIN)
QUESTIONS = ("booking.category", "booking.description", "booking.photos", "booking.kecamatan",
             "booking.address", "booking.time", "booking.confirm", "booking.edit")
EDITING = "editing"  # set while one field is changed from the summary ("Ubah")
TOLD = "told"  # a job told at the menu while a draft waits (told_at_menu)
PARTS = (("booking.category", "booking.part_category"),
         ("booking.description", "booking.part_description"),
         ("booking.photos", "booking.part_photos"),
         ("booking.kecamatan", "booking.part_kecamatan"),
         ("booking.address", "booking.part_address"),
         ("booking.time", "booking.part_time"))


def _draft(ctx: Context) -> dict[str, Any] | None:
    """The booking this warga left half-way, if any (flows.engine keeps it)."""
    draft = ctx.data.get(DRAFT)
    if isinstance(draft, dict) and draft.get("flow") == "booking" \
            and isinstance(draft.get("data"), dict):
        return draft
    return None


def _next(ctx: Context, following: str) -> Next:
    """The question after an answer: the summary again when one field was being changed."""
    return "booking.confirm" if ctx.data.pop(EDITING, False) else following


def _back(previous: str | None) -> Callable[[Context], Awaitable[Next]]:
    """"kembali": the previous question (None: the menu, the draft kept), or the list of
    fields while changing one."""

    async def back(ctx: Context) -> Next:
        return "booking.edit" if ctx.data.get(EDITING) else previous

    return back


class BeginBooking(ChooseOne):
    """"Pesan tukang": a fresh booking, or, with a draft kept from last time, the choice to go
    on with it (at the question where it was left) or start anew."""

    exits = ("booking.category",)

    async def enter(self, ctx: Context) -> Next:
        draft, told = _draft(ctx), ctx.data.get(TOLD)
        ctx.clear_flow_data()
        if draft is None:
            return "booking.category"
        ctx.data[DRAFT] = draft
        if told is not None:  # a job told at the menu waits for the answer
            ctx.data[TOLD] = told
        return await super().enter(ctx)


async def _resume_vars(ctx: Context) -> dict[str, object]:
    answers = (_draft(ctx) or {}).get("data", {})
    s = await ctx.db()
    category = await category_name(s, int(answers.get("category_id") or 0)) \
        if answers.get("category_id") else "-"
    return {"category": category, "description": clip(answers.get("description", ""), 80)}


async def _resumed(ctx: Context, choice: Choice) -> Next:
    draft, told = ctx.data.pop(DRAFT, None), ctx.data.pop(TOLD, None)
    if choice.id != "resume" or not isinstance(draft, dict):
        if isinstance(told, dict):  # anew, with the job told at the menu
            return await _start_told(ctx, str(told["text"]), list(told["photos"]),
                                     int(told["category_id"]))
        return "booking.category"
    ctx.data.update({k: v for k, v in draft["data"].items() if k in ANSWERS})
    step = draft.get("step")
    return step if step in QUESTIONS else "booking.category"


async def _begin(ctx: Context, choice: Choice) -> Next:
    ctx.data.pop(DRAFT, None)  # answering again: the old draft is this booking now
    ctx.data["category_id"] = int(choice.id)
    # a description told already (typed at this question, or kept from before) is not asked
    # again: the summary shows it, with Ubah
    return _next(ctx, "booking.photos" if ctx.data.get("description") else "booking.description")


# words that name a kind of job (category slug -> words), for a description typed where the
# kind is asked: a guess the summary shows (Ubah corrects it), never a silent decision
GUESS_WORDS: dict[str, tuple[str, ...]] = {
    "atap": ("atap", "genteng", "talang", "seng"),
    "plafon": ("plafon", "plafond", "gypsum", "langit"),
    "listrik": ("listrik", "lampu", "saklar", "kabel", "stopkontak", "mcb", "korslet"),
    "pipa": ("pipa", "keran", "kran", "wc", "kloset", "closet", "saluran", "mampet",
             "wastafel", "toilet"),
    "cat": ("cat", "mengecat", "dicat", "pengecatan", "mengelupas"),
    "keramik": ("keramik", "ubin", "lantai"),
    "bata": ("bata", "plester", "acian", "tembok"),
    "kayu": ("kayu", "pintu", "jendela", "kusen", "lemari"),
    "las": ("las", "kanopi", "teralis", "besi"),
    "baja-ringan": ("baja",),
    "waterproofing": ("waterproofing", "rembes", "merembes", "lembab"),
    "renovasi": ("renovasi", "bongkar"),
}


async def guess_category(ctx: Context, text: str) -> int | None:
    """The active category a description names most clearly, or None (no word, or a tie)."""
    said = set(words(text).split())
    scores = {slug: len(said & set(hints)) for slug, hints in GUESS_WORDS.items()}
    best = max(scores.values())
    top = [slug for slug, score in scores.items() if score == best]
    if best == 0 or len(top) != 1:
        return None
    found = (await (await ctx.db()).execute(select(Category.id).where(
        Category.slug == top[0], col(Category.active).is_(True)))).scalar()
    return int(found) if found is not None else None


@dataclass(kw_only=True)
class AskCategory(ChooseOne):
    """The kind of job, or the job told straight away (typed, or as a photo's caption): its
    kind is then guessed (`guess_category`) and the description question skipped. With no
    clear guess the description is kept and the kind asked from the list."""

    keeps_media: ClassVar[bool] = True

    async def handle(self, ctx: Context, msg: Message) -> Next:
        if msg.choice is not None:
            return await super().handle(ctx, msg)
        told = _told(msg)
        if told is None:
            pictures = [m.path for m in msg.media if m.content_type in PHOTO_TYPES]
            if pictures:  # a photo first: kept for the photo question
                ctx.data["photos"] = [*ctx.data.get("photos", []), *pictures][:MAX_PHOTOS]
                ctx.say("booking.photo_kept_kind", count=len(ctx.data["photos"]))
                await self.prompt(ctx)
                return None
            return await super().handle(ctx, msg)  # the list's help
        text, pictures = told
        if pictures:
            ctx.data["photos"] = [*ctx.data.get("photos", []), *pictures][:MAX_PHOTOS]
        ctx.data["description"] = await _valid_description(ctx, text)
        guessed = await guess_category(ctx, text)
        if guessed is None:
            raise Reprompt("booking.no_guess")
        return await _guessed(ctx, guessed)


def _told(msg: Message) -> tuple[str, list[str]] | None:
    """The job told in one message (typed, or as a photo's caption): its words and photos,
    or None when the words are too few to be a description."""
    text = " ".join(msg.text.split())
    if len(text) < DESCRIPTION_MIN_CHARS or len(words(text).split()) < DESCRIPTION_MIN_WORDS:
        return None
    return text, [m.path for m in msg.media if m.content_type in PHOTO_TYPES]


async def _guessed(ctx: Context, category_id: int) -> Next:
    ctx.data.pop(DRAFT, None)
    ctx.data["category_id"] = category_id
    ctx.say("booking.guessed", category=await category_name(await ctx.db(), category_id))
    return _next(ctx, "booking.photos")


async def told_at_menu(ctx: Context, msg: Message) -> Next | bool:
    """A warga who tells the job at the menu, typed or as a photo's caption, starts a booking
    with it (one message fewer than "Pesan tukang" first; docs/conversations.md). Only a
    description whose kind is clear counts, so other words at the menu are not taken for a
    job; a booking left half-way is not replaced (its choice is at "Pesan tukang")."""
    told = _told(msg)
    if ctx.data.get("_role", "warga") != "warga" or told is None:
        return False
    guessed = await guess_category(ctx, told[0])
    if guessed is None:
        return False
    ctx.clear_flow_data()
    ctx.say("booking.from_menu")
    if _draft(ctx) is not None:  # asked first: go on with that one, or start anew with this
        ctx.data[TOLD] = {"text": told[0], "photos": told[1], "category_id": guessed}
        return "booking.begin"
    return await _start_told(ctx, told[0], told[1], guessed)


async def _start_told(ctx: Context, text: str, photos: list[str], category_id: int) -> Next:
    ctx.data["description"] = clip_telling(ctx, text, DESCRIPTION_MAX, "booking.description_cut")
    if photos:
        ctx.data["photos"] = photos[:MAX_PHOTOS]
    return await _guessed(ctx, category_id)


async def _edit_options(ctx: Context) -> list[Choice]:
    return [*(Choice(step, ctx.t(key)) for step, key in PARTS),
            Choice("summary", ctx.t("booking.part_done"))]


async def _valid_description(ctx: Context, text: str) -> str:
    text = " ".join(text.split())
    if len(text) < DESCRIPTION_MIN_CHARS or len(words(text).split()) < DESCRIPTION_MIN_WORDS:
        raise Reprompt("booking.description_short")
    return clip_telling(ctx, text, DESCRIPTION_MAX, "booking.description_cut")


@dataclass(kw_only=True)
class Describe(Text):
    """The description, which may come as a photo with a caption: that one message answers
    this question and the first photo (docs/conversations.md, fewer messages). A photo
    without a caption is kept for the photo question and the description asked again."""

    keeps_media: ClassVar[bool] = True

    async def handle(self, ctx: Context, msg: Message) -> Next:
        pictures = [m.path for m in msg.media if m.content_type in PHOTO_TYPES]
        if not pictures:  # text, or a sticker where words are expected
            return await super().handle(ctx, msg)
        ctx.data["photos"] = [*ctx.data.get("photos", []), *pictures][:MAX_PHOTOS]
        if not msg.text.strip():
            ctx.say("booking.photo_kept", count=len(ctx.data["photos"]))
            return None
        return await super().handle(ctx, replace(msg, media=()))


async def _after_description(ctx: Context, text: str) -> Next:
    ctx.data["description"] = text
    return _next(ctx, "booking.photos")


async def _after_photos(ctx: Context, paths: list[str]) -> Next:
    ctx.data["photos"] = paths
    return _next(ctx, "booking.kecamatan")


# --- where ------------------------------------------------------------------------------------


async def _own_kecamatan(ctx: Context) -> str | None:
    user = await ctx.user()
    return user.kecamatan_code if user else None


async def _kecamatan_options(ctx: Context) -> list[Choice]:
    # the same numbers for everyone; the person's own is marked in its place
    return await kecamatan_options(ctx, own=await _own_kecamatan(ctx))


async def _after_kecamatan(ctx: Context, choice: Choice) -> Next:
    ctx.data["kecamatan"] = choice.id
    return _next(ctx, "booking.address")


async def _valid_address(ctx: Context, text: str) -> str:
    address = " ".join(text.split())
    if len(address) < ADDRESS_MIN or sum(ch.isalnum() for ch in address) < ADDRESS_MIN:
        raise Reprompt("booking.address_short")
    if len(address) > ADDRESS_MAX:
        raise Reprompt("booking.address_long", maximum=ADDRESS_MAX)
    return address


async def _last_address(ctx: Context) -> str | None:
    """The address of this warga's newest job in the kecamatan just chosen: a returning
    warga is offered it instead of typing it again."""
    kecamatan = ctx.data.get("kecamatan")
    if ctx.conv.user_id is None or not kecamatan:
        return None
    s = await ctx.db()
    found = (await s.execute(
        select(Job.address).where(Job.warga_id == ctx.conv.user_id,
                                  Job.kecamatan_code == kecamatan)
        .order_by(col(Job.id).desc()).limit(1))).scalar()
    return str(found) if found else None


async def _address_options(ctx: Context) -> list[Choice]:
    last = await _last_address(ctx)
    return [Choice("last", ctx.t("booking.use_last_address", address=clip(last, 40)))] \
        if last else []


async def _address_choice(ctx: Context, choice: Choice) -> Next:
    last = await _last_address(ctx) if choice.id == "last" else None
    if last is None:
        raise Reprompt("booking.address_help")
    return await _after_address(ctx, last)


async def _after_address(ctx: Context, address: str) -> Next:
    ctx.data["address"] = address
    return _next(ctx, "booking.time")


# --- when -------------------------------------------------------------------------------------


def _example(ctx: Context) -> str:
    """A date to show as an example: a week from today, never one already past."""
    return dmy(ctx.today + timedelta(days=7))


async def _time_vars(ctx: Context) -> dict[str, object]:
    return {"example": _example(ctx)}


async def _valid_date(ctx: Context, text: str) -> str:
    day = parse_date(text)
    if day is None:
        raise Reprompt("booking.time_invalid", example=_example(ctx))
    if day < ctx.today:
        raise Reprompt("booking.time_past")
    if day > ctx.today + FARTHEST_DATE:
        raise Reprompt("booking.time_far")
    return dmy(day)


async def _after_time(ctx: Context, value: str) -> Next:
    ctx.data["time"] = value
    ctx.data.pop(EDITING, None)
    return "booking.confirm"


async def _time_choice(ctx: Context, choice: Choice) -> Next:
    """Stored language-neutral, as the tukang may read another language than the warga."""
    now = ctx.today
    if choice.id == "today":
        value = dmy(now)
    elif choice.id == "tomorrow":
        value = dmy(now + timedelta(days=1))
    else:
        value = f"{dmy(now)} – {dmy(now + timedelta(days=6))}"
    return await _after_time(ctx, value)


# --- summary and confirm ----------------------------------------------------------------------


async def _summary_vars(ctx: Context) -> dict[str, object]:
    s = await ctx.db()
    return {"category": await category_name(s, int(ctx.data.get("category_id", 0))),
            "description": ctx.data.get("description", ""),
            "photos": len(ctx.data.get("photos", [])),
            "kecamatan": await kecamatan_name(s, ctx.data.get("kecamatan")),
            "address": ctx.data.get("address", ""), "time": ctx.data.get("time", "")}


async def _create_job(ctx: Context) -> Next:
    s = await ctx.db()
    if not all(k in ctx.data for k in ("category_id", "description", "kecamatan", "address")):
        ctx.say("booking.incomplete")
        return HOME
    user = await ctx.require_user()
    assert user.id is not None
    job = Job(code=await next_code(s, "J", ctx.now), warga_id=user.id,
              category_id=int(ctx.data["category_id"]), description=ctx.data["description"],
              kecamatan_code=ctx.data["kecamatan"], address=ctx.data["address"],
              preferred_time=ctx.data.get("time", ""), photos=list(ctx.data.get("photos", [])),
              status="open", created_at=ctx.now)
    s.add(job)
    await s.flush()
    await ctx.audit("job.create", "job", job.id, code=job.code)
    again = ctx.data.get(AGAIN)
    ctx.clear_flow_data()
    ctx.data.pop(DRAFT, None)
    ctx.data["job_id"] = job.id
    ctx.say("booking.created", code=job.code)
    if again is None:
        return "booking.pick"
    # "Pesan lagi tukang ini": straight to that tukang while they still qualify
    if await is_eligible(s, user_id=int(again), category_id=job.category_id,
                         kecamatan_code=job.kecamatan_code, today=ctx.today) \
            and await make_offer(ctx, job, int(again)) is not None:
        ctx.clear_flow_data()
        return HOME
    ctx.say("booking.again_not_listed", name=await user_name(s, int(again)))
    return "booking.pick"


async def _not_sent(ctx: Context) -> Next:
    ctx.clear_flow_data()
    ctx.data.pop(DRAFT, None)
    ctx.say("booking.not_sent")
    return HOME


async def _to_edit(ctx: Context) -> Next:
    return "booking.edit"


# --- choosing a tukang ------------------------------------------------------------------------


async def _current_job(ctx: Context) -> Job | None:
    raw = ctx.data.get("job_id")
    if raw is None:
        return None
    job = await (await ctx.db()).get(Job, int(raw), populate_existing=True)
    return job if job is not None and job.warga_id == ctx.conv.user_id else None


async def _has_job(ctx: Context) -> bool:
    return await _current_job(ctx) is not None


def _search_area(ctx: Context, job: Job) -> str:
    return str(ctx.data.get("search_kec") or job.kecamatan_code)


@dataclass(frozen=True, slots=True)
class _Search:
    """What the list is of: the job's category in the kecamatan searched, without the tukang
    who already had this job (or who cancelled its earlier copy)."""

    category_id: int
    kecamatan_code: str
    exclude: frozenset[int]


def _cached(ctx: Context) -> dict[tuple[object, ...], Any]:
    """What this message already read of the list (steps ask for it more than once)."""
    cache: dict[tuple[object, ...], Any] = ctx.extras.setdefault("pick_list", {})
    return cache


def _forget_list(ctx: Context) -> None:
    """The next read of the list goes to the database again (someone just left it)."""
    ctx.extras.pop("pick_list", None)


async def _search(ctx: Context, job: Job) -> _Search:
    cache, area = _cached(ctx), _search_area(ctx, job)
    if ("search", area) not in cache:
        exclude = await offered_for_job(await ctx.db(), job.id or 0)
        cache["search", area] = _Search(job.category_id, area,
                                        frozenset(exclude | set(ctx.data.get("exclude", []))))
    found: _Search = cache["search", area]
    return found


async def _count(ctx: Context, job: Job) -> int:
    """How many tukang the list holds now."""
    q, cache = await _search(ctx, job), _cached(ctx)
    if ("count", q) not in cache:
        cache["count", q] = await count_tukang(
            await ctx.db(), category_id=q.category_id, kecamatan_code=q.kecamatan_code,
            today=ctx.today, exclude=q.exclude)
    return int(cache["count", q])


async def _page(ctx: Context, job: Job) -> tuple[list[Candidate], int, int]:
    """The page of the list in `PICK_PAGE`, read from the database a page at a time and
    wrapping round like `flows.steps.paged`: (its tukang, the page shown, how many pages)."""
    size = max(ctx.config.page_size, 1)
    pages = max(-(-await _count(ctx, job) // size), 1)
    page = int(ctx.data.get(PICK_PAGE, 0)) % pages
    q, cache = await _search(ctx, job), _cached(ctx)
    if ("page", q, page) not in cache:
        cache["page", q, page] = await find_tukang(
            await ctx.db(), category_id=q.category_id, kecamatan_code=q.kecamatan_code,
            today=ctx.today, now=ctx.now, exclude=q.exclude, limit=size, offset=page * size)
    return list(cache["page", q, page]), page, pages


async def _skill_names(s: AsyncSession, codes: tuple[str, ...]) -> str:
    names = [(await s.get(Skill, c)) for c in codes[:2]]
    return ", ".join(n.name for n in names if n is not None) or "-"


async def _pick_options(ctx: Context) -> list[Choice]:
    """The tukang of the page shown (PickTukang adds the paging button and the extras)."""
    job = await _current_job(ctx)
    if job is None:
        return []
    shown, _, _ = await _page(ctx, job)
    return [Choice(f"t{c.user_id}", c.name) for c in shown]


async def _cancel_option(ctx: Context) -> list[Choice]:
    """Below the list: a tukang's profile, "Cukup" once someone was asked from it, then
    cancelling the job."""
    enough = [Choice("enough", ctx.t("booking.choice_enough"))] if ctx.data.get(ASKED) else []
    return [Choice("profiles", ctx.t("booking.choice_profiles")), *enough,
            Choice("cancel", ctx.t("booking.choice_cancel_job"))]


async def _profile_options(ctx: Context) -> list[Choice]:
    """Whose profile: the tukang of the page shown, then back to the list."""
    return [*await _pick_options(ctx), Choice("list", ctx.t("booking.choice_back_to_list"))]


async def _profile_chosen(ctx: Context, choice: Choice) -> Next:
    """The card (photos, SKK, jobs done, reviews), then the list again to choose from."""
    tukang_id = row_id(choice.id[1:]) if choice.id.startswith("t") else None
    if tukang_id is not None:
        await show_profile(ctx, tukang_id)
    return "booking.pick"


@dataclass(kw_only=True)
class PickTukang(Guarded, PagedChoice):
    """The list of tukang, a page at a time with each one's details; an empty list goes to the
    "none found" step instead.

    With thousands of tukang in a kecamatan the list is never read whole: the page shown is
    read with LIMIT/OFFSET and the number of pages from a count, so `options` is the page,
    not the whole list `PagedChoice` otherwise slices.
    """

    exits = ("booking.none",)

    async def choices(self, ctx: Context) -> list[Choice]:
        """The page's tukang, "Lainnya" when there is more than a page, then the extras: what
        `PagedChoice.choices` shows, from a page read on its own."""
        job = await _current_job(ctx)
        page, pages = (await _page(ctx, job))[1:] if job is not None else (0, 1)
        ctx.data[self.store] = page
        shown = await self.options(ctx)
        if page > 0 and not self.wrap:
            shown.append(Choice(PREV, ctx.t(self.prev_label)))
        if page < pages - 1 or (self.wrap and pages > 1):
            shown.append(Choice(NEXT, ctx.t(self.next_label)))
        return [*shown, *(await self.extras(ctx) if self.extras else [])]

    async def prompt_vars(self, ctx: Context) -> dict[str, object]:
        job = await _current_job(ctx)
        if job is None:
            raise LookupError("job gone")
        s = await ctx.db()
        shown, page, pages = await _page(ctx, job)
        items = [{"n": i, "name": c.name, "skill": await _skill_names(s, c.skill_codes),
                  "jenjang": c.jenjang,
                  "rating": f"{c.rating_avg:.1f}" if c.rating_avg is not None else "",
                  "count": c.rating_count, "jobs": c.jobs_done}
                 for i, c in enumerate(shown, start=1)]
        asked = await asked_count(s, job.id or 0, ctx.now)
        return {"code": job.code, "items": items, "page": page + 1, "pages": pages,
                "kecamatan": await kecamatan_name(s, _search_area(ctx, job)),
                "asked": asked, "room": ASKED_MAX - asked}

    async def enter(self, ctx: Context) -> Next:
        job = await _current_job(ctx)
        if job is None:
            ctx.say("job.not_found")
            return HOME
        if job.status not in OPEN:
            ctx.say("booking.not_open", code=job.code)
            return HOME
        if await asked_count(await ctx.db(), job.id or 0, ctx.now) >= ASKED_MAX:
            ctx.say("booking.asked_full", code=job.code, most=ASKED_MAX)
            ctx.clear_flow_data()
            return HOME
        if not await _count(ctx, job):
            if job.status != "open":  # some asked already: wait for them, no "none found"
                ctx.say("booking.no_more", code=job.code)
                ctx.clear_flow_data()
                return HOME
            return "booking.none"
        return await super().enter(ctx)


async def _cancel_and_leave(ctx: Context, job: Job) -> Next:
    """The warga gives up on this job while choosing: cancel it (if still live) and go home."""
    if await cancel_job(ctx, job.id or 0):
        ctx.say("job.cancelled", code=job.code)
    ctx.clear_flow_data()
    return HOME


async def _picked(ctx: Context, choice: Choice) -> Next:
    job = await _current_job(ctx)
    if job is None:
        ctx.say("job.not_found")
        return HOME
    if choice.id == "cancel":
        return CANCEL_CONFIRM
    if choice.id == "profiles":
        return PROFILES
    if choice.id == "enough":
        ctx.say("booking.enough", code=job.code)
        ctx.clear_flow_data()
        return HOME
    tukang_id = row_id(choice.id[1:]) if choice.id.startswith("t") else None
    if tukang_id is None:
        raise Reprompt("help.choose")
    q = await _search(ctx, job)
    if not await is_eligible(await ctx.db(), user_id=tukang_id, category_id=q.category_id,
                             kecamatan_code=q.kecamatan_code, today=ctx.today,
                             exclude=q.exclude):
        ctx.say("booking.tukang_gone")
        _forget_list(ctx)
        return "booking.pick"
    if await make_offer(ctx, job, tukang_id) is None:
        ctx.say("booking.not_open", code=job.code)
        ctx.clear_flow_data()
        return HOME
    # up to three at once: the list again, without who was asked, until "Cukup"
    _forget_list(ctx)
    room = await asked_count(await ctx.db(), job.id or 0, ctx.now) < ASKED_MAX
    if room and await _count(ctx, job):
        ctx.data[ASKED] = True
        return "booking.pick"
    ctx.clear_flow_data()
    return HOME


# --- none found -------------------------------------------------------------------------------


async def _tried(ctx: Context, job: Job) -> list[str]:
    return [job.kecamatan_code, *ctx.data.get("tried", [])]


async def _none_vars(ctx: Context) -> dict[str, object]:
    job = await _current_job(ctx)
    if job is None:
        raise LookupError("job gone")
    s = await ctx.db()
    return {"code": job.code, "kecamatan": await kecamatan_name(s, _search_area(ctx, job)),
            "neighbours": any(c.id.startswith("k") for c in await _none_options(ctx))}


async def _none_help_vars(ctx: Context) -> dict[str, object]:
    """The help names the neighbouring kecamatan only while some are left to try."""
    return {"neighbours": any(c.id.startswith("k") for c in await _none_options(ctx))}


async def _none_options(ctx: Context) -> list[Choice]:
    job = await _current_job(ctx)
    if job is None:
        return []
    s = await ctx.db()
    kec = await s.get(Kecamatan, job.kecamatan_code)
    tried = await _tried(ctx, job)
    opts = []
    for code in (kec.neighbours if kec else []) or []:
        if code not in tried:
            opts.append(Choice(f"k{code}", ctx.t("booking.choice_search_in",
                                                 name=await kecamatan_name(s, code))))
    opts.append(Choice("notify", ctx.t("booking.choice_notify")))
    opts.append(Choice("cancel", ctx.t("booking.choice_cancel_job")))
    return opts


class NoneFound(GuardedChoice):
    """What to do when no tukang qualifies: search a neighbouring kecamatan, wait, or cancel."""

    async def enter(self, ctx: Context) -> Next:
        if await _current_job(ctx) is None:
            ctx.say("job.not_found")
            return HOME
        return await super().enter(ctx)


async def _none_chosen(ctx: Context, choice: Choice) -> Next:
    job = await _current_job(ctx)
    if job is None or job.status != "open":
        ctx.say("booking.not_open", code=job.code if job else "-")
        return HOME
    if choice.id.startswith("k"):
        code = choice.id[1:]
        ctx.data["tried"] = [*ctx.data.get("tried", []), code]
        ctx.data["search_kec"] = code
        ctx.data[PICK_PAGE] = 0
        return "booking.pick"
    if choice.id == "notify":
        s = await ctx.db()
        await s.execute(update(Job).where(col(Job.id) == job.id, col(Job.status) == "open")
                        .values(notify_when_available=True)
                        .execution_options(synchronize_session=False))
        ctx.say("booking.will_notify", code=job.code)
        ctx.clear_flow_data()
        return HOME
    if choice.id == "cancel":
        return CANCEL_CONFIRM
    raise Reprompt("help.choose")


async def _cancel_yes(ctx: Context) -> Next:
    job = await _current_job(ctx)
    if job is None:
        ctx.say("job.not_found")
        return HOME
    return await _cancel_and_leave(ctx, job)


async def _keep_looking(ctx: Context) -> Next:
    return "booking.pick"


async def _code_vars(ctx: Context) -> dict[str, object]:
    job = await _current_job(ctx)
    return {"code": job.code if job else "-"}


# --- coming back to the list: after a decline, an expiry, a tukang's cancellation -------------


async def _pick_action(ctx: Context, arg: str) -> Next:
    job = await own_job(ctx, arg)
    if job is None:
        return None
    if job.status not in OPEN:
        ctx.say("booking.not_open", code=job.code)
        return None
    ctx.clear_flow_data()
    ctx.data["job_id"] = job.id
    if job.status != "open":
        ctx.data[ASKED] = True
    return "booking.pick"


async def _rebook_action(ctx: Context, arg: str) -> Next:
    """A tukang cancelled a taken job: the same request again as a new job, without them."""
    old = await own_job(ctx, arg)
    if old is None:
        return None
    s = await ctx.db()
    if old.status != "cancelled" or old.cancelled_by != "tukang":
        ctx.say("booking.not_open", code=old.code)
        return None
    again = (await s.execute(select(AuditLog).where(
        AuditLog.action == "job.rebook", AuditLog.subject_type == "job",
        AuditLog.subject_id == old.id))).scalars().first()
    if again is not None:  # the same button pressed twice: one new job is enough
        ctx.say("booking.already_rebooked", old=old.code, code=again.detail.get("new", "-"))
        return None
    job = Job(code=await next_code(s, "J", ctx.now), warga_id=old.warga_id,
              category_id=old.category_id, description=old.description,
              kecamatan_code=old.kecamatan_code, address=old.address,
              preferred_time=old.preferred_time, photos=list(old.photos or []),
              status="open", created_at=ctx.now)
    s.add(job)
    await s.flush()
    await ctx.audit("job.create", "job", job.id, code=job.code, again=old.code)
    await ctx.audit("job.rebook", "job", old.id, new=job.code)
    ctx.clear_flow_data()
    ctx.data["job_id"] = job.id
    ctx.data["exclude"] = [old.tukang_id] if old.tukang_id else []
    ctx.say("booking.rebooked", code=job.code, old=old.code)
    return "booking.pick"


async def jobs_notify_available(session: AsyncSession, now: datetime, out: Outgoing,
                                config: FlowConfig) -> int:
    """Warga waiting for a tukang: told once one qualifies; after two weeks, the job expires."""
    waiting = (await session.execute(select(Job).where(
        Job.status == "open", col(Job.notify_when_available).is_(True)).order_by(col(Job.id))
        .limit(200)
    )).scalars().all()
    handled = 0
    day = local(now).date()
    for job in waiting:
        assert job.id is not None
        found = await count_tukang(session, category_id=job.category_id,
                                   kecamatan_code=job.kecamatan_code, today=day,
                                   exclude=await offered_for_job(session, job.id))
        if found:
            job.notify_when_available = False
            await out.notify(session, job.warga_id, "booking.available_now",
                             actions=pick_again(job.id), code=job.code, count=found)
            handled += 1
        elif now - job.created_at > WAIT_FOR_TUKANG:
            expired = await session.execute(
                update(Job).where(col(Job.id) == job.id, col(Job.status) == "open")
                .values(status="expired", notify_when_available=False)
                .execution_options(synchronize_session=False))
            if rowcount(expired) == 1:
                await out.notify(session, job.warga_id, "booking.wait_expired", code=job.code,
                                 **dinas_contact(config))
                handled += 1
    await session.flush()
    return handled


async def booking_resume_reminders(session: AsyncSession, now: datetime, out: Outgoing,
                                   config: FlowConfig) -> int:
    """A warga silent half-way through a booking gets one reminder, a day later and while
    WhatsApp's 24-hour window is still open (`window_cutoff`; the same rule on every
    channel, so nobody is chased later than that). The conversation stays at its question,
    so the next message answers it. Only in waking hours (`waking_only`)."""
    rows = (await session.execute(select(Conversation).where(
        col(Conversation.step).in_(QUESTIONS), col(Conversation.user_id).is_not(None),
        col(Conversation.updated_at) <= now - RESUME_AFTER,
        col(Conversation.updated_at) > window_cutoff(now))
        .order_by(col(Conversation.id)).limit(200))).scalars().all()
    sent = 0
    for conv in rows:
        data = dict(conv.data or {})
        if data.get(REMINDED):
            continue
        category = await category_name(session, int(data["category_id"])) \
            if data.get("category_id") else ""
        out.add(conv.channel, conv.address, conv.user_id, "booking.resume_reminder",
                Reply(text=render("booking.resume_reminder", conv.locale, category=category)),
                PRIORITY_NOTIFY)
        conv.data = {**data, REMINDED: True}  # once: the flag goes with the booking's data
        sent += 1
    await session.flush()
    return sent


def register(registry: Registry) -> None:
    edited = ("booking.confirm", "booking.edit")  # where an answer leads while changing one
    registry.add(
        BeginBooking(name="booking.begin", key="booking.resume", vars=_resume_vars,
                     options=keyed(("resume", "booking.choice_resume"),
                                   ("fresh", "booking.choice_fresh")),
                     then=_resumed, help="booking.resume_help",
                     goes_to=(*QUESTIONS, "booking.photos")),
        AskCategory(name="booking.category", key="booking.ask_category",
                  options=_category_options, then=_begin, help="booking.category_help",
                  back=_back(None),
                  goes_to=("booking.description", "booking.photos", *edited)),
        Describe(name="booking.description", key="booking.ask_description",
             validate=_valid_description, then=_after_description,
             help="booking.description_help", back=_back("booking.category"),
             goes_to=("booking.photos", *edited)),
        Photos(name="booking.photos", key="booking.ask_photos", then=_after_photos,
               maximum=MAX_PHOTOS, help="booking.photos_help", kept="photos",
               back=_back("booking.description"), goes_to=("booking.kecamatan", *edited)),
        ChooseOne(name="booking.kecamatan", key="booking.ask_kecamatan",
                  options=_kecamatan_options, then=_after_kecamatan,
                  help="booking.kecamatan_help", back=_back("booking.photos"),
                  goes_to=("booking.address", *edited)),
        Text(name="booking.address", key="booking.ask_address", validate=_valid_address,
             then=_after_address, help="booking.address_help", options=_address_options,
             on_choice=_address_choice, back=_back("booking.kecamatan"),
             goes_to=("booking.time", *edited)),
        Text(name="booking.time", key="booking.ask_time", vars=_time_vars, validate=_valid_date,
             then=_after_time, on_choice=_time_choice, help="booking.time_help",
             help_vars=_time_vars, back=_back("booking.address"),
             options=keyed(("today", "booking.time_today"),
                           ("tomorrow", "booking.time_tomorrow"),
                           ("week", "booking.time_week")),
             goes_to=edited),
        Confirm(name="booking.confirm", key="booking.summary", vars=_summary_vars,
                on_yes=_create_job, on_no=_not_sent, on_edit=_to_edit,
                help="booking.confirm_help",
                yes_label="booking.choice_send", no_label="booking.choice_dont_send",
                back=_back("booking.time"), goes_to=(HOME, "booking.pick", "booking.edit")),
        ChooseOne(name="booking.edit", key="booking.ask_edit", options=_edit_options,
                  then=part_chosen("booking.confirm", EDITING), help="booking.edit_help",
                  back="booking.confirm",
                  goes_to=("booking.confirm", *(step for step, _ in PARTS))),
        PickTukang(name="booking.pick", key="booking.pick", options=_pick_options,
                   extras=_cancel_option, store=PICK_PAGE, wrap=True,
                   next_label="booking.choice_more", then=_picked, help="booking.pick_help",
                   check=_has_job, goes_to=(HOME, "booking.pick", CANCEL_CONFIRM, PROFILES)),
        GuardedChoice(name=PROFILES, key="booking.ask_profile", options=_profile_options,
                      then=_profile_chosen, help="booking.profiles_help", check=_has_job,
                      back="booking.pick", goes_to=("booking.pick",)),
        NoneFound(name="booking.none", key="booking.none_found", vars=_none_vars,
                  options=_none_options, then=_none_chosen, help="booking.none_help",
                  help_vars=_none_help_vars,
                  check=_has_job, goes_to=(HOME, "booking.pick", CANCEL_CONFIRM)),
        GuardedConfirm(name=CANCEL_CONFIRM, key="job.cancel_confirm", vars=_code_vars,
                       on_yes=_cancel_yes, on_no=_keep_looking, check=_has_job,
                       yes_label="job.choice_cancel_yes", no_label="job.choice_keep",
                       back="booking.pick", goes_to=(HOME, "booking.pick")),
    )
    registry.action("job.pick", _pick_action, goes_to=("booking.pick",))
    registry.action("job.rebook", _rebook_action, goes_to=("booking.pick",))
    registry.timer("jobs_notify_available", waking_only(jobs_notify_available))
    registry.timer("booking_resume_reminders", waking_only(booking_resume_reminders))
    registry.draft("booking", ANSWERS)
    registry.menu_entry(MenuEntry("booking", "booking.menu_item", "booking.begin",
                                  roles=("warga",), position=10))
