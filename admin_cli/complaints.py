"""`sijakon-admin complaints`: Pasal 9 — verify, ask the tukang for a statement, decide, and
decide a removed tukang's keberatan (objection).

Deadlines are working days that know Indonesian holidays and cuti bersama, with the Dinas's
own days from SIJAKON_HOLIDAYS_FILE (the one rule: `flows.deadlines`): a new complaint is
verified (statement requested or decided) within 3 working days; the tukang's statement is due
N working days after the request (default 5); after the statement the Dinas decides within 5
working days. `list` and `overdue` put the late ones first. A complaint can be upheld only once
a statement was requested and either received or its deadline passed: the tukang must have
had the chance to answer. Upholding removes the tukang: pending offers are withdrawn, taken
jobs go back to their warga, and the tukang may object once (`objections`, `objection`).
Human output is Indonesian; `--json` keeps the stable English status codes.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from admin_cli.common import (
    AsOpt,
    JsonOpt,
    Refused,
    RevealOpt,
    YesOpt,
    audit,
    audit_view,
    confirm,
    emit,
    emit_json,
    emit_record,
    now,
    operator,
    phone,
    reader,
    run,
    say,
    send,
    settings,
)
from admin_cli.lookup import (
    COMPLAINT_STATUS,
    OBJECTION_STATUS,
    TUKANG_STATUS,
    category_names,
    export_files,
    file_size,
    find_complaint,
    kecamatan_names,
    size_text,
    word,
)
from admin_cli.offers import withdraw_offers
from bot.settings import Settings
from flows.complaints import objection_window, statement_button
from flows.context import FlowConfig
from flows.deadlines import (
    NEXT_LABELS,
    OPEN,
    STATEMENT_WORKING_DAYS,
    Calendar,
    calendar,
    complaint_next,
)
from flows.outbox import Outgoing
from flows.render import render
from flows.tukang_profile import take_back_jobs
from flows.types import Choice
from storage.clock import as_utc, local
from storage.db import Database
from storage.models import Complaint, Job, Objection, Outbox, TukangProfile, User

app = typer.Typer(help="Pengaduan (Pasal 9): verifikasi, pernyataan tukang, keputusan, "
                       "keberatan.", no_args_is_help=True)

DECIDED = ("upheld", "dismissed")
IdArg = Annotated[str, typer.Argument(help="Kode pengaduan (P-2611-0001) atau ID-nya.")]


class Outcome(StrEnum):
    upheld = "upheld"
    dismissed = "dismissed"


class Verdict(StrEnum):
    reinstate = "reinstate"
    keep = "keep"


def cal() -> Calendar:
    """The working-day calendar of this installation (SIJAKON_HOLIDAYS_FILE)."""
    return calendar(settings().sijakon_holidays_file)


def deadline(c: Complaint, on: Calendar | None = None) -> tuple[str, datetime | None]:
    """(what is due next, in Indonesian, and when) for a complaint; ("", None) once decided.
    The rule is `flows.deadlines.complaint_next`, the one the bot's gauge uses too."""
    what, due = complaint_next(c.status, c.created_at, c.statement_requested_at,
                               c.statement_due_at, c.statement_at, on or cal())
    return NEXT_LABELS.get(what, what), due


def deadline_text(at: datetime) -> str:
    return local(as_utc(at)).strftime("%d-%m-%Y %H:%M") + " WIB"


def _wib(value: Any) -> Any:
    """A datetime as an officer in Batam reads it, with its zone; anything else as it is."""
    return deadline_text(value) if isinstance(value, datetime) else value


