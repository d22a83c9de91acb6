"""`sijakon-admin broadcast`: construction information to many people at once.

create (a draft) -> preview (what people read, and how many on each channel) -> send (asks
first; writes one outbox row per recipient, in batches) -> status [--watch] -> cancel. The
running bot delivers the rows at each platform's limit, after every reply and notification;
if `send` is interrupted, the bot's scheduler carries on where it stopped (flows/broadcast.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from sqlalchemy import select

from admin_cli.common import (
    AsOpt,
    JsonOpt,
    Refused,
    YesOpt,
    audit,
    confirm,
    console,
    emit,
    emit_json,
    emit_record,
    now,
    operator,
    refuse_exit,
    run,
    say,
    settings,
)
from flows import broadcast as bc
from flows.render import to_plain
from storage.db import Database
from storage.models import Broadcast, InfoArticle, Kecamatan, Skill

app = typer.Typer(help="Siaran informasi konstruksi ke warga dan tukang.", no_args_is_help=True)

IdArg = Annotated[int, typer.Argument(help="ID siaran (lihat `broadcast list`).")]
TEMPLATE_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")  # Twilio Content API template SID
IMAGE_TYPES = {"image/jpeg", "image/png", "image/webp"}
MAX_IMAGE = 5 * 1024 * 1024  # WhatsApp's limit for one outbound file


async def _get(s: Any, broadcast_id: int) -> Broadcast:
    b = await s.get(Broadcast, broadcast_id)
    if b is None:
        raise Refused(f"tidak ada siaran dengan ID {broadcast_id}")
    return b


def _image(path: str | None) -> str | None:
    """Copy the picture into the data directory, where the bot's senders may read it."""
    if not path:
        return None
    src = Path(path)
    if not src.is_file():
        raise typer.BadParameter(f"file {path!r} tidak ditemukan", param_hint="--image")
    ctype = mimetypes.guess_type(src.name)[0] or ""
    if ctype not in IMAGE_TYPES:
        raise typer.BadParameter("gambar harus JPEG, PNG atau WebP", param_hint="--image")
    if src.stat().st_size > MAX_IMAGE:
        raise typer.BadParameter("gambar paling besar 5 MB", param_hint="--image")
    folder = settings().media_dir / "broadcast"
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / f"{uuid.uuid4().hex}{src.suffix.lower()}"
    shutil.copyfile(src, dest)
    return str(dest.resolve())


@app.command("create")
def create(
    text: Annotated[str | None, typer.Option("--text", help="Isi siaran (teks biasa).")] = None,
    article: Annotated[int | None, typer.Option("--article",
                                                help="Atau: ID artikel info yang terbit.")] = None,
    image: Annotated[str | None, typer.Option("--image", help="Gambar (JPEG/PNG/WebP).")] = None,
    audience: Annotated[str, typer.Option("--audience",
                                          help="all | warga | tukang.")] = "all",
    kecamatan: Annotated[list[str] | None, typer.Option(
        "--kecamatan", help="Kode kecamatan (boleh berulang).")] = None,
    skill: Annotated[list[str] | None, typer.Option(
        "--skill", help="Kode keahlian SKK tukang (boleh berulang).")] = None,
    topic: Annotated[list[str] | None, typer.Option(
        "--topic", help="Hanya pelanggan topik ini (boleh berulang).")] = None,
    template_sid: Annotated[str | None, typer.Option(
        "--template-sid", help="Template WhatsApp yang disetujui (HX...), untuk penerima "
                               "di luar jendela 24 jam.")] = None,
    as_: AsOpt = None,
) -> None:
    """Buat draf siaran (belum terkirim; lihat dulu dengan `preview`)."""
    who = operator(as_)
    if (text is None) == (article is None):
        raise typer.BadParameter("berikan --text ATAU --article")
    if text is not None and not text.strip():
        raise typer.BadParameter("teks siaran kosong", param_hint="--text")
    if audience not in bc.ROLES:
        raise typer.BadParameter("pilih all, warga atau tukang", param_hint="--audience")
    if template_sid and not TEMPLATE_SID.match(template_sid):
        raise typer.BadParameter("SID template berbentuk HX diikuti 32 karakter heksadesimal",
                                 param_hint="--template-sid")
    aud = bc.Audience(audience, tuple(kecamatan or ()), tuple(skill or ()),
                      tuple(" ".join(t.split()).casefold() for t in topic or ()))
    picture = _image(image)

    async def go(db: Database) -> int:
        async with db.transaction() as s:
            await _check_codes(s, aud)
            try:
                b = await bc.create(s, text=text or "", article_id=article, image=picture,
                                    audience=aud, template_sid=template_sid, created_by=who,
                                    now=now())
            except bc.BroadcastError as exc:
                raise Refused(_why(exc)) from None
            assert b.id is not None
            audit(s, who, "broadcast.create", "broadcast", b.id, audience=aud.to_json(),
                  article=article, template=bool(template_sid))
            return b.id

    broadcast_id = run(go)
    say(f"Siaran #{broadcast_id} dibuat (draf). Periksa dengan: "
        f"sijakon-admin broadcast preview {broadcast_id}")


