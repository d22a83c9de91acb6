"""Matching from the service table (docs/matching.md): the same list as the rule computed over
every profile, in the same order, page by page; kept current by every writer; on SQLite and
PostgreSQL."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import column as sa_column
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy import table as sa_table

from flows.privacy import erase_user
from storage.clock import local
from storage.db import Database
from storage.matching import (
    Candidate,
    count_tukang,
    find_tukang,
    is_eligible,
    offered_for_job,
)
from storage.migrate import alembic_config
from storage.models import Category, Skill, SkillCategory, TukangProfile, TukangService, User
from storage.seed import KECAMATAN
from storage.service import rebuild_service
from storage.sql import table
from tests.admin.conftest import Admin
from tests.admin.conftest import make_complaint as make_heard_complaint
from tests.factories import (
    BATAM_KOTA,
    BUILDER,
    ELECTRICIAN,
    NONGSA,
    PAINTER,
    category_id,
    make_job,
    make_person,
    make_tukang,
)
from tests.harness import Harness, StepClock

SEKUPANG = "217103"
PLUMBER = "ME012001"
CARPENTER = "SI013015"


@pytest.fixture
async def h(any_db: Database, clock: StepClock) -> AsyncIterator[Harness]:
    """People on the console, on SQLite and on PostgreSQL."""
    harness = Harness.console(any_db, clock=clock)
    yield harness
    await harness.close()


@pytest.fixture
def cli(any_db: Database, tmp_path: Path, clock: StepClock) -> Admin:
    """The officer's `sijakon-admin` on the same database and clock."""
    return Admin.on(any_db, tmp_path / "data", clock)


# --- the rule as docs/matching.md states it, over every profile (the code before 0004) ----------


@dataclass
class World:
    """Everything the rule reads, loaded whole."""

    people: list[tuple[TukangProfile, User]]
    serving: dict[int, set[str]]  # category -> active skills serving it


async def load_world(db: Database) -> World:
    async with db.read() as s:
        people = [(p, u) for p, u in (await s.execute(
            select(TukangProfile, User).join(User, User.id == TukangProfile.user_id))).all()]
        links = (await s.execute(
            select(SkillCategory.category_id, SkillCategory.skill_code)
            .join(Skill, Skill.code == SkillCategory.skill_code)
            .where(Skill.active.is_(True)))).all()
    serving: dict[int, set[str]] = {}
    for cat, code in links:
        serving.setdefault(cat, set()).add(code)
    return World(people, serving)


def rule(world: World, *, category_id: int, kecamatan_code: str, today: date, now: datetime,
         exclude: frozenset[int] = frozenset()) -> list[Candidate]:
    """Who is listed and in what order, written out from the documentation."""
    found = []
    for p, u in world.people:
        skills = tuple(c for c in p.skills or [] if c in world.serving.get(category_id, set()))
        if (u.role != "tukang" or u.status != "active" or p.status != "active"
                or not p.available or p.skk_valid_until < today or not skills
                or kecamatan_code not in (p.areas or []) or u.id in exclude):
            continue
        bayes = (3 * 4.0 + p.rating_sum) / (3 + p.rating_count)
        if p.last_offer_at is None:
            fair = 1.0
        else:
            hours = max(0.0, (now - p.last_offer_at).total_seconds() / 3600)
            fair = 1.0 * min(hours, 72.0) / 72.0
        found.append(Candidate(
            user_id=u.id or 0, name=u.name, jenjang=p.jenjang, skill_codes=skills,
            rating_avg=p.rating_sum / p.rating_count if p.rating_count else None,
            rating_count=p.rating_count, jobs_done=p.jobs_done, priority=bayes + fair))
    return sorted(found, key=lambda c: (-c.priority, c.jobs_done, c.user_id))


async def service_rows(db: Database, *, rebuilt: bool = False) -> list[tuple[Any, ...]]:
    """The service table as it stands, or as rebuilt from scratch (then rolled back)."""
    t = table(TukangService)
    async with db.engine.connect() as conn:
        tx = await conn.begin()
        if rebuilt:
            await conn.run_sync(rebuild_service)
        rows = (await conn.execute(select(t).order_by(*t.primary_key.columns))).all()
        await tx.rollback()
    return [tuple(r) for r in rows]