async def _rows(db: Database, *, status: str | None, everything: bool,
                on: Calendar) -> list[dict[str, Any]]:
    at = now()
    async with db.read() as s:
        stmt = (select(Complaint, Job.code, User.name)
                .join(Job, Job.id == Complaint.job_id)
                .join(User, User.id == Complaint.tukang_id))
        if status:
            stmt = stmt.where(Complaint.status == status)
        elif not everything:
            stmt = stmt.where(Complaint.status.in_(OPEN))
        rows = (await s.execute(stmt)).all()
    out = []
    for c, job_code, tukang_name in rows:
        what, due = deadline(c, on)
        overdue = due is not None and at > due
        soon = due is not None and not overdue and on.before(due, 1) <= at
        note = ""
        if overdue:
            note = ("batas pernyataan lewat, siap diputus" if what == "pernyataan tukang"
                    else f"TERLAMBAT ({what})")
        elif soon:
            note = f"jatuh tempo dalam 1 hari kerja ({what})"
        out.append({"id": c.id, "kode": c.code, "status": c.status, "pekerjaan": job_code,
                    "tukang": tukang_name, "tukang_id": c.tukang_id,
                    "umur_hari": (at - as_utc(c.created_at)).days,
                    "berikutnya": what, "batas": due, "terlambat": overdue,
                    "segera": soon, "catatan": note, "dibuat": c.created_at})
    out.sort(key=lambda r: (not r["terlambat"], not r["segera"], r["dibuat"]))
    return out


def _human(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**r, "status": word(COMPLAINT_STATUS, r["status"]), "batas": _wib(r["batas"]),
             "dibuat": _wib(r["dibuat"])} for r in rows]


COLUMNS = ["kode", "status", "pekerjaan", "tukang", "umur_hari", "berikutnya", "batas",
           "catatan"]


@app.command("list")
def list_(
    status: Annotated[str | None, typer.Option(help="Saring status (submitted, "
                                               "awaiting_statement, under_review, upheld, "
                                               "dismissed).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Termasuk yang sudah diputus.")] = False,
    as_: AsOpt = None, json_: JsonOpt = False,
) -> None:
    """Pengaduan: yang terlambat di atas, lalu yang segera jatuh tempo, lalu yang terlama."""
    on = cal()

    async def go(db: Database) -> tuple[list[dict[str, Any]], int]:
        out = await _rows(db, status=status, everything=all_, on=on)
        if out:
            await audit_view(db, reader(as_), "complaints.list",
                             complaint_ids=[r["id"] for r in out])
        async with db.read() as s:
            waiting = len((await s.execute(select(Objection.id).where(
                Objection.status == "submitted"))).all())
        return out, waiting

    rows, waiting = run(go)
    emit(rows if json_ else _human(rows), COLUMNS, as_json=json_, title="Pengaduan",
         empty="Tidak ada pengaduan yang perlu ditangani.")
    if waiting and not json_:
        say(f"{waiting} keberatan tukang menunggu keputusan: sijakon-admin complaints "
            "objections")


@app.command("overdue")
def overdue(as_: AsOpt = None, json_: JsonOpt = False) -> None:
    """Pengaduan yang batasnya sudah lewat atau jatuh tempo dalam 1 hari kerja."""
    on = cal()

    async def go(db: Database) -> list[dict[str, Any]]:
        out = [r for r in await _rows(db, status=None, everything=False, on=on)
               if r["terlambat"] or r["segera"]]
        if out:
            await audit_view(db, reader(as_), "complaints.overdue",
                             complaint_ids=[r["id"] for r in out])
        return out

    rows = run(go)
    emit(rows if json_ else _human(rows), COLUMNS, as_json=json_,
         title="Pengaduan terlambat atau segera jatuh tempo",
         empty="Tidak ada pengaduan yang terlambat atau jatuh tempo dalam 1 hari kerja.")


def _files(paths: list[str]) -> list[dict[str, Any]]:
    return [{"file": p, "ukuran": file_size(p)} for p in paths]


