"""`sijakon-admin complaints`: Pasal 9 — verify, ask the tukang for a statement, decide.

Deadlines: a new complaint is verified (statement requested or decided) within 3 working
days (SP4N-LAPOR practice); the tukang's statement is due N days after the request (default
7); after the statement the Dinas follows up within 5 working days. `list` puts overdue first.
A complaint can be upheld only once a statement was requested and either received or its
deadline passed: the tukang must have had the chance to answer.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
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
    add_working_days,
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
)
from admin_cli.lookup import category_names, find_complaint, kecamatan_names
from admin_cli.offers import withdraw_offers
from flows.outbox import Outgoing
from flows.types import Choice
from storage.clock import as_utc, local
from storage.db import Database
from storage.models import Complaint, Job, Outbox, TukangProfile, User

app = typer.Typer(help="Pengaduan (Pasal 9): verifikasi, pernyataan tukang, keputusan.",
                  no_args_is_help=True)

OPEN = ("submitted", "awaiting_statement", "under_review")
DECIDED = ("upheld", "dismissed")
VERIFY_WORKING_DAYS = 3
FOLLOW_UP_WORKING_DAYS = 5
IdArg = Annotated[str, typer.Argument(help="Kode pengaduan (P-2611-0001) atau ID-nya.")]


class Outcome(StrEnum):
    upheld = "upheld"
    dismissed = "dismissed"


def deadline(c: Complaint) -> tuple[str, datetime | None]:
    """(what is due next, when) for a complaint; no deadline once decided."""
    if c.status == "submitted":
        return "verifikasi", add_working_days(as_utc(c.created_at), VERIFY_WORKING_DAYS)
    if c.status == "awaiting_statement" and c.statement_at is None and c.statement_due_at:
        return "pernyataan tukang", as_utc(c.statement_due_at)
    if c.status in ("under_review", "awaiting_statement"):
        base = c.statement_at or c.statement_due_at or c.statement_requested_at or c.created_at
        return "keputusan", add_working_days(as_utc(base), FOLLOW_UP_WORKING_DAYS)
    return "", None


def deadline_text(at: datetime) -> str:
    return local(at).strftime("%d-%m-%Y %H:%M") + " WIB"


@app.command("list")
def list_(
    status: Annotated[str | None, typer.Option(help="Saring status (submitted, "
                                               "awaiting_statement, under_review, upheld, "
                                               "dismissed).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Termasuk yang sudah diputus.")] = False,
    as_: AsOpt = None, json_: JsonOpt = False,
) -> None:
    """Pengaduan: yang terlambat di atas, lalu yang terlama."""
    at = now()

    async def go(db: Database) -> list[dict[str, Any]]:
        async with db.read() as s:
            stmt = (select(Complaint, Job.code, User.name)
                    .join(Job, Job.id == Complaint.job_id)
                    .join(User, User.id == Complaint.tukang_id))
            if status:
                stmt = stmt.where(Complaint.status == status)
            elif not all_:
                stmt = stmt.where(Complaint.status.in_(OPEN))
            rows = (await s.execute(stmt)).all()
        out = []
        for c, job_code, tukang_name in rows:
            what, due = deadline(c)
            overdue = due is not None and at > due
            note = ""
            if overdue:
                note = ("batas pernyataan lewat, siap diputus" if what == "pernyataan tukang"
                        else f"TERLAMBAT ({what})")
            out.append({"id": c.id, "kode": c.code, "status": c.status, "pekerjaan": job_code,
                        "tukang": tukang_name, "tukang_id": c.tukang_id,
                        "umur_hari": (at - as_utc(c.created_at)).days,
                        "berikutnya": what, "batas": due, "terlambat": overdue,
                        "catatan": note, "dibuat": c.created_at})
        out.sort(key=lambda r: (not r["terlambat"], r["dibuat"]))
        if out:
            await audit_view(db, reader(as_), "complaints.list",
                             complaint_ids=[r["id"] for r in out])
        return out

    emit(run(go), ["kode", "status", "pekerjaan", "tukang", "umur_hari", "berikutnya", "batas",
                   "catatan"], as_json=json_, title="Pengaduan",
         empty="Tidak ada pengaduan yang perlu ditangani.")


@app.command("show")
def show(ref: IdArg, as_: AsOpt = None, json_: JsonOpt = False,
         reveal: RevealOpt = False) -> None:
    """Satu pengaduan: pekerjaan, kedua pihak, isi, bukti, pernyataan tukang, keputusan."""

    async def go(db: Database) -> dict[str, Any]:
        async with db.read() as s:
            c = await find_complaint(s, ref)
            job = await s.get(Job, c.job_id)
            warga = await s.get(User, c.warga_id)
            tukang = await s.get(User, c.tukang_id)
            kec, cats = await kecamatan_names(s), await category_names(s)
            profile = (await s.execute(select(TukangProfile).where(
                TukangProfile.user_id == c.tukang_id))).scalar_one_or_none()
        assert job is not None and warga is not None and tukang is not None
        what, due = deadline(c)
        rec = {
            "id": c.id, "kode": c.code, "status": c.status, "dibuat": c.created_at,
            "pekerjaan": job.code, "kategori": cats.get(job.category_id, ""),
            "kecamatan": kec.get(job.kecamatan_code, job.kecamatan_code),
            "status_pekerjaan": job.status, "uraian_pekerjaan": job.description,
            "warga": f"#{warga.id} {warga.name} {phone(warga.phone, reveal)}",
            "tukang": f"#{tukang.id} {tukang.name} {phone(tukang.phone, reveal)}"
                      + (f" ({profile.status})" if profile else ""),
            "isi_pengaduan": c.text, "bukti": list(c.evidence or []),
            "pernyataan_diminta": c.statement_requested_at, "batas_pernyataan": c.statement_due_at,
            "pernyataan": c.statement, "pernyataan_pada": c.statement_at,
            "lampiran_pernyataan": list(c.statement_media or []),
            "berikutnya": what, "batas": due,
            "keputusan": c.decision_note, "diputus_oleh": c.decided_by,
            "diputus_pada": c.decided_at,
        }
        await audit_view(db, reader(as_), "complaints.show", "complaint", c.id, reveal=reveal)
        return rec

    rec = run(go)
    if json_:
        emit_json(rec)
    else:
        emit_record(rec, title=f"Pengaduan {rec['kode']}")


@app.command("request-statement")
def request_statement(
    ref: IdArg,
    days: Annotated[int, typer.Option("--days", min=1, max=60,
                                      help="Batas waktu pernyataan (hari).")] = 7,
    as_: AsOpt = None, yes: YesOpt = False,
) -> None:
    """Minta pernyataan tukang (Pasal 9); tukang dan warga diberi tahu."""
    who = operator(as_)
    confirm(f"Minta pernyataan tukang untuk pengaduan {ref} (batas {days} hari) "
            "dan kirim pemberitahuan?", yes)

    async def go(db: Database) -> tuple[Complaint, datetime]:
        at = now()
        due = at + timedelta(days=days)
        async with db.transaction() as s:
            c = await find_complaint(s, ref)
            if c.status != "submitted":
                raise Refused(f"pengaduan {c.code} berstatus {c.status}; pernyataan hanya "
                              "diminta untuk pengaduan baru (submitted)")
            res = await s.execute(update(Complaint).where(
                Complaint.id == c.id, Complaint.status == "submitted").values(
                status="awaiting_statement", statement_requested_at=at, statement_due_at=due))
            if res.rowcount != 1:  # pragma: no cover - another officer was faster
                raise Refused(f"pengaduan {c.code} baru saja ditangani petugas lain")
            job = await s.get(Job, c.job_id)
            assert job is not None
            audit(s, who, "complaint.request_statement", "complaint", c.id, code=c.code,
                  tukang_id=c.tukang_id, warga_id=c.warga_id, due=due.isoformat(), days=days)
            out = Outgoing()
            await out.notify(s, c.tukang_id, "admin.statement_requested",
                             actions=[Choice(f"complaint.statement:{c.id}",
                                             "choice.give_statement")],
                             complaint_code=c.code, job_code=job.code, text=c.text,
                             deadline=deadline_text(due))
            await out.notify(s, c.warga_id, "admin.statement_requested_warga",
                             complaint_code=c.code, job_code=job.code,
                             deadline=deadline_text(due))
            await send(s, out)
        return c, due

    c, due = run(go)
    say(f"Pernyataan diminta untuk {c.code}; batas {deadline_text(due)}. "
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
    """Putuskan pengaduan; terbukti = tukang dikeluarkan (Pasal 9). Kedua pihak diberi tahu."""
    text = (note or "").strip()
    if not text:
        raise typer.BadParameter("catatan keputusan wajib diisi", param_hint="--note")
    who = operator(as_)
    effect = " — tukang akan DIKELUARKAN" if outcome is Outcome.upheld else ""
    confirm(f"Putuskan pengaduan {ref}: {outcome.value}{effect}, dan kirim pemberitahuan?", yes)

    async def go(db: Database) -> tuple[Complaint, bool]:
        at = now()
        async with db.transaction() as s:
            c = await find_complaint(s, ref)
            if c.status in DECIDED:
                raise Refused(f"pengaduan {c.code} sudah diputus ({c.status})")
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
            res = await s.execute(update(Complaint).where(
                Complaint.id == c.id, Complaint.status.in_(OPEN)).values(
                status=outcome.value, decision_note=text, decided_by=who, decided_at=at))
            if res.rowcount != 1:  # pragma: no cover - another officer was faster
                raise Refused(f"pengaduan {c.code} baru saja diputus petugas lain")
            job = await s.get(Job, c.job_id)
            assert job is not None
            audit(s, who, "complaint.decide", "complaint", c.id, code=c.code,
                  outcome=outcome.value, note=text, tukang_id=c.tukang_id,
                  reached_otherwise=(reached_otherwise or "").strip() or None)
            removed = False
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
            out = Outgoing()
            if removed:
                withdrawn = await withdraw_offers(s, out, c.tukang_id)
                if withdrawn:
                    audit(s, who, "offer.withdraw", "user", c.tukang_id, offers=withdrawn)
            upheld = outcome is Outcome.upheld
            await out.notify(s, c.warga_id, "admin.complaint_decided_warga",
                             complaint_code=c.code, job_code=job.code, upheld=upheld, note=text)
            await out.notify(s, c.tukang_id, "admin.complaint_decided_tukang",
                             complaint_code=c.code, job_code=job.code, upheld=upheld, note=text)
            await send(s, out)
        return c, removed

    c, removed = run(go)
    tail = f" Tukang #{c.tukang_id} dikeluarkan dari daftar." if removed else ""
    say(f"Pengaduan {c.code} diputus: {outcome.value}.{tail} Warga dan tukang diberi tahu.")