# --- what the warga sees ----------------------------------------------------------------------


async def open_job(h: Harness, who: str = "budi", category: str = "Pengecatan") -> int:
    """A warga with an open job in Batam Kota, waiting at the menu; returns the job id."""
    uid = await make_person(h, who, name=f"Warga {who.title()}")
    return await make_job(h, uid, status="open", category=category)


async def shown(h: Harness, job_id: int, who: str = "budi") -> list[str]:
    """The names on the list the warga gets for their job ("Pilih tukang"); [] when the bot
    says nobody is available."""
    await h.send(who, choice=f"!job.pick:{job_id}")
    if "Pilih tukang untuk" not in h.last(who).text and "belum ada tukang" not in \
            h.last(who).text:  # back after days away: the bot greets with the menu first
        await h.send(who, choice=f"!job.pick:{job_id}")
    page = h.last(who)
    if "belum ada tukang" in page.text:
        return []
    return [label for label in page.labels if label not in ("Lainnya", "Lihat profil tukang", "Batalkan pesanan")]


async def all_pages(h: Harness, job_id: int, who: str = "budi") -> list[tuple[list[str], str]]:
    """Every page of the list (its names and its text), pressing "Lainnya" until it comes
    round to the first; the warga is left looking at the first page again."""
    pages = [(await shown(h, job_id, who), h.last(who).text)]
    while "Lainnya" in h.last(who).labels:
        await h.press(who, "Lainnya")
        names = [x for x in h.last(who).labels if x not in ("Lainnya", "Lihat profil tukang", "Batalkan pesanan")]
        if names == pages[0][0]:
            break
        pages.append((names, h.last(who).text))
    return pages


# --- the same list as the rule, whatever happened ------------------------------------------------

AREAS = [BATAM_KOTA, NONGSA, SEKUPANG, "217106"]
SKILLS = [PAINTER, BUILDER, ELECTRICIAN, PLUMBER, CARPENTER]