@app.command("show")
def show(ref: IdArg, as_: AsOpt = None, json_: JsonOpt = False,
         reveal: RevealOpt = False) -> None:
    """Satu pengaduan: pekerjaan, kedua pihak, isi, bukti (dengan ukuran), pernyataan tukang,
    keputusan, keberatan. File bukti disalin dengan `complaints evidence`."""
    on = cal()

    async def go(db: Database) -> dict[str, Any]:
        async with db.read() as s:
            c = await find_complaint(s, ref)
            job = await s.get(Job, c.job_id)
            warga = await s.get(User, c.warga_id)
            tukang = await s.get(User, c.tukang_id)
            kec, cats = await kecamatan_names(s), await category_names(s)
            profile = (await s.execute(select(TukangProfile).where(
                TukangProfile.user_id == c.tukang_id))).scalar_one_or_none()
            objections = (await s.execute(select(Objection).where(
                Objection.complaint_id == c.id).order_by(Objection.id))).scalars().all()
        assert job is not None and warga is not None and tukang is not None
        what, due = deadline(c, on)
        rec = {
            "id": c.id, "kode": c.code, "status": c.status, "dibuat": c.created_at,
            "pekerjaan": job.code, "kategori": cats.get(job.category_id, ""),
            "kecamatan": kec.get(job.kecamatan_code, job.kecamatan_code),
            "status_pekerjaan": job.status, "uraian_pekerjaan": job.description,
            "warga": f"#{warga.id} {warga.name} {phone(warga.phone, reveal)}",
            "tukang": f"#{tukang.id} {tukang.name} {phone(tukang.phone, reveal)}"
                      + (f" ({profile.status})" if profile else ""),
            "isi_pengaduan": c.text, "bukti": list(c.evidence or []),
            "bukti_file": _files(list(c.evidence or [])),
            "pernyataan_diminta": c.statement_requested_at, "batas_pernyataan": c.statement_due_at,
            "pengingat_terkirim": c.statement_reminders,
            "pernyataan": c.statement, "pernyataan_pada": c.statement_at,
            "lampiran_pernyataan": list(c.statement_media or []),
            "lampiran_file": _files(list(c.statement_media or [])),
            "berikutnya": what, "batas": due,
            "keputusan": c.decision_note, "diputus_oleh": c.decided_by,
            "diputus_pada": c.decided_at,
            "keberatan": [{"kode": o.code, "status": o.status, "isi": o.text}
                          for o in objections],
        }
        await audit_view(db, reader(as_), "complaints.show", "complaint", c.id, reveal=reveal)
        return rec

    rec = run(go)
    if json_:
        emit_json(rec)
        return
    status = rec.pop("status")
    human = {k: _wib(v) for k, v in rec.items()}
    human["status"] = word(COMPLAINT_STATUS, status)
    human["status_pekerjaan"] = render(f"job.status_{rec['status_pekerjaan']}")
    human["bukti"] = [f"{f['file']} ({size_text(f['ukuran'])})" for f in rec["bukti_file"]]
    human["lampiran_pernyataan"] = [f"{f['file']} ({size_text(f['ukuran'])})"
                                    for f in rec["lampiran_file"]]
    for key in ("tukang",):
        for code, label in TUKANG_STATUS.items():
            human[key] = human[key].replace(f"({code})", f"({label})")
    human["keberatan"] = [f"{o['kode']} ({word(OBJECTION_STATUS, o['status'])})"
                          for o in rec["keberatan"]]
    del human["bukti_file"], human["lampiran_file"]
    order = ["id", "kode", "status"] + [k for k in human if k not in ("id", "kode", "status")]
    emit_record({k: human[k] for k in order}, title=f"Pengaduan {rec['kode']}")


@app.command("evidence")
def evidence(
    ref: IdArg,
    out: Annotated[Path, typer.Option("--out", help="Folder tujuan salinan file.")],
    as_: AsOpt = None, json_: JsonOpt = False,
) -> None:
    """Salin file bukti pengaduan dan lampiran pernyataan tukang ke folder --out (dicatat di
    audit)."""

    async def go(db: Database) -> tuple[str, list[dict[str, Any]]]:
        async with db.read() as s:
            c = await find_complaint(s, ref)
        rows = [{"jenis": "bukti", **r} for r in
                export_files(list(c.evidence or []), out, f"{c.code}-bukti")]
        rows += [{"jenis": "pernyataan", **r} for r in
                 export_files(list(c.statement_media or []), out, f"{c.code}-pernyataan")]
        await audit_view(db, reader(as_), "complaints.evidence", "complaint", c.id,
                         out=str(out), files=len([r for r in rows if r["salinan"]]))
        return c.code, rows

    code, rows = run(go)
    if json_:
        emit_json(rows)
        return
    emit([{**r, "ukuran": size_text(r["ukuran"])} for r in rows],
         ["jenis", "salinan", "ukuran", "file"], as_json=False,
         title=f"File pengaduan {code}", empty=f"Pengaduan {code} tidak punya file.")