def _why(exc: bc.BroadcastError) -> str:
    text = str(exc)
    if "not published" in text:
        return "artikel itu belum terbit (sijakon-admin info publish ID)"
    if text.startswith("no article"):
        return "tidak ada artikel dengan ID itu"
    return text


async def _check_codes(s: Any, aud: bc.Audience) -> None:
    if aud.kecamatan:
        known = set((await s.execute(select(Kecamatan.code))).scalars())
        unknown = [k for k in aud.kecamatan if k not in known]
        if unknown:
            raise Refused(f"kode kecamatan tidak dikenal: {', '.join(unknown)} "
                          "(lihat sijakon-admin catalog)")
    if aud.skills:
        known = set((await s.execute(select(Skill.code))).scalars())
        unknown = [k for k in aud.skills if k not in known]
        if unknown:
            raise Refused(f"kode keahlian tidak dikenal: {', '.join(unknown)}")


@app.command("preview")
def preview(broadcast_id: IdArg, as_json: JsonOpt = False) -> None:
    """Teks siaran (id dan en) dan jumlah penerima per kanal."""

    async def go(db: Database) -> tuple[Broadcast, bc.Preview]:
        async with db.read() as s:
            b = await _get(s, broadcast_id)
            return b, await bc.preview(s, b, now())

    b, p = run(go)
    aud = bc.Audience.from_json(b.audience)
    data = {"id": b.id, "status": b.status, "audience": aud.to_json(),
            "recipients": p.recipients, "by_channel": p.by_channel,
            "whatsapp_skipped": p.skipped_whatsapp, "opted_out": p.opted_out,
            "unreachable": p.unreachable, "template_sid": b.template_sid,
            "text": {loc: to_plain(t) for loc, t in p.texts.items()}}
    if as_json:
        emit_json(data)
        return
    for loc, text in p.texts.items():
        console.rule(f"Bahasa: {loc}")
        say(to_plain(text))
    console.rule()
    record: dict[str, Any] = {"siaran": f"#{b.id} ({b.status})", "sasaran": aud.describe(),
                              "penerima": p.recipients}
    record |= {f"  lewat {ch}": n for ch, n in p.by_channel.items()}
    record["WhatsApp dilewati"] = (f"{p.skipped_whatsapp} (di luar jendela 24 jam, tanpa "
                                   "template)" if p.skipped_whatsapp else 0)
    record["berhenti langganan"] = p.opted_out
    record["tak terjangkau"] = p.unreachable
    emit_record(record, title="Pratinjau siaran")


@app.command("send")
def send(broadcast_id: IdArg, yes: YesOpt = False, as_: AsOpt = None) -> None:
    """Kirim siaran (minta konfirmasi; --yes melewatinya). Antrean ditulis bertahap."""
    who = operator(as_)

    async def count(db: Database) -> tuple[Broadcast, bc.Preview]:
        async with db.read() as s:
            b = await _get(s, broadcast_id)
            if b.status != "draft":
                raise Refused(f"siaran #{broadcast_id} berstatus {b.status}, bukan draf")
            return b, await bc.preview(s, b, now())

    _, p = run(count)
    if not p.recipients:
        refuse_exit(f"siaran #{broadcast_id} tidak punya penerima (lihat `broadcast preview "
                    f"{broadcast_id}`: sasaran, berhenti langganan, jendela WhatsApp)")
    confirm(f"Kirim siaran #{broadcast_id} ke {p.recipients} orang "
            f"({', '.join(f'{c}: {n}' for c, n in p.by_channel.items()) or '-'})?", yes)

    async def go(db: Database) -> int:
        async with db.transaction() as s:
            if not await bc.start(s, broadcast_id, now()):
                raise Refused(f"siaran #{broadcast_id} sudah dikirim atau dibatalkan")
            audit(s, who, "broadcast.send", "broadcast", broadcast_id,
                  recipients=p.recipients)
        return await bc.enqueue_all(db, broadcast_id, clock=now)

    started = time.monotonic()
    written = run(go)
    say(f"Siaran #{broadcast_id}: {written} baris masuk antrean dalam "
        f"{time.monotonic() - started:.1f} detik. Bot mengirimnya sesuai batas tiap kanal; "
        f"pantau dengan: sijakon-admin broadcast status {broadcast_id} --watch")