class Story:
    """A random sequence of what happens to tukang, through the code that does it."""

    def __init__(self, db: Database, cli: Admin, clock: StepClock, rng: random.Random) -> None:
        self.db, self.cli, self.clock, self.rng = db, cli, clock, rng
        self.tukang: list[int] = []
        self.made = 0

    async def status(self, uid: int) -> str:
        async with self.db.read() as s:
            p = (await s.execute(select(TukangProfile).where(
                TukangProfile.user_id == uid))).scalar_one()
            u = await s.get(User, uid)
        assert u is not None
        return "erased" if u.status == "erased" else p.status

    def _pick(self) -> int:
        return self.rng.choice(self.tukang)

    async def register(self) -> str:
        """A tukang submits (pending) or is loaded already active (the demo seed)."""
        r = self.rng
        self.made += 1
        uid = await make_tukang(
            self.db, f"tk{self.made}", f"Tukang {self.made:02d}",
            phone=f"+62812{self.made:08d}", status=r.choice(["pending", "active", "active"]),
            skills=r.sample(SKILLS, r.randint(1, 3)), areas=r.sample(AREAS, r.randint(1, 3)),
            valid_until=local(self.clock()).date() + timedelta(days=r.choice([0, 1, 3, 400])),
            media=[],
            rating_sum=r.choice([0, 4, 9, 18]), rating_count=r.choice([0, 1, 2, 4]),
            jobs_done=r.randint(0, 2), available=r.random() > 0.2, at_menu=False,
            last_offer_at=r.choice([None, self.clock() - timedelta(hours=r.randint(0, 100))]))
        self.tukang.append(uid)
        return f"register {uid}"

    async def decide(self) -> str:
        """The officer activates, rejects, suspends or reinstates (sijakon-admin tukang)."""
        uid = self._pick()
        options = {"pending": ["activate", "reject"], "active": ["suspend"],
                   "suspended": ["reinstate"]}.get(await self.status(uid), [])
        if not options:
            return f"nothing to decide for {uid}"
        verb = self.rng.choice(options)
        reason = ["--reason", "Pemeriksaan Dinas"] if verb in ("reject", "suspend") else []
        result = await self.cli("tukang", verb, str(uid), *reason, "--yes", "--as", "siti")
        return f"{verb} {uid}: {result.exit_code}"

    async def profile_edit(self) -> str:
        """What the tukang's own menu writes: availability, service areas, skills."""
        uid, r = self._pick(), self.rng
        async with self.db.transaction() as s:
            p = (await s.execute(select(TukangProfile).where(
                TukangProfile.user_id == uid))).scalar_one()
            what = r.choice(["available", "areas", "skills"])
            if what == "available":
                p.available = not p.available
            elif what == "areas":
                p.areas = r.sample(AREAS, r.randint(1, 3))
            else:
                p.skills = r.sample(SKILLS, r.randint(1, 3))
        return f"{what} {uid}"

    async def counters(self) -> str:
        """What a rating, an offer and a finished job write (flows/rating, offers, jobs)."""
        uid, r = self._pick(), self.rng
        now = self.clock()
        where = TukangProfile.user_id == uid
        what = r.choice(["rate", "offer", "done"])
        async with self.db.transaction() as s:
            if what == "rate":
                score = r.randint(1, 5)
                await s.execute(update(TukangProfile).where(where).values(
                    rating_sum=TukangProfile.rating_sum + score,
                    rating_count=TukangProfile.rating_count + 1))
            elif what == "offer":
                # now, exactly three days ago, a microsecond either side, or in the future
                ago = r.choice([timedelta(0), timedelta(hours=72), timedelta(hours=71),
                                timedelta(hours=72, microseconds=-1),
                                timedelta(hours=72, microseconds=1), timedelta(hours=-1)])
                await s.execute(update(TukangProfile).where(where)
                                .values(last_offer_at=now - ago))
            else:
                await s.execute(update(TukangProfile).where(where).values(
                    jobs_done=TukangProfile.jobs_done + 1))
        return f"{what} {uid}"

    async def erase_or_rename(self) -> str:
        uid = self._pick()
        async with self.db.transaction() as s:
            user = await s.get(User, uid)
            assert user is not None
            if user.status == "erased":
                return f"erased {uid}"
            if self.rng.random() < 0.3:
                await erase_user(s, uid, self.clock())
                return f"erase {uid}"
            user.name = f"{user.name} B"
        return f"rename {uid}"

    async def catalog(self) -> str:
        """The Dinas edits the catalog (sijakon-admin catalog)."""
        code, slug = self.rng.choice([(PAINTER, "cat"), (BUILDER, "renovasi"),
                                      (ELECTRICIAN, "listrik"), (CARPENTER, "atap")])
        async with self.db.read() as s:
            active = (await s.get(Skill, code)).active  # type: ignore[union-attr]
            mapped = (await s.execute(select(func.count()).select_from(SkillCategory).join(
                Category, Category.id == SkillCategory.category_id).where(
                SkillCategory.skill_code == code, Category.slug == slug))).scalar_one()
        if self.rng.random() < 0.5:
            args = ["deactivate-skill" if active else "activate-skill", code]
        else:
            args = ["unmap" if mapped else "map", code, slug]
        result = await self.cli("catalog", *args, "--as", "siti")
        assert result.exit_code == 0, result.output
        return " ".join(args)

    async def time_passes(self) -> str:
        self.clock.advance(hours=self.rng.choice([1, 12, 36, 71, 73, 100]))
        return f"now {self.clock().isoformat()}"

    async def step(self) -> str:
        if len(self.tukang) < 4:
            return await self.register()
        act = self.rng.choices(
            [self.register, self.decide, self.profile_edit, self.counters,
             self.erase_or_rename, self.catalog, self.time_passes],
            weights=[3, 3, 4, 5, 1, 1, 2])[0]
        return await act()


