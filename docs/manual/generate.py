"""Write the user manuals (docs/panduan-warga.md, docs/panduan-tukang.md) from real
conversations with the bot.

    .venv/bin/python docs/manual/generate.py            # rewrite docs/panduan-*.md
    .venv/bin/python docs/manual/generate.py --check    # exit 1 when they are stale

The narrative is Markdown in docs/manual/warga.md and docs/manual/tukang.md; a line
`<!-- percakapan: NAME -->` there is replaced by the conversation NAME, taken from one story
played through the real engine: every message goes in through `Engine.handle` (WhatsApp
messages are first translated by the WhatsApp adapter's own `parse_inbound`), and what people
read is what the outbox holds for them, rendered the way their channel shows it (Telegram
buttons, WhatsApp numbered lines and *bold*). Dinas officers act through the real
`sijakon-admin` (in-process). A fixed clock (the test suite's: Monday 23 November 2026,
09:00 WIB) and fixed demo data make the output the same on every run; tests/test_manual.py
fails when the committed manuals differ from a fresh run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import re
import shutil
import sys
import tempfile
import textwrap
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from typer.testing import CliRunner  # noqa: E402

from admin_cli.app import app as admin_app  # noqa: E402
from admin_cli.common import CliEnv  # noqa: E402
from bot.whatsapp import numbered, parse_inbound  # noqa: E402
from flows.render import render, to_plain, to_whatsapp  # noqa: E402
from flows.types import Media  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.models import InfoArticle  # noqa: E402
from tests import factories  # noqa: E402
from tests.harness import Harness, Sent, StepClock  # noqa: E402

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent
MANUALS = {"warga.md": "panduan-warga.md", "tukang.md": "panduan-tukang.md"}
MARK = "<!-- percakapan: "
BOT = "SIJAKON"
WIDTH = 86
ITEM = re.compile(r"^\s*(\d+\.|•|-)\s+")
WA_SENDER = "whatsapp:+14155238886"  # the Dinas's WhatsApp number (TWILIO_WHATSAPP_FROM)


@dataclass(frozen=True)
class Person:
    """Someone in the story: the name readers see, the channel, the address there."""

    name: str
    channel: str  # "telegram" or "whatsapp"
    address: str  # a Telegram chat id, or "whatsapp:+62..."
    profile: str = ""  # WhatsApp profile name

    @property
    def who(self) -> str:
        """The harness's name for them (another channel than the console's)."""
        return f"{self.channel}:{self.address}"


@dataclass
class Scene:
    """One conversation as one person saw it: lines of (speaker, text); speaker "" is a
    note between messages."""

    person: Person
    lines: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Story:
    """Plays people's messages into the engine and writes down what the scene's person saw."""

    h: Harness
    data_dir: Path
    scenes: dict[str, Scene] = field(default_factory=dict)
    scene: Scene | None = None
    _seen: dict[str, int] = field(default_factory=dict)
    _acted: dict[str, int] = field(default_factory=dict)
    _sids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @contextlib.asynccontextmanager
    async def view(self, name: str, person: Person) -> AsyncIterator[Scene]:
        """A scene named `name` seen by `person`: it opens with whatever reached them since
        their last scene, and holds what they do and get until it ends."""
        assert name not in self.scenes, f"scene {name!r} twice"
        self.scene = self.scenes[name] = Scene(person)
        self._collect()
        try:
            yield self.scene
        finally:
            self._collect()
            self.scene = None

    def note(self, text: str) -> None:
        """A line between the messages of the current scene ("the next day...")."""
        assert self.scene is not None
        self.scene.lines.append(("", text))

    def skip(self, person: Person) -> None:
        """Forget what reached `person` so far (it belongs to no scene)."""
        self._seen[person.who] = len(self.h.all(person.who))

    async def say(self, p: Person, text: str, *, shown: str | None = None) -> None:
        """`p` writes `text` (on WhatsApp: a Twilio form, read by the adapter's parser)."""
        self._line(p, text if shown is None else shown)
        if p.channel == "whatsapp":
            inbound, _ = parse_inbound({
                "MessageSid": f"SM{next(self._sids):032x}", "From": p.address,
                "To": WA_SENDER, "Body": text, "ProfileName": p.profile, "NumMedia": "0"})
            await self.h.deliver(inbound)
        else:
            await self.h.send(p.who, text)
        self._collect()

    async def press(self, p: Person, label: str) -> None:
        """`p` answers with the option `label` of a message they got since they last did
        something: presses its button on Telegram, types its number on WhatsApp."""
        inbox = self.h.all(p.who)
        for index in range(len(inbox) - 1, self._acted.get(p.who, 0) - 1, -1):
            if label in inbox[index].labels:
                break
        else:
            raise AssertionError(f"{p.name} was just offered no {label!r}\n{self.h.show()}")
        if p.channel == "whatsapp":
            await self.say(p, str(inbox[index].labels.index(label) + 1))
            return
        self._line(p, f"[{label}]")
        await self.h.press(p.who, label, in_message=index)
        self._collect()

    async def photo(self, p: Person, name: str) -> None:
        """`p` sends a photo, as the adapter hands it on once saved: data/media/`name`."""
        self._line(p, "(mengirim foto)")
        media = Media(f"data/media/{name}", "image/jpeg", 48_000)
        await self.h.send(p.who, "", media=(media,))
        self._collect()

    async def share_phone(self, p: Person, phone: str) -> None:
        """`p` presses Telegram's share-contact button: the platform vouches for the number."""
        self._line(p, f"[{render('telegram.share_phone')}]")
        await self.h.send(p.who, "", phone=phone)
        self._collect()

    async def admin(self, *args: str) -> None:
        """A Dinas officer runs `sijakon-admin ARGS` (in-process, on the story's clock)."""
        env = {"SIJAKON_DATABASE_URL": self.h.db.url, "SIJAKON_DATA_DIR": str(self.data_dir),
               "SIJAKON_ADMIN": None}
        result = await asyncio.to_thread(CliRunner(env=env).invoke, admin_app, list(args),
                                         catch_exceptions=False,
                                         obj=CliEnv(clock=self.h.clock))
        if result.exit_code != 0:
            raise RuntimeError(f"sijakon-admin {' '.join(args)}: {result.output}")
        await self.h.refresh()
        self._collect()

    def _line(self, p: Person, text: str) -> None:
        self._acted[p.who] = len(self.h.all(p.who))
        if self.scene is not None and self.scene.person == p:
            self.scene.lines.append((p.name, text))

    def _collect(self) -> None:
        """What reached the scene's person since we last looked, as their channel shows it."""
        if self.scene is None:
            return
        p = self.scene.person
        inbox = self.h.all(p.who)
        for sent in inbox[self._seen.get(p.who, 0):]:
            self.scene.lines.append((BOT, shown(sent, p.channel)))
        self._seen[p.who] = len(inbox)


def shown(sent: Sent, channel: str) -> str:
    """One received message as the channel shows it."""
    reply = sent.raw
    photos = ["(foto)"] * len(reply.media)
    if channel == "whatsapp":
        body = to_whatsapp(reply.text)
        if reply.choices:
            body = f"{body}\n\n{numbered(reply.choices)}"
        return "\n".join([*photos, body])
    buttons = [f"[ {label} ]" for _, label in reply.choices]
    if reply.request_phone:
        buttons.insert(0, f"[ {render('telegram.share_phone')} ]")
    text = to_plain(reply.text)
    return "\n".join([*photos, text, *(["", *buttons] if buttons else [])])


def block(scene: Scene) -> str:
    """A scene as a fenced block: who speaks, then their words, wrapped for reading."""
    out: list[str] = []
    for speaker, text in scene.lines:
        if not speaker:
            out += ["", f"   · · · {text} · · ·"]
            continue
        if speaker != BOT:
            said = f"{speaker} › "
            out += ["", *textwrap.wrap(said + text, WIDTH, break_on_hyphens=False,
                                       break_long_words=False,
                                       subsequent_indent=" " * len(said))]
            continue
        out += ["", f"{BOT} ›"]
        for line in text.split("\n"):
            item = ITEM.match(line)  # a list item's lines hang under its text
            wrapped = textwrap.wrap(line, WIDTH - 2, break_on_hyphens=False,
                                    break_long_words=False,
                                    subsequent_indent=" " * (item.end() if item else 0)) or [""]
            out += [f"  {w}".rstrip() for w in wrapped]
    return "```text\n" + "\n".join(out[1:]) + "\n```"


# --- the story -------------------------------------------------------------------------------
BUDI = Person("Budi", "telegram", "700101")
SARI = Person("Sari", "whatsapp", "whatsapp:+6281377770002", profile="Sari Dewi")
JOKO = Person("Joko", "whatsapp", "whatsapp:+6281377770001", profile="Joko Susilo")
RUDI = Person("Rudi", "telegram", "700202")


async def demo_data(h: Harness) -> None:
    """What the Dinas has before the story: one active tukang and two published articles."""
    await factories.make_tukang(h, "andi", "Andi Wijaya", phone="+6281299990001",
                                skk="SKK-0042/2024", rating_sum=9, rating_count=2, jobs_done=4,
                                at_menu=False)
    now = h.clock()
    async with h.db.transaction() as s:
        for title, topic, body in ARTICLES:
            s.add(InfoArticle(title=title, topic=topic, body=body, published=True,
                              published_at=now, created_by="admin:siti", created_at=now,
                              updated_at=now))


ARTICLES = [
    ("Persetujuan Bangunan Gedung (PBG)", "perizinan",
     "PBG menggantikan IMB. Ajukan lewat SIMBG sebelum membangun atau mengubah bangunan."),
    ("Helm dan sepatu kerja", "keselamatan",
     "Setiap pekerjaan di ketinggian memakai helm, sepatu kerja, dan tali pengaman."),
]


async def play(story: Story) -> None:
    """The story of both manuals, in the order it happens."""
    h, say, press = story.h, story.say, story.press
    await demo_data(h)
    # the Dinas's officers: an admin, and the data administrator the privacy notice names
    await story.admin("officer", "add", "siti", "--role", "admin",
                      "--display", "Siti Rahmawati")
    await story.admin("--as", "siti", "officer", "add", "dewi", "--role", "pdp",
                      "--display", "Dewi Lestari", "--contact", "pdp.sijakon@contoh.go.id")

    # Joko, a painter, registers as a tukang on WhatsApp; the Dinas activates him.
    async with story.view("tukang-mulai-whatsapp", JOKO):
        await say(JOKO, "halo")
        await press(JOKO, "Setuju")
        await press(JOKO, "Pakai nama Joko Susilo")
        await press(JOKO, "Batam Kota")
    async with story.view("tukang-daftar", JOKO):
        await press(JOKO, "Daftar sebagai tukang")
        await press(JOKO, "Lanjut")
        await say(JOKO, "SKK-1234.5678/2025")
        await press(JOKO, "Tukang Cat Bangunan Gedung")
        await press(JOKO, "Selesai")
        await press(JOKO, "Jenjang 3 (operator)")
        await say(JOKO, "31-12-2029")
        await story.photo(JOKO, "skk-joko.jpg")
        await press(JOKO, "Selesai")
        await press(JOKO, "Selesai")
        await press(JOKO, "Kirim")
    h.clock.advance(hours=2)
    joko_id = await factories.user_id(h, JOKO.who)
    async with story.view("tukang-aktif", JOKO):
        story.note("petugas Dinas memeriksa SKK lalu mengaktifkan akun")
        await story.admin("tukang", "activate", str(joko_id), "--as", "siti", "--yes")
        await press(JOKO, "Status & ketersediaan")
    async with story.view("tukang-libur", JOKO):
        await press(JOKO, "Libur dulu")
        await press(JOKO, "Status & ketersediaan")
        await press(JOKO, "Siap menerima pesanan")

    # Rudi opens the tukang link on Telegram.
    async with story.view("tukang-mulai-telegram", RUDI):
        await say(RUDI, "/start tukang")
        await press(RUDI, "Setuju")
        await say(RUDI, "Rudi Hartono")
        await story.share_phone(RUDI, "+6281377770003")
        await press(RUDI, "Sekupang")
        await press(RUDI, "Nanti saja")

    # Budi, on Telegram, books a painter and picks Joko.
    h.clock.advance(hours=2)
    async with story.view("warga-mulai-telegram", BUDI):
        await say(BUDI, "/start")
        await press(BUDI, "Setuju")
        await say(BUDI, "Budi Santoso")
        await story.share_phone(BUDI, "+6281234567890")
        await press(BUDI, "Batam Kota")
    async with story.view("warga-bantuan", BUDI):
        await say(BUDI, "bantuan")
    async with story.view("warga-pesan", BUDI):
        await press(BUDI, "Pesan tukang")
        await press(BUDI, "Pengecatan")
        await say(BUDI, "Cat ulang dinding ruang tamu yang mengelupas, sekitar 20 meter persegi")
        await story.photo(BUDI, "dinding-ruang-tamu.jpg")
        await press(BUDI, "Selesai")
        await press(BUDI, "Batam Kota ← kecamatan Anda")
        await say(BUDI, "Jl. Sudirman No. 12, RT 03/RW 05, Batam Centre")
        await press(BUDI, "Besok")
        await press(BUDI, "Kirim")
        await press(BUDI, "Joko Susilo")
        await press(BUDI, "Cukup, tunggu jawaban")
    h.clock.advance(minutes=20)
    async with story.view("tukang-tawaran", JOKO):
        await press(JOKO, "Terima")
    async with story.view("warga-diterima", BUDI):
        pass

    # The next day Joko works and finishes; Budi rates him.
    h.clock.advance(hours=20)
    async with story.view("tukang-kerja", JOKO):
        await press(JOKO, "Pekerjaan saya")
        await press(JOKO, await _label(story, JOKO, "J-"))
        await press(JOKO, "Mulai kerja")
        story.note("enam jam kemudian")
        h.clock.advance(hours=6)
        await press(JOKO, "Tandai selesai")
        await press(JOKO, "Ya")
    h.clock.advance(minutes=30)
    async with story.view("warga-nilai", BUDI):
        await press(BUDI, "Ya, sudah selesai")
        await press(BUDI, await _label(story, BUDI, "5 "))
        await say(BUDI, "Rapi dan tepat waktu, terima kasih")
    async with story.view("tukang-dinilai", JOKO):
        pass
    async with story.view("warga-pesanan-saya", BUDI):
        await press(BUDI, "Pesanan saya")
        await press(BUDI, await _label(story, BUDI, "J-2611-0001"))
        await press(BUDI, "Kembali")
        await press(BUDI, "Menu utama")

    # Sari, on WhatsApp, books too; Joko cannot take it.
    h.clock.advance(hours=1)
    async with story.view("warga-mulai-whatsapp", SARI):
        await say(SARI, "halo")
        await press(SARI, "Setuju")
        await press(SARI, "Pakai nama Sari Dewi")
        await press(SARI, "Sekupang")
    await press(SARI, "Pesan tukang")
    await press(SARI, "Pengecatan")
    await say(SARI, "Cat pagar besi dan pintu depan rumah, warna hitam")
    await press(SARI, "Lewati")
    await press(SARI, "Batam Kota")
    await say(SARI, "Perumahan Taman Raya Blok C No. 7")
    await press(SARI, "Minggu ini")
    await press(SARI, "Kirim")
    await press(SARI, "Joko Susilo")
    await press(SARI, "Cukup, tunggu jawaban")
    story.skip(SARI)
    async with story.view("tukang-tolak", JOKO):
        await press(JOKO, "Tolak")
        await press(JOKO, "Ya, tolak")
        await say(JOKO, "Jadwal saya penuh minggu ini")
    async with story.view("warga-ditolak", SARI):
        await press(SARI, "Pilih tukang")
        await press(SARI, "Andi Wijaya")

    # Two days later the paint peels; Budi complains; the Dinas asks Joko for a statement.
    h.clock.advance(days=2)
    async with story.view("warga-pengaduan", BUDI):
        await press(BUDI, "Pengaduan")
        await press(BUDI, await _label(story, BUDI, "J-"))
        await say(BUDI, "Dua hari setelah selesai, cat di dinding ruang tamu menggelembung "
                        "dan mengelupas lagi. Tukang belum membalas pesan saya.")
        await story.photo(BUDI, "cat-mengelupas.jpg")
        await press(BUDI, "Selesai")
        await press(BUDI, "Kirim")
    h.clock.advance(hours=3)
    await story.admin("complaints", "request-statement", "P-2611-0001", "--as", "siti",
                      "--yes")
    async with story.view("tukang-pernyataan", JOKO):
        await press(JOKO, "Tulis pernyataan")
        await say(JOKO, "Dinding masih lembap karena hujan, sudah saya sampaikan ke warga. "
                        "Saya siap datang lagi Sabtu untuk mengerok dan mengecat ulang.")
        await press(JOKO, "Lewati")
        await press(JOKO, "Kirim")
    h.clock.advance(days=1)
    await story.admin("complaints", "decide", "P-2611-0001", "dismissed", "--note",
                      "Tukang bersedia memperbaiki pada hari Sabtu; tidak ada pelanggaran.",
                      "--as", "siti", "--yes")
    async with story.view("warga-pengaduan-lanjut", BUDI):
        pass
    async with story.view("tukang-keputusan", JOKO):
        pass

    # Information, subscriptions, and Budi's data.
    async with story.view("warga-info", BUDI):
        await press(BUDI, "Info jasa konstruksi")
        await press(BUDI, await _label(story, BUDI, "Perizinan bangunan"))
        await press(BUDI, "Persetujuan Bangunan Gedung (PBG)")
        await press(BUDI, "Kembali ke menu")
    async with story.view("warga-langganan", BUDI):
        await press(BUDI, "Langganan info")
        await press(BUDI, "Keselamatan kerja")
        await press(BUDI, "Selesai")
    async with story.view("warga-siaran", BUDI):
        await say(BUDI, "stop")
        await say(BUDI, "mulai")
    async with story.view("warga-data", BUDI):
        await press(BUDI, "Pengaturan")
        await press(BUDI, "Data saya")
    async with story.view("tukang-data", JOKO):
        await press(JOKO, "Pengaturan")
        await press(JOKO, "Hapus data saya")
        await press(JOKO, "Jangan")
    async with story.view("warga-hapus", BUDI):
        await press(BUDI, "Hapus data saya")
        await press(BUDI, "Ya, hapus")
        await say(BUDI, "halo")


async def _label(story: Story, p: Person, start: str) -> str:
    """The newest option shown to `p` that starts with `start` (codes and counts vary by
    label, not by run)."""
    for sent in reversed(story.h.all(p.who)):
        for label in sent.labels:
            if label.startswith(start):
                return label
    raise AssertionError(f"{p.name} has no option starting {start!r}\n{story.h.show()}")


# --- writing the manuals ---------------------------------------------------------------------
async def record(work: Path) -> dict[str, Scene]:
    """Play the story on a fresh SQLite database under `work`; returns its scenes."""
    db = Database(f"sqlite+aiosqlite:///{work / 'manual.db'}")
    await db.migrate()
    h = Harness.console(db, clock=StepClock())
    story = Story(h, work / "data")
    try:
        await play(story)
    finally:
        await h.close()
        await db.close()
    return story.scenes


def fill(template: str, scenes: dict[str, Scene], used: set[str], source: str) -> str:
    """The template with each `<!-- percakapan: NAME -->` line replaced by that scene."""
    out = [f"<!-- Dibuat oleh docs/manual/generate.py dari docs/manual/{source}; jangan "
           "disunting langsung: sunting templatnya lalu jalankan "
           "`.venv/bin/python docs/manual/generate.py`. -->", ""]
    for line in template.splitlines():
        if line.startswith(MARK):
            name = line.removeprefix(MARK).removesuffix("-->").strip()
            if name not in scenes:
                raise SystemExit(f"{source}: no conversation {name!r} (known: "
                                 f"{', '.join(sorted(scenes))})")
            used.add(name)
            out.append(block(scenes[name]))
        else:
            out.append(line)
    return "\n".join(out).rstrip("\n") + "\n"


def build(work: Path) -> dict[str, str]:
    """File name under docs/ -> its generated text."""
    scenes = asyncio.run(record(work))
    used: set[str] = set()
    texts = {target: fill((HERE / source).read_text(encoding="utf-8"), scenes, used, source)
             for source, target in MANUALS.items()}
    unused = sorted(set(scenes) - used)
    if unused:
        raise SystemExit(f"conversations used by no manual: {', '.join(unused)}")
    return texts


def generate(out: Path, *, make_work: Callable[[], str] = tempfile.mkdtemp) -> list[Path]:
    """Write the manuals into `out`; returns their paths."""
    work = Path(make_work())
    try:
        texts = build(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in texts.items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def stale(generated: Sequence[Path], committed: Path = DOCS) -> list[str]:
    """Names of the generated files that differ from (or are missing in) `committed`."""
    return [p.name for p in generated if not (committed / p.name).is_file()
            or (committed / p.name).read_text(encoding="utf-8") != p.read_text(encoding="utf-8")]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DOCS, help="where to write (docs/)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 when docs/ holds stale manuals")
    args = parser.parse_args(argv)
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            bad = stale(generate(Path(tmp)))
        if bad:
            print(f"stale: {', '.join(bad)} — run python docs/manual/generate.py")
            return 1
        print("manuals up to date")
        return 0
    for path in generate(args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
