"""`sijakon-admin tukang`: the activation queue and every decision about a tukang.

A tukang is named by their user ID (the number `tukang pending` and `users find` show).
Every decision is a conditional update on the current status (two officers deciding at once:
the second is refused) and notifies the tukang through the outbox in the same transaction.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from admin_cli.common import (
    ALLOWED,
    Access,
    AsOpt,
    JsonOpt,
    Refused,
    RevealOpt,
    YesOpt,
    acting,
    audit,
    audit_view,
    confirm,
    console,
    day,
    emit,
    emit_json,
    emit_record,
    now,
    officer_exit,
    operator,
    phone,
    reader,
    run,
    say,
    send,
    settings,
    today_wib,
)
from admin_cli.complaints import _flow_config, deadline_text, stop_tukang
from admin_cli.lookup import (
    COMPLAINT_STATUS,
    OBJECTION_STATUS,
    TUKANG_STATUS,
    export_files,
    file_size,
    find_complaint,
    kecamatan_names,
    resolve_kecamatan,
    resolve_skill,
    size_text,
    skill_names,
    word,
)
from flows.complaints import objection_window
from flows.outbox import Outgoing
from flows.privacy import dinas_contact
from flows.types import Choice
from storage import skk
from storage.db import Database
from storage.models import ChannelAccount, Complaint, TukangProfile, User

app = typer.Typer(help="Tukang: antrean aktivasi dan keputusan Dinas.", no_args_is_help=True)

STATUSES = ("pending", "active", "rejected", "suspended", "removed", "erased")
IdArg = Annotated[int, typer.Argument(help="ID pengguna tukang (lihat `tukang pending`).")]


async def load(s: AsyncSession, user_id: int) -> tuple[User, TukangProfile]:
    row = (await s.execute(select(User, TukangProfile)
                           .join(TukangProfile, TukangProfile.user_id == User.id)
                           .where(User.id == user_id))).first()
    if row is None:
        raise Refused(f"tidak ada tukang dengan ID {user_id}")
    return row[0], row[1]


def _summary(u: User, p: TukangProfile, kec: dict[str, str], skills: dict[str, str],
             reveal: bool) -> dict[str, Any]:
    at = now()
    expired = p.skk_valid_until < today_wib()
    return {
        "id": u.id, "nama": u.name, "hp": phone(u.phone, reveal), "status": p.status,
        "skk": p.skk_number, "jenjang": p.jenjang, "berlaku_sd": p.skk_valid_until,
        "skk_kedaluwarsa": expired,
        "keahlian": list(p.skills or []),
        "nama_keahlian": [f"{c} {skills.get(c, '?')}" for c in p.skills or []],
        "wilayah": [kec.get(c, c) for c in p.areas or []],
        "diajukan": p.submitted_at, "menunggu_hari": (at - p.submitted_at).days,
    }


async def skk_check(s: AsyncSession, u: User, p: TukangProfile) -> dict[str, Any]:
    """The tukang's SKK number, name and expiry against the imported registry list
    (storage/skk.py): `cocok` only when all three match; never a decision by itself."""
    found = await skk.check(s, p.skk_number, u.name, p.skk_valid_until, today_wib())
    h = found.holder
    return {"cocok": found.ok, "masalah": [text for _, text in found.problems],
            "kode": [code for code, _ in found.problems],
            "daftar": None if h is None else {
                "nomor": h.number, "nama": h.name, "jabatan_kerja": h.jabatan,
                "jenjang": h.jenjang, "berlaku_sd": h.valid_until}}


def skk_text(check: dict[str, Any]) -> str:
    """The check as an officer reads it: "cocok dengan daftar SKK (...)" or a warning."""
    if check["cocok"]:
        d = check["daftar"]
        return (f"cocok dengan daftar SKK ({d['jabatan_kerja'] or '-'}, "
                f"jenjang {d['jenjang'] or '-'})")
    return "PERINGATAN: " + "; ".join(check["masalah"])


def skk_short(check: dict[str, Any]) -> str:
    """The check in a list's narrow column: "cocok" or "PERINGATAN: nama beda, ..."."""
    if check["cocok"]:
        return "cocok"
    if list(check["kode"]) == ["no_list"]:
        return "-"  # nothing imported yet: no warning about this tukang (`skk status` says so)
    return "PERINGATAN: " + ", ".join(skk.PROBLEMS.get(c, c) for c in check["kode"])