async def _status(db: Database, broadcast_id: int) -> dict[str, Any]:
    async with db.read() as s:
        b = await _get(s, broadcast_id)
        c = await bc.counts(s, broadcast_id, now())
    by = c["by_status"]
    return {"id": b.id, "status": b.status, "total": b.total, "skipped": b.skipped,
            "queued": by.get("queued", 0) + by.get("waiting", 0),
            "sending": by.get("sending", 0),
            "sent": by.get("sent", 0) + by.get("delivered", 0) + by.get("read", 0),
            "delivered": by.get("delivered", 0) + by.get("read", 0),
            "failed": by.get("failed", 0) + by.get("undelivered", 0),
            "cancelled": by.get("cancelled", 0), "waiting": by.get("waiting", 0),
            "by_status": by, "rate_per_second": c["rate_per_second"],
            "done": sum(by.get(k, 0) for k in bc.DONE_STATES),
            "enqueued_up_to_user": b.last_user_id, "started_at": b.started_at,
            "finished_at": b.finished_at}


def _line(st: dict[str, Any]) -> str:
    return (f"#{st['id']} {st['status']}: antre {st['queued']}, dikirim {st['sent']}, "
            f"diterima {st['delivered']}, gagal {st['failed']}, dilewati {st['skipped']}, "
            f"dibatalkan {st['cancelled']} · {st['rate_per_second']:.1f}/detik")


@app.command("status")
def status(broadcast_id: IdArg, watch: Annotated[bool, typer.Option(
        "--watch", help="Perbarui terus sampai selesai (Ctrl-C untuk keluar).")] = False,
        interval: Annotated[float, typer.Option(help="Detik antar pembaruan.")] = 2.0,
        as_json: JsonOpt = False) -> None:
    """Kemajuan siaran: antre, terkirim, diterima, gagal, dilewati, laju."""
    if as_json or not watch:
        st = run(lambda db: _status(db, broadcast_id))
        if as_json:
            emit_json(st)
            return
        with _bar() as bar:
            task = bar.add_task(_line(st), total=max(st["total"], 1), completed=st["done"])
            bar.update(task)
        return

    async def follow(db: Database) -> None:
        with _bar() as bar:
            task = None
            while True:
                st = await _status(db, broadcast_id)
                if task is None:
                    task = bar.add_task(_line(st), total=max(st["total"], 1))
                bar.update(task, total=max(st["total"], 1), completed=st["done"],
                           description=_line(st))
                if st["status"] == "cancelled" or (st["status"] == "sent"
                                                   and st["done"] >= st["total"]):
                    return
                await asyncio.sleep(interval)

    with contextlib.suppress(KeyboardInterrupt):
        run(follow)


def _bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                    TimeElapsedColumn(), console=console, transient=False)


@app.command("cancel")
def cancel(broadcast_id: IdArg, yes: YesOpt = False, as_: AsOpt = None) -> None:
    """Hentikan siaran: yang belum terkirim tidak akan dikirim."""
    who = operator(as_)
    confirm(f"Batalkan siaran #{broadcast_id}?", yes)

    async def go(db: Database) -> int:
        async with db.transaction() as s:
            b = await _get(s, broadcast_id)
            if b.status == "cancelled":
                raise Refused(f"siaran #{broadcast_id} sudah dibatalkan")
            n = await bc.cancel(s, broadcast_id, now())
            audit(s, who, "broadcast.cancel", "broadcast", broadcast_id, rows=n)
            return n

    n = run(go)
    say(f"Siaran #{broadcast_id} dibatalkan; {n} pesan yang belum terkirim tidak akan dikirim.")


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """Semua siaran, terbaru dulu."""

    async def go(db: Database) -> list[dict[str, Any]]:
        async with db.read() as s:
            rows = (await s.execute(select(Broadcast, InfoArticle.title).outerjoin(
                InfoArticle, InfoArticle.id == Broadcast.article_id)
                .order_by(Broadcast.id.desc()))).all()
        out = []
        for b, title in rows:
            text = title or b.text
            out.append({"id": b.id, "status": b.status, "isi": text[:60],
                        "sasaran": bc.Audience.from_json(b.audience).describe(),
                        "penerima": b.total, "antre": b.queued, "dilewati": b.skipped,
                        "dibuat": b.created_at, "oleh": b.created_by})
        return out

    emit(run(go), ["id", "status", "isi", "sasaran", "penerima", "antre", "dilewati",
                   "dibuat", "oleh"], as_json=as_json, title="Siaran",
         empty="Belum ada siaran.")