async def assert_same_lists(db: Database, story: Story, log: list[str]) -> None:
    """For every kecamatan and category, now and when an offer's bonus becomes full,
    `find_tukang` gives the rule's list; its pages, counts and one-by-one checks agree."""
    world = await load_world(db)
    now = story.clock()
    offers = [p.last_offer_at for p, _ in world.people if p.last_offer_at is not None]
    rng = story.rng
    instants = [now]
    if offers:  # the instant an offer's bonus becomes full, or the microsecond before
        instants.append(rng.choice(offers) + timedelta(hours=72, microseconds=rng.choice([0, -1])))
    async with db.read() as s:
        cats = list((await s.execute(select(Category.id))).scalars())
        for at in instants:
            today = local(at).date()
            for kec in AREAS:
                for cat in cats:
                    exclude = frozenset(rng.sample(story.tukang, rng.randint(0, 2)))
                    want = rule(world, category_id=cat, kecamatan_code=kec, today=today,
                                now=at, exclude=exclude)
                    args: dict[str, Any] = {"category_id": cat, "kecamatan_code": kec,
                                            "today": today, "exclude": exclude}
                    got = await find_tukang(s, now=at, **args)
                    assert got == want, f"{kec}/{cat} at {at}: " + "\n".join(log)
                    assert await count_tukang(s, **args) == len(want)
                    if want:
                        size = rng.randint(1, 3)
                        offset = rng.randrange(0, len(want))
                        assert await find_tukang(s, now=at, limit=size, offset=offset,
                                                 **args) == want[offset:offset + size]
                        uid = rng.choice(story.tukang)
                        assert await is_eligible(s, user_id=uid, **args) == (
                            uid in {c.user_id for c in want})


@pytest.mark.parametrize("seed", [1, 2])
async def test_the_service_table_lists_what_the_rule_lists(any_db: Database, cli: Admin,
                                                           clock: StepClock, seed: int) -> None:
    """After any sequence of registrations, decisions, edits, ratings, offers, finished jobs,
    erasures, catalog changes and days passing, the table equals a fresh rebuild and every
    list equals the rule's."""
    story = Story(any_db, cli, clock, random.Random(seed))
    log: list[str] = []
    for i in range(48):
        log.append(await story.step())
        assert await service_rows(any_db) == await service_rows(any_db, rebuilt=True), \
            "\n".join(log)
        if i % 8 == 7:
            await assert_same_lists(any_db, story, log)
    await assert_same_lists(any_db, story, log)


# --- the order and the pages the warga sees -------------------------------------------------------


async def test_worked_example_order(h: Harness) -> None:
    """docs/matching.md: Baru (5.00) above Lama (4.40) who had an offer an hour ago; a week
    later Lama (5.38) is first again."""
    now = h.clock()
    lama = await make_tukang(h, "lama", "Lama", rating_sum=45, rating_count=10, jobs_done=10,
                             last_offer_at=now - timedelta(hours=1), phone="+6281299990031")
    baru = await make_tukang(h, "baru", "Baru", phone="+6281299990032", skills=(BUILDER,))
    job = await open_job(h)
    assert await shown(h, job) == ["Baru", "Lama"]
    cat = await category_id(h.db, "Pengecatan")
    async with h.db.read() as s:
        ranked = await find_tukang(s, category_id=cat, kecamatan_code=BATAM_KOTA,
                                   today=local(now).date(), now=now)
    assert [(c.user_id, round(c.priority, 2)) for c in ranked] == [(baru, 5.0), (lama, 4.40)]
    h.clock.advance(days=7)
    assert await shown(h, job) == ["Lama", "Baru"]
    later = h.clock()
    async with h.db.read() as s:
        ranked = await find_tukang(s, category_id=cat, kecamatan_code=BATAM_KOTA,
                                   today=local(later).date(), now=later)
    assert [round(c.priority, 2) for c in ranked] == [5.38, 5.0]