def human(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as an officer reads them: statuses in Indonesian, skills by name with their code,
    expired SKK marked. `--json` keeps the codes."""
    out = []
    for r in rows:
        h = {**r, "status": word(TUKANG_STATUS, r["status"]), "keahlian": r["nama_keahlian"]}
        if r["skk_kedaluwarsa"]:
            h["berlaku_sd"] = f"{day(r['berlaku_sd'])} (KEDALUWARSA)"
        if "cek_skk" in r:
            h["cek_skk"] = skk_short(r["cek_skk"])
        out.append(h)
    return out


@app.command("pending")
def pending(as_: AsOpt = None, json_: JsonOpt = False, reveal: RevealOpt = False) -> None:
    """Antrean aktivasi: tukang yang menunggu keputusan, yang terlama di atas."""

    async def go(db: Database) -> list[dict[str, Any]]:
        async with db.read() as s:
            kec, skills = await kecamatan_names(s), await skill_names(s)
            rows = (await s.execute(select(User, TukangProfile)
                                    .join(TukangProfile, TukangProfile.user_id == User.id)
                                    .where(TukangProfile.status == "pending")
                                    .order_by(TukangProfile.submitted_at, User.id))).all()
            out = [_summary(u, p, kec, skills, reveal) | {"cek_skk": await skk_check(s, u, p)}
                   for u, p in rows]
        if out:
            await audit_view(db, reader(as_), "tukang.pending", reveal=reveal,
                             user_ids=[r["id"] for r in out])
        return out

    rows = run(go)
    if not json_:
        rows = human(rows)
    emit(rows, ["id", "nama", "hp", "skk", "jenjang", "berlaku_sd", "cek_skk", "keahlian",
                "wilayah", "menunggu_hari"], as_json=json_, title="Antrean aktivasi tukang",
         empty="Tidak ada tukang yang menunggu aktivasi.")


@app.command("list")
def list_(
    status: Annotated[str | None, typer.Option(help="pending|active|rejected|suspended|removed")]
    = None,
    skill: Annotated[str | None, typer.Option(help="Kode atau nama keahlian (jabatan kerja).")]
    = None,
    kecamatan: Annotated[str | None, typer.Option(help="Kode atau nama kecamatan.")] = None,
    expiring_days: Annotated[int | None, typer.Option(
        "--expiring-days", min=0, help="SKK habis berlaku dalam N hari (termasuk yang sudah).")]
    = None,
    as_: AsOpt = None, json_: JsonOpt = False, reveal: RevealOpt = False,
) -> None:
    """Daftar tukang dengan saringan status, keahlian, kecamatan, masa berlaku SKK."""
    if status is not None and status not in STATUSES:
        raise typer.BadParameter(f"status harus salah satu dari {', '.join(STATUSES)}",
                                 param_hint="--status")

    async def go(db: Database) -> list[dict[str, Any]]:
        async with db.read() as s:
            kec, skills = await kecamatan_names(s), await skill_names(s)
            skill_code = await resolve_skill(s, skill) if skill else None
            kec_code = await resolve_kecamatan(s, kecamatan) if kecamatan else None
            stmt = (select(User, TukangProfile)
                    .join(TukangProfile, TukangProfile.user_id == User.id)
                    .order_by(User.id))
            if status:
                stmt = stmt.where(TukangProfile.status == status)
            if expiring_days is not None:
                stmt = stmt.where(TukangProfile.skk_valid_until
                                  <= today_wib() + timedelta(days=expiring_days))
            rows = (await s.execute(stmt)).all()
        out = []
        for u, p in rows:
            if skill_code and skill_code not in (p.skills or []):
                continue
            if kec_code and kec_code not in (p.areas or []):
                continue
            r = _summary(u, p, kec, skills, reveal)
            r["selesai"] = p.jobs_done
            r["rating"] = round(p.rating_sum / p.rating_count, 1) if p.rating_count else None
            out.append(r)
        if out:
            await audit_view(db, reader(as_), "tukang.list", reveal=reveal,
                             user_ids=[r["id"] for r in out])
        return out

    rows = run(go)
    emit(rows if json_ else human(rows), ["id", "nama", "hp", "status", "skk", "jenjang",
                                          "berlaku_sd", "keahlian", "wilayah", "selesai",
                                          "rating"], as_json=json_, title="Tukang",
         empty="Tidak ada tukang yang cocok.")


@app.command("show")
def show(user_id: IdArg, as_: AsOpt = None, json_: JsonOpt = False,
         reveal: RevealOpt = False,
         photos: Annotated[Path | None, typer.Option(
             "--photos", help="Salin foto/PDF SKK ke folder ini (dicatat di audit).")] = None,
         ) -> None:
    """Semua data seorang tukang, termasuk file foto SKK dengan ukurannya; --photos DIR
    menyalinnya untuk diperiksa (peran pdp atau admin)."""
    me = acting()
    if photos is not None and me.role is not None and \
            Access.PRIVACY not in ALLOWED.get(me.role, frozenset()):
        # a copy of the files leaves the audited tool: like --reveal, not for a viewer
        officer_exit(f"petugas {me.name!r} berperan {me.role}; menyalin file (--photos) "
                     "hanya untuk peran pdp atau admin")

    async def go(db: Database) -> dict[str, Any]:
        async with db.read() as s:
            u, p = await load(s, user_id)
            kec, skills = await kecamatan_names(s), await skill_names(s)
            accounts = (await s.execute(select(ChannelAccount)
                                        .where(ChannelAccount.user_id == user_id))).scalars()
            complaints = (await s.execute(select(Complaint.code, Complaint.status)
                                          .where(Complaint.tukang_id == user_id))).all()
            win = await objection_window(s, user_id, now(), _flow_config(settings()))
            rec = _summary(u, p, kec, skills, reveal)
            rec.update({
                "cek_skk": await skk_check(s, u, p),
                "keahlian": [f"{c} {skills.get(c, '?')}" for c in p.skills or []],
                "foto_skk": list(p.skk_media or []),
                "foto_skk_file": [{"file": f, "ukuran": file_size(f)}
                                  for f in p.skk_media or []],
                "keberatan": (f"{win.existing.code} ({win.existing.status})" if win.existing
                              else f"boleh diajukan sampai {deadline_text(win.until)}"
                              if win.allowed and win.until else ""),
                "tersedia": p.available,
                "diputuskan_oleh": p.decided_by, "diputuskan_pada": p.decided_at,
                "alasan": p.decision_reason,
                "pekerjaan_selesai": p.jobs_done,
                "rating": round(p.rating_sum / p.rating_count, 1) if p.rating_count else None,
                "jumlah_rating": p.rating_count, "pembatalan": p.cancellations,
                "kecamatan_domisili": kec.get(u.kecamatan_code or "", u.kecamatan_code),
                "kanal": [f"{a.channel}{'' if a.reachable else ' (tak terjangkau)'}"
                          for a in accounts],
                "pengaduan": [f"{c.code} ({c.status})" for c in complaints],
            })
        await audit_view(db, reader(as_), "tukang.show", "user", user_id, reveal=reveal)
        if photos is not None:
            rec["salinan_skk"] = export_files(list(p.skk_media or []), photos,
                                              f"tukang-{user_id}-skk")
            await audit_view(db, reader(as_), "tukang.photos", "user", user_id,
                             out=str(photos),
                             files=len([r for r in rec["salinan_skk"] if r["salinan"]]))
        return rec

    rec = run(go)
    if json_:
        emit_json(rec)
        return
    rec["status"] = word(TUKANG_STATUS, rec["status"])
    rec["cek_skk"] = skk_text(rec["cek_skk"])
    rec["foto_skk"] = [f"{f['file']} ({size_text(f['ukuran'])})" for f in rec.pop("foto_skk_file")]
    if "salinan_skk" in rec:
        rec["salinan_skk"] = [r["salinan"] or f"{r['file']} (hilang)" for r in rec["salinan_skk"]]
    rec["pengaduan"] = [_complaint_word(x) for x in rec["pengaduan"]]
    rec["keberatan"] = _status_word(rec["keberatan"], OBJECTION_STATUS)
    rec.pop("nama_keahlian", None)
    emit_record(rec, title=f"Tukang #{user_id}")


def _complaint_word(text: str) -> str:
    """"P-2611-0001 (upheld)" as an officer reads it: "P-2611-0001 (terbukti)"."""
    return _status_word(text, COMPLAINT_STATUS)


def _status_word(text: str, words: dict[str, str]) -> str:
    """"K-2611-0001 (submitted)" as an officer reads it (`--json` keeps the code)."""
    for code, label in words.items():
        text = text.replace(f"({code})", f"({label})")
    return text


async def _decide(db: Database, user_id: int, who: str, *, allowed: tuple[str, ...],
                  to: str, action: str, key: str, reason: str | None = None,
                  check_skk: bool = False, extra: dict[str, Any] | None = None) -> User:
    """Move a tukang from one of `allowed` to `to`, audit it, notify them; one transaction."""
    at = now()
    async with db.transaction() as s:
        u, p = await load(s, user_id)
        before = p.status  # read now: the update below also changes `p` in the session
        if p.status not in allowed:
            raise Refused(f"tukang #{user_id} berstatus {p.status}; tindakan ini hanya untuk "
                          f"status {' / '.join(allowed)}")
        if check_skk and p.skk_valid_until < today_wib():
            raise Refused(f"SKK {p.skk_number} sudah kedaluwarsa ({day(p.skk_valid_until)}); "
                          "minta tukang memperbarui SKK lalu mendaftar ulang")
        values: dict[str, Any] = {"status": to, "decided_by": who, "decided_at": at,
                                  "decision_reason": reason}
        if to in ("suspended", "removed"):
            values["available"] = False
        if to in ("active",):
            values["available"] = True
        res = await s.execute(update(TukangProfile)
                              .where(TukangProfile.id == p.id,
                                     TukangProfile.status.in_(allowed)).values(**values))
        if res.rowcount != 1:  # pragma: no cover - another officer won the race
            raise Refused(f"tukang #{user_id} baru saja diputuskan petugas lain")
        audit(s, who, action, "user", user_id, before=before, after=to,
              reason=reason, **(extra or {}))
        out = Outgoing()
        if to in ("suspended", "removed"):
            await stop_tukang(s, out, who, user_id, at)
        vars_: dict[str, Any] = {"name": u.name}
        actions = None
        if key == "admin.tukang_removed":
            win = await objection_window(s, user_id, at, _flow_config(settings()))
            vars_["object_until"] = deadline_text(win.until) if win.allowed and win.until \
                else ""
            if vars_["object_until"]:
                actions = [Choice("complaint.objection:0", "complaint.choice_objection")]
        if key in ("admin.tukang_rejected", "admin.tukang_suspended", "admin.tukang_removed"):
            vars_["reason"] = reason or "-"
            vars_ |= dinas_contact(_flow_config(settings()))  # someone to turn to
        if extra and "complaint_code" in extra:
            vars_["complaint_code"] = extra["complaint_code"]
        await out.notify(s, user_id, key, actions=actions, **vars_)
        await send(s, out)
    return u


def _need_reason(reason: str | None, opt: str = "--reason") -> str:
    text = (reason or "").strip()
    if not text:
        raise typer.BadParameter("alasan wajib diisi", param_hint=opt)
    return text


ReasonOpt = Annotated[str | None, typer.Option("--reason", help="Alasan, dikirim ke tukang.")]


async def _check_before(db: Database, user_id: int, who: str) -> dict[str, Any]:
    """The SKK check an officer sees before deciding (a read of personal data: audited)."""
    async with db.read() as s:
        u, p = await load(s, user_id)
        found = await skk_check(s, u, p)
    await audit_view(db, who, "tukang.skk_check", "user", user_id, cocok=found["cocok"],
                     masalah=found["masalah"])
    return found


def _say_check(check: dict[str, Any]) -> None:
    """Show the check; a mismatch warns in red on its own lines, and the officer still
    decides (the list may be older than the tukang's new certificate)."""
    if check["cocok"]:
        say(f"Cek SKK: {skk_text(check)}.")
        return
    for problem in check["masalah"]:
        console.print(f"[bold red]PERINGATAN SKK:[/bold red] {escape(problem)}")
    say("Periksa foto SKK (tukang show --photos) atau registri SKK sebelum memutuskan; "
        "keputusan tetap di tangan petugas.")


@app.command("activate")
def activate(user_id: IdArg, as_: AsOpt = None, yes: YesOpt = False) -> None:
    """Setujui pendaftaran tukang (ditolak bila SKK sudah kedaluwarsa); tukang diberi tahu.
    Sebelumnya SKK tukang dicocokkan dengan daftar SKK yang diimpor (`skk import`)."""
    who = operator(as_)
    check = run(lambda db: _check_before(db, user_id, who))
    _say_check(check)
    confirm(f"Aktifkan tukang #{user_id} dan kirim pemberitahuan?", yes)
    u = run(lambda db: _decide(db, user_id, who, allowed=("pending",), to="active",
                               action="tukang.activate", key="admin.tukang_activated",
                               check_skk=True, extra={"skk_check": check["masalah"]}))
    say(f"Tukang #{user_id} {u.name} aktif; pemberitahuan masuk antrean kirim.")


@app.command("reject")
def reject(user_id: IdArg, reason: ReasonOpt = None, as_: AsOpt = None,
           yes: YesOpt = False) -> None:
    """Tolak pendaftaran dengan alasan; tukang diberi tahu cara memperbaiki dan mendaftar ulang."""
    text = _need_reason(reason)
    who = operator(as_)
    confirm(f"Tolak pendaftaran tukang #{user_id} dan kirim pemberitahuan?", yes)
    u = run(lambda db: _decide(db, user_id, who, allowed=("pending",), to="rejected",
                               action="tukang.reject", key="admin.tukang_rejected",
                               reason=text))
    say(f"Pendaftaran tukang #{user_id} {u.name} ditolak; pemberitahuan masuk antrean kirim.")


@app.command("suspend")
def suspend(user_id: IdArg, reason: ReasonOpt = None, as_: AsOpt = None,
            yes: YesOpt = False) -> None:
    """Nonaktifkan sementara tukang aktif, dengan alasan; tukang diberi tahu."""
    text = _need_reason(reason)
    who = operator(as_)
    confirm(f"Nonaktifkan tukang #{user_id} dan kirim pemberitahuan?", yes)
    u = run(lambda db: _decide(db, user_id, who, allowed=("active",), to="suspended",
                               action="tukang.suspend", key="admin.tukang_suspended",
                               reason=text))
    say(f"Tukang #{user_id} {u.name} dinonaktifkan; pemberitahuan masuk antrean kirim.")


@app.command("reinstate")
def reinstate(user_id: IdArg, as_: AsOpt = None, yes: YesOpt = False) -> None:
    """Aktifkan kembali tukang yang dinonaktifkan sementara; tukang diberi tahu."""
    who = operator(as_)
    check = run(lambda db: _check_before(db, user_id, who))
    _say_check(check)
    confirm(f"Aktifkan kembali tukang #{user_id} dan kirim pemberitahuan?", yes)
    u = run(lambda db: _decide(db, user_id, who, allowed=("suspended",), to="active",
                               action="tukang.reinstate", key="admin.tukang_reinstated",
                               check_skk=True, extra={"skk_check": check["masalah"]}))
    say(f"Tukang #{user_id} {u.name} aktif kembali; pemberitahuan masuk antrean kirim.")


@app.command("remove")
def remove(
    user_id: IdArg,
    complaint: Annotated[str, typer.Option("--complaint", help="Kode/ID pengaduan yang terbukti.")],
    reason: ReasonOpt = None, as_: AsOpt = None, yes: YesOpt = False,
) -> None:
    """Keluarkan tukang (Pasal 9): hanya dengan pengaduan tentang dia yang sudah terbukti."""
    who = operator(as_)
    confirm(f"Keluarkan tukang #{user_id} dari daftar dan kirim pemberitahuan?", yes)

    async def go(db: Database) -> User:
        async with db.read() as s:
            c = await find_complaint(s, complaint)
        if c.tukang_id != user_id:
            raise Refused(f"pengaduan {c.code} bukan tentang tukang #{user_id}")
        if c.status != "upheld":
            raise Refused(f"pengaduan {c.code} berstatus {c.status}; pengeluaran (Pasal 9) "
                          "hanya dengan pengaduan yang terbukti (complaints decide ... upheld)")
        return await _decide(db, user_id, who, allowed=("pending", "active", "suspended"),
                             to="removed", action="tukang.remove", key="admin.tukang_removed",
                             reason=(reason or c.decision_note or "").strip() or "-",
                             extra={"complaint_code": c.code, "complaint_id": c.id})

    u = run(go)
    say(f"Tukang #{user_id} {u.name} dikeluarkan; pemberitahuan masuk antrean kirim.")