@app.command("request-statement")
def request_statement(
    ref: IdArg,
    days: Annotated[int, typer.Option("--days", min=1, max=40,
                                      help="Batas waktu pernyataan (hari kerja).")]
    = STATEMENT_WORKING_DAYS,
    as_: AsOpt = None, yes: YesOpt = False,
) -> None:
    """Minta pernyataan tukang (Pasal 9), dengan bukti terlampir; tukang dan warga diberi
    tahu. Tukang diingatkan 2 dan 1 hari kerja sebelum batas."""
    who = operator(as_)
    on = cal()
    confirm(f"Minta pernyataan tukang untuk pengaduan {ref} (batas {days} hari kerja) "
            "dan kirim pemberitahuan?", yes)

    async def go(db: Database) -> tuple[Complaint, datetime]:
        at = now()
        due = on.add(at, days)
        async with db.transaction() as s:
            c = await find_complaint(s, ref)
            if c.status != "submitted":
                raise Refused(f"pengaduan {c.code} berstatus {c.status}; pernyataan hanya "
                              "diminta untuk pengaduan baru (submitted)")
            res = await s.execute(update(Complaint).where(
                Complaint.id == c.id, Complaint.status == "submitted").values(
                status="awaiting_statement", statement_requested_at=at, statement_due_at=due,
                statement_reminders=0))
            if res.rowcount != 1:  # pragma: no cover - another officer was faster
                raise Refused(f"pengaduan {c.code} baru saja ditangani petugas lain")
            job = await s.get(Job, c.job_id)
            assert job is not None
            audit(s, who, "complaint.request_statement", "complaint", c.id, code=c.code,
                  tukang_id=c.tukang_id, warga_id=c.warga_id, due=due.isoformat(),
                  working_days=days,
                  skipped=[d.isoformat() for d, _ in on.skipped(at, due)])
            out = Outgoing()
            files = list(c.evidence or [])
            await out.notify(s, c.tukang_id, "admin.statement_requested",
                             actions=statement_button(c.id or 0), media=files,
                             complaint_code=c.code, job_code=job.code, text=c.text,
                             deadline=deadline_text(due), files=len(files))
            await out.notify(s, c.warga_id, "admin.statement_requested_warga",
                             complaint_code=c.code, job_code=job.code,
                             deadline=deadline_text(due))
            await send(s, out)
        return c, due

    c, due = run(go)
    skipped = on.skipped(now(), due)
    tail = (" (hari libur dilewati: " + ", ".join(f"{d:%d-%m} {n}" for d, n in skipped) + ")"
            if skipped else "")
    say(f"Pernyataan diminta untuk {c.code}; batas {deadline_text(due)}{tail}. "
        "Tukang dan warga diberi tahu.")


DELIVERED = ("sent", "delivered", "read")


async def request_delivery(s: AsyncSession, c: Complaint) -> str:
    """The delivery status of the newest statement request sent to the tukang."""
    since = c.statement_requested_at
    stmt = (select(Outbox.status).where(Outbox.user_id == c.tukang_id,
                                        Outbox.key == "admin.statement_requested")
            .order_by(Outbox.id.desc()).limit(1))
    if since is not None:
        stmt = stmt.where(Outbox.created_at >= since)
    return (await s.execute(stmt)).scalar_one_or_none() or "tidak ada"