async def test_pages_of_five_in_rule_order_then_round_again(h: Harness) -> None:
    """Twelve tukang: pages of 5, 5 and 2 in the rule's order (one offered an hour ago sits
    where its smaller bonus puts it, across a page boundary), then "Lainnya" wraps round."""
    now = h.clock()
    for i in range(12):
        await make_tukang(h, f"t{i}", f"Tukang {i:02d}", phone=f"+62812999900{i:02d}",
                          rating_sum=5 * i, rating_count=i, jobs_done=i % 3,
                          last_offer_at=now - timedelta(hours=50) if i == 11 else None)
    job = await open_job(h)
    pages = await all_pages(h, job)
    want = rule(await load_world(h.db), category_id=await category_id(h.db, "Pengecatan"),
                kecamatan_code=BATAM_KOTA, today=local(now).date(), now=now)
    assert [len(names) for names, _ in pages] == [5, 5, 2]
    assert [text.count("halaman") for _, text in pages] == [1, 1, 1]
    assert ["halaman 1/3" in pages[0][1], "halaman 2/3" in pages[1][1],
            "halaman 3/3" in pages[2][1]] == [True, True, True]
    assert [n for names, _ in pages for n in names] == [c.name for c in want]
    # the best-rated, offered 50 hours ago: its smaller bonus puts it on the second page
    assert pages[0][0] == ["Tukang 10", "Tukang 09", "Tukang 08", "Tukang 07", "Tukang 06"]
    assert pages[1][0] == ["Tukang 05", "Tukang 04", "Tukang 03", "Tukang 11", "Tukang 02"]
    assert "halaman 1/3" in h.last("budi").text  # came round to the first page
    assert h.last("budi").labels[:5] == pages[0][0]


async def test_a_later_page_is_the_rules_slice(h: Harness) -> None:
    """A page read on its own (LIMIT/OFFSET over the merged order) is the same slice of the
    rule's list, and the count is the list's length."""
    now = h.clock()
    for i in range(9):
        await make_tukang(h, f"t{i}", f"Tukang {i}", phone=f"+62812999901{i:02d}",
                          rating_sum=i, rating_count=1,
                          last_offer_at=now - timedelta(hours=10 * i) if i % 2 else None)
    cat = await category_id(h.db, "Pengecatan")
    want = rule(await load_world(h.db), category_id=cat, kecamatan_code=BATAM_KOTA,
                today=local(now).date(), now=now)
    async with h.db.read() as s:
        page = await find_tukang(s, category_id=cat, kecamatan_code=BATAM_KOTA,
                                 today=local(now).date(), now=now, limit=5, offset=5)
        total = await count_tukang(s, category_id=cat, kecamatan_code=BATAM_KOTA,
                                   today=local(now).date())
    assert page == want[5:] and total == 9


async def test_recent_offers_tied_past_the_page_are_ranked_by_the_rule(any_db: Database) -> None:
    """Thirty tukang offered a job at the same instant tie on the database's approximate
    order: it reads on until the tie ends, and jobs done then user id decide, as the rule
    says, on every page."""
    at = StepClock().now
    for i in range(30):
        await make_tukang(any_db, f"t{i}", f"Tukang {i:02d}", phone=f"+62812999902{i:02d}",
                          rating_sum=8, rating_count=2, jobs_done=(7 * i) % 4,
                          last_offer_at=at - timedelta(hours=10), media=[])
    now = at + timedelta(hours=1)
    cat = await category_id(any_db, "Pengecatan")
    args: dict[str, Any] = {"category_id": cat, "kecamatan_code": BATAM_KOTA,
                            "today": local(now).date(), "now": now}
    want = rule(await load_world(any_db), **args)
    async with any_db.read() as s:
        assert await find_tukang(s, **args) == want
        for offset in (0, 3, 12, 27):
            assert await find_tukang(s, limit=3, offset=offset, **args) == want[offset:offset + 3]


# --- every writer keeps the list current ----------------------------------------------------------


