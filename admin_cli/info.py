"""`sijakon-admin info`: the construction information warga browse in the bot.

The body is Markdown written by the Dinas (from `--file` or stdin). An article is a draft
until `publish`; `unpublish` hides it again without losing it. `show` previews it as people
read it in the bot (Markdown rendered, no `**`; `--source` for the Markdown itself).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import select

from admin_cli.common import (
    AsOpt,
    JsonOpt,
    Refused,
    audit,
    console,
    emit,
    emit_json,
    emit_record,
    now,
    operator,
    run,
    say,
)
from flows.info import topic_title
from flows.render import markdown_html, render, to_plain
from storage.clock import local
from storage.db import Database
from storage.models import InfoArticle

app = typer.Typer(help="Informasi konstruksi untuk warga: tulis, ubah, terbitkan.",
                  no_args_is_help=True)

LONG_BODY = 3000  # a chat screen; longer bodies are split by the channel, which reads badly
IdArg = Annotated[int, typer.Argument(help="ID artikel (lihat `info list`).")]
FileOpt = Annotated[str | None, typer.Option("--file", help="File Markdown isi artikel "
                                                            "('-' = stdin).")]


def read_body(file: str | None, *, required: bool) -> str | None:
    """The body from a file, or stdin when `file` is '-' (or missing and stdin is a pipe)."""
    if file and file != "-":
        path = Path(file)
        if not path.is_file():
            raise typer.BadParameter(f"file {file!r} tidak ditemukan", param_hint="--file")
        text = path.read_text(encoding="utf-8")
    elif file == "-" or (required and not sys.stdin.isatty()):
        text = sys.stdin.read()
    else:
        if required:
            raise typer.BadParameter("isi artikel: berikan --file FILE.md atau kirim lewat stdin",
                                     param_hint="--file")
        return None
    text = text.strip()
    if not text:
        raise typer.BadParameter("isi artikel kosong", param_hint="--file")
    if len(text) > LONG_BODY:
        say(f"Perhatian: isi {len(text)} karakter; di layar HP sebaiknya di bawah {LONG_BODY}.")
    return text


def _clean(value: str, what: str, limit: int) -> str:
    text = " ".join(value.split())
    if not text:
        raise typer.BadParameter(f"{what} tidak boleh kosong")
    if len(text) > limit:
        raise typer.BadParameter(f"{what} paling panjang {limit} karakter")
    return text


def _row(a: InfoArticle) -> dict[str, Any]:
    return {"id": a.id, "judul": a.title, "topik": a.topic,
            "status": "terbit" if a.published else "draf", "terbit_pada": a.published_at,
            "penulis": a.created_by, "diubah": a.updated_at, "panjang": len(a.body)}


async def _get(s: Any, article_id: int) -> InfoArticle:
    a = await s.get(InfoArticle, article_id)
    if a is None:
        raise Refused(f"tidak ada artikel dengan ID {article_id}")
    return a


@app.command("add")
def add(
    title: Annotated[str, typer.Option("--title", help="Judul artikel.")],
    topic: Annotated[str, typer.Option("--topic", help="Topik, mis. perizinan, keselamatan.")],
    file: FileOpt = None, as_: AsOpt = None,
) -> None:
    """Tulis artikel baru (draf) dari file Markdown atau stdin."""
    who = operator(as_)
    title_ = _clean(title, "judul", 200)
    topic_ = _clean(topic, "topik", 60).casefold()
    body = read_body(file, required=True)
    assert body is not None

    async def go(db: Database) -> int:
        at = now()
        async with db.transaction() as s:
            a = InfoArticle(title=title_, topic=topic_, body=body, created_by=who,
                            created_at=at, updated_at=at)
            s.add(a)
            await s.flush()
            assert a.id is not None
            audit(s, who, "info.add", "info", a.id, title=title_, topic=topic_)
            return a.id

    article_id = run(go)
    say(f"Artikel #{article_id} disimpan sebagai draf. Terbitkan dengan: "
        f"sijakon-admin info publish {article_id}")


@app.command("edit")
def edit(
    article_id: IdArg,
    title: Annotated[str | None, typer.Option("--title")] = None,
    topic: Annotated[str | None, typer.Option("--topic")] = None,
    file: FileOpt = None, as_: AsOpt = None,
) -> None:
    """Ubah judul, topik atau isi (dari --file, '-' untuk stdin)."""
    who = operator(as_)
    title_ = _clean(title, "judul", 200) if title is not None else None
    topic_ = _clean(topic, "topik", 60).casefold() if topic is not None else None
    body = read_body(file, required=False)
    if title_ is None and topic_ is None and body is None:
        raise typer.BadParameter("tidak ada yang diubah: berikan --title, --topic atau --file")

    async def go(db: Database) -> None:
        async with db.transaction() as s:
            a = await _get(s, article_id)
            changed: list[str] = []
            if title_ is not None:
                a.title = title_
                changed.append("title")
            if topic_ is not None:
                a.topic = topic_
                changed.append("topic")
            if body is not None:
                a.body = body
                changed.append("body")
            a.updated_at = now()
            audit(s, who, "info.edit", "info", article_id, fields=changed)

    run(go)
    say(f"Artikel #{article_id} diperbarui.")


def _set_published(article_id: int, as_: str | None, published: bool) -> None:
    who = operator(as_)

    async def go(db: Database) -> InfoArticle:
        async with db.transaction() as s:
            a = await _get(s, article_id)
            if a.published == published:
                raise Refused(f"artikel #{article_id} sudah "
                              f"{'terbit' if published else 'tidak terbit'}")
            at = now()
            a.published = published
            a.published_at = at if published else None
            a.updated_at = at
            audit(s, who, "info.publish" if published else "info.unpublish", "info",
                  article_id, title=a.title)
            return a

    a = run(go)
    say(f"Artikel #{article_id} «{a.title}» "
        + ("diterbitkan: warga bisa membacanya di bot." if published
           else "ditarik: tidak tampil lagi di bot."))


@app.command("publish")
def publish(article_id: IdArg, as_: AsOpt = None) -> None:
    """Terbitkan artikel: tampil di menu informasi bot."""
    _set_published(article_id, as_, True)


@app.command("unpublish")
def unpublish(article_id: IdArg, as_: AsOpt = None) -> None:
    """Tarik artikel dari bot (tetap tersimpan sebagai draf)."""
    _set_published(article_id, as_, False)


@app.command("list")
def list_(
    topic: Annotated[str | None, typer.Option(help="Saring topik.")] = None,
    published: Annotated[bool | None, typer.Option("--published/--drafts",
                                                   help="Hanya yang terbit / hanya draf.")]
    = None,
    json_: JsonOpt = False,
) -> None:
    """Daftar artikel informasi."""

    async def go(db: Database) -> list[dict[str, Any]]:
        async with db.read() as s:
            stmt = select(InfoArticle).order_by(InfoArticle.topic, InfoArticle.id)
            if topic:
                stmt = stmt.where(InfoArticle.topic == topic.casefold())
            if published is not None:
                stmt = stmt.where(InfoArticle.published.is_(published))
            return [_row(a) for a in (await s.execute(stmt)).scalars()]

    emit(run(go), ["id", "judul", "topik", "status", "terbit_pada", "penulis", "diubah"],
         as_json=json_, title="Informasi konstruksi", empty="Belum ada artikel.")


def reader_view(a: InfoArticle, locale: str = "id") -> str:
    """The article as the bot's console shows it (flows/info.py): title, date, topic and the
    Markdown body rendered, so the officer checks what warga will read."""
    when = a.published_at or a.updated_at
    text = render("info.article", locale, title=a.title, date=local(when).strftime("%d-%m-%Y"),
                  part=1, parts=1, body=markdown_html(a.body))
    return f"[{topic_title(a.topic, locale)}]\n" + to_plain(text)


@app.command("show")
def show(article_id: IdArg, json_: JsonOpt = False,
         source: Annotated[bool, typer.Option("--source",
                                              help="Isi Markdown apa adanya, bukan "
                                                   "tampilannya di bot.")] = False) -> None:
    """Satu artikel: data dan isinya seperti dibaca warga di bot."""

    async def go(db: Database) -> tuple[dict[str, Any], str]:
        async with db.read() as s:
            a = await _get(s, article_id)
            return {**_row(a), "isi": a.body}, reader_view(a)

    rec, view = run(go)
    if json_:
        emit_json({**rec, "tampilan": view})
        return
    body = rec.pop("isi")
    emit_record(rec, title=f"Artikel #{article_id}")
    console.rule("Isi (Markdown)" if source else "Tampilan di bot")
    say(body if source else view)