async def stop_tukang(s: AsyncSession, out: Outgoing, who: str, tukang_id: int,
                      at: datetime) -> tuple[int, list[str]]:
    """What a suspension or removal does beside the status: pending offers withdrawn, taken
    jobs back to their warga (both audited). Returns (offers withdrawn, jobs taken back)."""
    withdrawn = await withdraw_offers(s, out, tukang_id)
    if withdrawn:
        audit(s, who, "offer.withdraw", "user", tukang_id, offers=withdrawn)
    taken = await take_back_jobs(s, out, tukang_id, at)
    if taken:
        audit(s, who, "job.take_back", "user", tukang_id, jobs=taken)
    return withdrawn, taken


@app.command("decide")
def decide(
    ref: IdArg,
    outcome: Annotated[Outcome, typer.Argument(help="upheld (terbukti) atau dismissed.")],
    note: Annotated[str | None, typer.Option("--note", help="Catatan keputusan (dikirim ke "
                                                            "kedua pihak).")] = None,
    reached_otherwise: Annotated[str | None, typer.Option(
        "--reached-otherwise",
        help="Jika permintaan pernyataan tidak terkirim lewat bot: bagaimana tukang "
             "dihubungi (dicatat di audit).")] = None,
    as_: AsOpt = None, yes: YesOpt = False,
) -> None:
    """Putuskan pengaduan; terbukti = tukang dikeluarkan (Pasal 9): tawaran ditarik, pekerjaan
    yang sudah diterima dikembalikan ke warga. Kedua pihak diberi tahu."""
    text = (note or "").strip()
    if not text:
        raise typer.BadParameter("catatan keputusan wajib diisi", param_hint="--note")
    who = operator(as_)
    config = settings()
    effect = " — tukang akan DIKELUARKAN" if outcome is Outcome.upheld else ""
    word_ = "terbukti" if outcome is Outcome.upheld else "tidak terbukti"
    confirm(f"Putuskan pengaduan {ref}: {word_}{effect}, dan kirim pemberitahuan?", yes)

    async def go(db: Database) -> tuple[Complaint, bool, list[str]]:
        at = now()
        async with db.transaction() as s:
            c = await find_complaint(s, ref)
            if c.status in DECIDED:
                raise Refused(f"pengaduan {c.code} sudah diputus "
                              f"({word(COMPLAINT_STATUS, c.status)})")
            if outcome is Outcome.upheld:
                if c.statement_requested_at is None:
                    raise Refused(f"pengaduan {c.code} belum bisa dinyatakan terbukti: minta "
                                  "dulu pernyataan tukang (complaints request-statement)")
                due = as_utc(c.statement_due_at) if c.statement_due_at else None
                if c.statement_at is None and (due is None or at < due):
                    raise Refused(f"pengaduan {c.code} belum bisa dinyatakan terbukti: "
                                  "pernyataan tukang belum masuk dan batasnya belum lewat "
                                  f"({deadline_text(due) if due else '-'})")
                if c.statement_at is None and not (reached_otherwise or "").strip():
                    # Pasal 9: the tukang must have been heard, so the request must have
                    # reached them (a WhatsApp message can wait for a closed 24-hour window)
                    state = await request_delivery(s, c)
                    if state not in DELIVERED:
                        raise Refused(
                            f"pengaduan {c.code} belum bisa dinyatakan terbukti: permintaan "
                            f"pernyataan belum sampai ke tukang (status pesan: {state}). "
                            "Hubungi tukang lewat jalur lain, lalu ulangi dengan "
                            "--reached-otherwise \"cara menghubungi\"")
            was = c.status  # read before the update: the session syncs `c` with it
            res = await s.execute(update(Complaint).where(
                Complaint.id == c.id, Complaint.status.in_(OPEN)).values(
                status=outcome.value, decision_note=text, decided_by=who, decided_at=at))
            if res.rowcount != 1:  # pragma: no cover - another officer was faster
                raise Refused(f"pengaduan {c.code} baru saja diputus petugas lain")
            job = await s.get(Job, c.job_id)
            assert job is not None
            audit(s, who, "complaint.decide", "complaint", c.id, code=c.code,
                  outcome=outcome.value, before=was, after=outcome.value, note=text,
                  tukang_id=c.tukang_id,
                  reached_otherwise=(reached_otherwise or "").strip() or None)
            removed, taken = False, []
            out = Outgoing()
            if outcome is Outcome.upheld:
                profile = (await s.execute(select(TukangProfile).where(
                    TukangProfile.user_id == c.tukang_id))).scalar_one_or_none()
                if profile is not None and profile.status in ("pending", "active", "suspended"):
                    before = profile.status
                    profile.status = "removed"
                    profile.available = False
                    profile.decided_by = who
                    profile.decided_at = at
                    profile.decision_reason = f"Pengaduan {c.code} terbukti (Pasal 9): {text}"
                    removed = True
                    audit(s, who, "tukang.remove", "user", c.tukang_id, before=before,
                          after="removed", complaint_code=c.code, complaint_id=c.id,
                          reason=text)
                    await s.flush()
                    _, taken = await stop_tukang(s, out, who, c.tukang_id, at)
            upheld = outcome is Outcome.upheld
            until = ""
            if removed:
                win = await objection_window(s, c.tukang_id, at, _flow_config(config))
                until = deadline_text(win.until) if win.until else ""
            await out.notify(s, c.warga_id, "admin.complaint_decided_warga",
                             complaint_code=c.code, job_code=job.code, upheld=upheld, note=text)
            await out.notify(s, c.tukang_id, "admin.complaint_decided_tukang",
                             actions=[Choice("complaint.objection:0",
                                             "complaint.choice_objection")] if until else None,
                             complaint_code=c.code, job_code=job.code, upheld=upheld, note=text,
                             object_until=until)
            await send(s, out)
        return c, removed, taken

    c, removed, taken = run(go)
    tail = f" Tukang #{c.tukang_id} dikeluarkan dari daftar." if removed else ""
    if taken:
        tail += f" Pekerjaan dikembalikan ke warga: {', '.join(taken)}."
    say(f"Pengaduan {c.code} diputus: {word_}.{tail} Warga dan tukang diberi tahu.")