async def test_officer_decisions_list_and_unlist(h: Harness, cli: Admin) -> None:
    """Pending: not listed; activated: listed; suspended: gone; reinstated: back; removed
    by an upheld complaint (Pasal 9): gone; a rejected registration never shows."""
    joko = await make_tukang(h, "joko", "Joko", status="pending", phone="+6281299990041")
    rudi = await make_tukang(h, "rudi", "Rudi", status="pending", phone="+6281299990042")
    job = await open_job(h)
    assert await shown(h, job) == []
    for verb, uid, want in [("activate", joko, ["Joko"]), ("reject", rudi, ["Joko"]),
                            ("suspend", joko, []), ("reinstate", joko, ["Joko"])]:
        reason = ["--reason", "Pemeriksaan"] if verb in ("reject", "suspend") else []
        result = await cli("tukang", verb, str(uid), *reason, "--yes", "--as", "siti")
        assert result.exit_code == 0, result.output
        assert await shown(h, job) == want, verb
    warga = await make_person(h, "sari", name="Sari")
    done = await make_job(h, warga, tukang_id=joko, status="done")
    _, code = await make_heard_complaint(
        h.db, done, status="under_review", statement_requested_at=h.clock(),
        statement_due_at=h.clock(), statement_at=h.clock(), statement="Saya sakit.")
    decided = await cli("complaints", "decide", code, "upheld", "--note",
                        "Terbukti tidak datang", "--yes", "--as", "siti")
    assert decided.exit_code == 0, decided.output
    assert await shown(h, job) == []


async def test_tukang_availability_and_areas_in_the_bot(h: Harness) -> None:
    """"Libur dulu" takes a tukang off the list, "Siap menerima pesanan" puts them back; a
    new service area lists them there and no longer here."""
    await make_tukang(h, "andi", "Andi")
    job = await open_job(h)
    assert await shown(h, job) == ["Andi"]
    await h.send("andi", "menu")
    await h.press("andi", "Status & ketersediaan")
    await h.press("andi", "Libur dulu")
    assert await shown(h, job) == []
    await h.press("andi", "Status & ketersediaan")
    await h.press("andi", "Siap menerima pesanan")
    assert await shown(h, job) == ["Andi"]
    await h.press("andi", "Status & ketersediaan")
    await h.press("andi", "Ubah wilayah kerja")
    await h.press("andi", "Nongsa")
    await h.press("andi", "Batam Kota")  # untick
    await h.press("andi", "Selesai")
    assert await shown(h, job) == []
    await h.press("budi", "Cari di Nongsa")
    assert "(Nongsa)" in h.last("budi").text and h.last("budi").labels[0] == "Andi"


async def test_tukang_skill_edit_and_name_change(h: Harness) -> None:
    """Dropping the painting skill leaves the painting list; a new name shows at once."""
    await make_tukang(h, "andi", "Andi", skills=(PAINTER, ELECTRICIAN))
    job = await open_job(h)
    listrik = await open_job(h, "sari", category="Instalasi listrik")
    await h.send("andi", "menu")
    await h.press("andi", "Pengaturan")
    await h.press("andi", "Ubah nama")
    await h.send("andi", "Andi Wijaya")
    assert await shown(h, job) == ["Andi Wijaya"]
    await h.send("andi", "menu")
    await h.press("andi", "Status & ketersediaan")
    await h.press("andi", "Ubah jabatan kerja")
    await h.press("andi", "Tukang Cat Bangunan Gedung")  # untick
    await h.press("andi", "Selesai")
    await h.press("andi", "Kirim")
    assert "sudah diperbarui" in h.got("andi", "diperbarui").text
    assert await shown(h, job) == []
    assert await shown(h, listrik, "sari") == ["Andi Wijaya"]


async def test_offer_rating_and_finished_job_reorder(h: Harness) -> None:
    """The tukang just chosen drops to the bottom for the next warga; after the job is done,
    rated 5 and three quiet days, they are first again."""
    await make_tukang(h, "andi", "Andi", phone="+6281299990051")
    await make_tukang(h, "citra", "Citra", phone="+6281299990052")
    job = await open_job(h)
    other = await open_job(h, "sari")
    assert await shown(h, job) == ["Andi", "Citra"]  # a tie: the lower user id
    await h.press("budi", "Andi")
    assert await shown(h, other, "sari") == ["Citra", "Andi"]
    await h.press("andi", "Terima")
    await h.send("budi", "menu")
    await h.press("budi", "Pesanan saya")
    await h.send("budi", "1")
    await h.press("budi", "Tandai selesai")
    await h.press("budi", "Ya")
    await h.send("budi", "5")
    await h.send("budi", "Rapi sekali")
    h.clock.advance(days=3)
    assert await shown(h, other, "sari") == ["Andi", "Citra"]


async def test_a_finished_job_breaks_a_tie(h: Harness) -> None:
    """Equal priority: the tukang with fewer jobs done comes first, as soon as one is done."""
    andi = await make_tukang(h, "andi", "Andi", phone="+6281299990061")
    await make_tukang(h, "citra", "Citra", phone="+6281299990062")
    job = await open_job(h)
    warga = await make_person(h, "sari", name="Sari")
    await make_job(h, warga, tukang_id=andi, status="accepted", category="Pengecatan")
    assert await shown(h, job) == ["Andi", "Citra"]
    await h.send("sari", "menu")
    await h.press("sari", "Pesanan saya")
    await h.send("sari", "1")
    await h.press("sari", "Tandai selesai")
    await h.press("sari", "Ya")
    assert await shown(h, job) == ["Citra", "Andi"]


async def test_erasure_and_skk_expiry(h: Harness, cli: Admin) -> None:
    """An erased tukang leaves the list; an SKK past its date leaves it the next day with
    nothing written at all."""
    andi = await make_tukang(h, "andi", "Andi", phone="+6281299990071")
    await make_tukang(h, "citra", "Citra", phone="+6281299990072",
                      valid_until=local(h.clock()).date() + timedelta(days=1))
    job = await open_job(h)
    assert await shown(h, job) == ["Andi", "Citra"]
    erased = await cli("privacy", "erase", str(andi), "--yes", "--as", "siti")
    assert erased.exit_code == 0, erased.output
    assert await shown(h, job) == ["Citra"]
    h.clock.advance(days=1)
    assert await shown(h, job) == ["Citra"]
    h.clock.advance(days=1)
    assert await shown(h, job) == []


async def test_catalog_changes(h: Harness, cli: Admin) -> None:
    """A skill deactivated or unmapped from a category stops serving it, and serves it again
    when the Dinas undoes that."""
    await make_tukang(h, "andi", "Andi")
    job = await open_job(h)
    for args, want in [(["deactivate-skill", PAINTER], []),
                       (["activate-skill", PAINTER], ["Andi"]),
                       (["unmap", PAINTER, "cat"], []),
                       (["map", PAINTER, "cat"], ["Andi"])]:
        result = await cli("catalog", *args, "--as", "siti")
        assert result.exit_code == 0, result.output
        assert await shown(h, job) == want, args


async def test_offered_tukang_are_left_out_of_that_job(h: Harness) -> None:
    """Someone who declined a job is not offered it again; the others still are."""
    andi = await make_tukang(h, "andi", "Andi", phone="+6281299990081")
    await make_tukang(h, "citra", "Citra", phone="+6281299990082")
    job = await open_job(h)
    await shown(h, job)
    await h.press("budi", "Andi")
    await h.press("andi", "Tolak")
    await h.press("andi", "Ya, tolak")
    await h.press("andi", "Lewati")
    async with h.db.read() as s:
        assert await offered_for_job(s, job) == {andi}
    assert await shown(h, job) == ["Citra"]