def _flow_config(config: Settings) -> FlowConfig:
    """The flows' view of the settings the objection period and the notices need."""
    return FlowConfig(holidays_file=config.sijakon_holidays_file,
                      objection_days=config.sijakon_objection_days,
                      dinas_address=config.sijakon_dinas_address,
                      dinas_phone=config.sijakon_dinas_phone,
                      dinas_hours=config.sijakon_dinas_hours)


# --- keberatan (objections of removed tukang) ------------------------------------------------


@app.command("objections")
def objections(
    all_: Annotated[bool, typer.Option("--all", help="Termasuk yang sudah diputus.")] = False,
    as_: AsOpt = None, json_: JsonOpt = False,
) -> None:
    """Keberatan tukang yang dikeluarkan: isi, lampiran (dengan ukuran), pengaduannya."""

    async def go(db: Database) -> list[dict[str, Any]]:
        async with db.read() as s:
            stmt = (select(Objection, User.name).join(User, User.id == Objection.tukang_id)
                    .order_by(Objection.id))
            if not all_:
                stmt = stmt.where(Objection.status == "submitted")
            rows = (await s.execute(stmt)).all()
            codes = {c.id: c.code for c in (await s.execute(select(Complaint).where(
                Complaint.id.in_([o.complaint_id for o, _ in rows if o.complaint_id])))
            ).scalars()}
        out = [{"id": o.id, "kode": o.code, "status": o.status, "tukang_id": o.tukang_id,
                "tukang": name, "pengaduan": codes.get(o.complaint_id or 0, ""),
                "isi": o.text, "lampiran": _files(list(o.media or [])),
                "dikeluarkan": o.removed_at, "diajukan": o.created_at,
                "keputusan": o.decision_note, "diputus_oleh": o.decided_by,
                "diputus_pada": o.decided_at} for o, name in rows]
        if out:
            await audit_view(db, reader(as_), "complaints.objections",
                             objection_ids=[r["id"] for r in out])
        return out

    rows = run(go)
    if json_:
        emit_json(rows)
        return
    human = [{**r, "status": word(OBJECTION_STATUS, r["status"]),
              "diajukan": _wib(r["diajukan"]),
              "lampiran": [f"{f['file']} ({size_text(f['ukuran'])})" for f in r["lampiran"]]}
             for r in rows]
    emit(human, ["kode", "status", "tukang_id", "tukang", "pengaduan", "diajukan", "isi",
                 "lampiran"], as_json=False, title="Keberatan tukang",
         empty="Tidak ada keberatan yang menunggu keputusan.")