async def test_bulk_statements_and_unloaded_objects_keep_it_current(any_db: Database) -> None:
    """Writes no flow makes today still keep the table current: a bulk UPDATE by primary key,
    a bulk INSERT, a DELETE, a profile changed without its user id ever loaded."""
    now = StepClock().now
    andi = await make_tukang(any_db, "andi", "Andi", media=[])
    citra = await make_tukang(any_db, "citra", "Citra", status="pending", media=[])
    dodi = await make_person(any_db, "dodi", role="tukang", name="Dodi")
    before = len(await service_rows(any_db))

    async def same() -> None:
        assert await service_rows(any_db) == await service_rows(any_db, rebuilt=True)

    async with any_db.transaction() as s:
        ids = dict((await s.execute(select(TukangProfile.user_id, TukangProfile.id))).all())
        await s.execute(update(TukangProfile), [{"id": ids[andi], "available": False},
                                                {"id": ids[citra], "status": "active"}])
    await same()
    async with any_db.transaction() as s:
        await s.execute(insert(TukangProfile), [{
            "user_id": dodi, "skk_number": "SKK-DODI", "jenjang": 4,
            "skk_valid_until": date(2029, 1, 1), "skk_media": [], "skills": [PAINTER],
            "areas": [BATAM_KOTA, NONGSA], "available": True, "status": "active",
            "submitted_at": now, "jobs_done": 0, "rating_sum": 0, "rating_count": 0,
            "cancellations": 0}])
    await same()
    assert len(await service_rows(any_db)) > before
    async with any_db.transaction() as s:
        p = (await s.execute(select(TukangProfile).where(TukangProfile.user_id == citra)))\
            .scalar_one()
        s.expire(p)
        p.available = False  # set without loading: the user id comes from the row
    await same()
    async with any_db.transaction() as s:
        await s.execute(delete(TukangProfile).where(TukangProfile.user_id == dodi))
    await same()
    assert await service_rows(any_db) == []


# --- the migration fills the table as the code does ----------------------------------------------


async def test_migration_fills_the_table_like_a_rebuild(any_db: Database) -> None:
    """Profiles that existed before revision 0004 get the rows `rebuild_service` writes."""
    now = StepClock().now
    async with any_db.engine.connect() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0003"))
        await conn.commit()
    users = table(User)
    # the profile table as revision 0003 has it (the model has columns added since)
    profiles_0003 = sa_table("tukangprofile", *(
        sa_column(c.name, c.type) for c in table(TukangProfile).c if c.name not in (
            "photo", "work_photos", "bio")))
    async with any_db.engine.connect() as conn:
        rng = random.Random(4)
        for i in range(1, 31):
            await conn.execute(insert(users).values(
                id=1000 + i, name=f"T{i}", role=rng.choice(["tukang", "tukang", "warga"]),
                status=rng.choice(["active", "active", "erased"]), locale="id",
                phone_verified=False, broadcast_opt_out=False, is_demo=False, topics=[],
                created_at=now, updated_at=now))
            await conn.execute(insert(profiles_0003).values(
                user_id=1000 + i, skk_number=f"S{i}", jenjang=rng.randint(1, 9),
                skk_valid_until=date(2027, 1, rng.randint(1, 28)), skk_media=[],
                skills=rng.sample(SKILLS, rng.randint(0, 3)),
                areas=rng.sample([k for k, _, _ in KECAMATAN], rng.randint(0, 3)),
                available=rng.random() > 0.2,
                status=rng.choice(["active", "active", "pending", "suspended"]),
                submitted_at=now, jobs_done=rng.randint(0, 5),
                rating_sum=rng.randint(0, 40), rating_count=rng.randint(0, 9),
                last_offer_at=rng.choice([None, now - timedelta(hours=rng.randint(0, 99))]),
                cancellations=0))
        await conn.execute(update(table(Skill)).where(table(Skill).c.code == CARPENTER)
                           .values(active=False))
        await conn.commit()
    await any_db.migrate()
    migrated = await service_rows(any_db)
    assert migrated and migrated == await service_rows(any_db, rebuilt=True)
    async with any_db.engine.connect() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0003"))
        await conn.commit()
        await conn.run_sync(lambda c: command.upgrade(alembic_config(c), "head"))
        await conn.commit()
    assert await service_rows(any_db) == migrated
    async with any_db.transaction() as s:
        await s.execute(delete(TukangService))  # a bare statement on the table itself...
    async with any_db.transaction() as s:
        await s.run_sync(rebuild_service)  # ...is what rebuild_service is for
    assert await service_rows(any_db) == migrated