@app.command("objection")
def objection(
    code: Annotated[str, typer.Argument(help="Kode keberatan (K-2612-0001) atau ID-nya.")],
    verdict: Annotated[Verdict, typer.Argument(
        help="reinstate (keberatan diterima: tukang aktif kembali) atau keep (ditolak).")],
    note: Annotated[str | None, typer.Option("--note", help="Catatan keputusan (dikirim ke "
                                                            "tukang dan warga).")] = None,
    as_: AsOpt = None, yes: YesOpt = False,
) -> None:
    """Putuskan keberatan tukang yang dikeluarkan; tukang dan warga pengadu diberi tahu."""
    text = (note or "").strip()
    if not text:
        raise typer.BadParameter("catatan keputusan wajib diisi", param_hint="--note")
    who = operator(as_)
    reinstate = verdict is Verdict.reinstate
    confirm(f"Putuskan keberatan {code}: "
            f"{'diterima, tukang AKTIF KEMBALI' if reinstate else 'ditolak'}, "
            "dan kirim pemberitahuan?", yes)

    async def go(db: Database) -> Objection:
        at = now()
        async with db.transaction() as s:
            raw = code.strip()
            stmt = select(Objection).where(Objection.code == raw.upper())
            if raw.isdigit():
                stmt = select(Objection).where(Objection.id == int(raw))
            o = (await s.execute(stmt)).scalar_one_or_none()
            if o is None:
                raise Refused(f"tidak ada keberatan {raw!r}")
            if o.status != "submitted":
                raise Refused(f"keberatan {o.code} sudah diputus "
                              f"({word(OBJECTION_STATUS, o.status)})")
            after = "reinstated" if reinstate else "kept"
            res = await s.execute(update(Objection).where(
                Objection.id == o.id, Objection.status == "submitted").values(
                status=after, decision_note=text, decided_by=who, decided_at=at))
            if res.rowcount != 1:  # pragma: no cover - another officer was faster
                raise Refused(f"keberatan {o.code} baru saja diputus petugas lain")
            audit(s, who, "objection.decide", "objection", o.id, code=o.code,
                  before="submitted", after=after, note=text, tukang_id=o.tukang_id)
            if reinstate:
                p = (await s.execute(select(TukangProfile).where(
                    TukangProfile.user_id == o.tukang_id))).scalar_one()
                before = p.status
                done = await s.execute(update(TukangProfile).where(
                    TukangProfile.id == p.id, TukangProfile.status == "removed").values(
                    status="active", available=True, decided_by=who, decided_at=at,
                    decision_reason=f"Keberatan {o.code} diterima: {text}"))
                if done.rowcount == 1:
                    audit(s, who, "tukang.reinstate", "user", o.tukang_id, before=before,
                          after="active", objection_code=o.code, reason=text)
            out = Outgoing()
            await out.notify(s, o.tukang_id, "admin.objection_decided_tukang", code=o.code,
                             reinstated=reinstate, note=text)
            c = await s.get(Complaint, o.complaint_id) if o.complaint_id else None
            tukang = await s.get(User, o.tukang_id)
            if c is not None:
                await out.notify(s, c.warga_id, "admin.objection_decided_warga",
                                 complaint_code=c.code, name=tukang.name if tukang else "-",
                                 reinstated=reinstate, note=text)
            await send(s, out)
        return o

    o = run(go)
    what = ("diterima; tukang aktif kembali" if reinstate
            else "ditolak; tukang tetap dikeluarkan")
    say(f"Keberatan {o.code} {what}. Tukang dan warga pengadu diberi tahu.")
