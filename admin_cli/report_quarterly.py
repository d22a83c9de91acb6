"""`sijakon-admin report quarterly`: the laporan triwulan to the Walikota (Pasal 8), as ONE
printable HTML file, with copies to the Inspektorat and Dinas Kominfo.

The figures come from `storage.reports` (queries only). Here they become tables (the same
rows are written as CSV with `--csv DIR`), charts and the page. Charts are matplotlib
(Agg backend) saved as SVG and inlined, so the file needs nothing else to open or print;
they are drawn in black, grey and white with hatching and direct value labels, so a
black-and-white photocopy loses nothing. Personal data never appears: counts, averages and
anonymous survey scores only; survey suggestions are counted, not quoted (free text can
carry names and addresses that no filter reliably removes).
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from admin_cli.common import AsOpt, audit, now, reader, run, say, settings
from flows.deadlines import Waking
from storage.clock import local
from storage.db import Database
from storage.reports import ELEMENTS, GRADE_NAMES, Quarter, quarterly_report

TEMPLATES = Path(__file__).parent / "templates"
MONTHS = ("", "Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
          "September", "Oktober", "November", "Desember")
ROMAN = ("", "I", "II", "III", "IV")
STATUS_NAMES = {"open": "Baru", "offered": "Ditawarkan", "accepted": "Diterima tukang",
                "in_progress": "Dikerjakan", "done": "Selesai", "cancelled": "Dibatalkan",
                "expired": "Kedaluwarsa"}
OUTBOX_NAMES = {"queued": "antre", "sending": "sedang dikirim", "sent": "terkirim",
                "delivered": "diterima", "read": "dibaca", "failed": "gagal",
                "undelivered": "tidak sampai", "waiting": "menunggu", "cancelled": "dibatalkan"}
CHANNEL_NAMES = {"telegram": "Telegram", "whatsapp": "WhatsApp", "console": "Konsol (uji)"}
HATCHES = ("", "///", "...", "xxx", "\\\\\\", "ooo", "---", "+++")
SHADES = ("#404040", "#ffffff", "#bfbfbf", "#ffffff", "#808080", "#ffffff", "#e0e0e0",
          "#ffffff")


# --- numbers as an Indonesian reader expects them ---------------------------------------------


def num(value: float | int | None, digits: int = 0) -> str:
    """1.234,5 — thousands with a dot, decimals with a comma; "–" for no value."""
    if value is None:
        return "–"
    text = f"{value:,.{digits}f}"
    return text.replace(",", "_").replace(".", ",").replace("_", ".")


def pct(value: float | None) -> str:
    return "–" if value is None else num(value * 100, 1) + "%"


def dur(hours: float | None) -> str:
    """A duration in hours, or in days once it is two days or more."""
    if hours is None:
        return "–"
    if hours >= 48:
        return num(hours / 24, 1) + " hari"
    return num(hours, 1) + " jam"


def change(cur: float | int | None, prev: float | int | None) -> str:
    """The difference from the previous quarter, with its percentage when it means something."""
    if cur is None or prev is None:
        return "–"
    diff = cur - prev
    sign = "+" if diff > 0 else ""
    digits = 0 if isinstance(cur, int) and isinstance(prev, int) else 2
    text = sign + num(diff, digits)
    if prev:
        text += f" ({sign}{num(diff / prev * 100, 1)}%)"
    return text


def change_hours(cur: float | None, prev: float | None) -> str:
    """The difference of two durations, in hours ("-1,5 jam": faster than last quarter)."""
    if cur is None or prev is None:
        return "–"
    diff = cur - prev
    return ("+" if diff > 0 else "") + num(diff, 1) + " jam"


def change_points(cur: float | None, prev: float | None) -> str:
    """The difference of two shares, in percentage points ("+12,5 poin")."""
    if cur is None or prev is None:
        return "–"
    diff = (cur - prev) * 100
    return ("+" if diff > 0 else "") + num(diff, 1) + " poin"


# --- tables (shown in the page and written as CSV) --------------------------------------------


@dataclass
class Table:
    name: str  # CSV file name without .csv
    title: str
    columns: list[str]
    rows: list[list[Any]]
    fmt: list[str] | None = None  # per column: "", "int", "dec", "pct", "dur"
    row_fmt: list[str] | None = None  # per row instead, for tables of mixed figures

    def cell(self, r: int, c: int, value: Any) -> str:
        """A value as printed: text as it is, numbers in Indonesian notation."""
        if value is None:
            return "–"
        if isinstance(value, str) or c == 0:
            return str(value)
        kind = (self.row_fmt[r] if self.row_fmt else (self.fmt or [""] * len(self.columns))[c])
        if kind == "int":
            return num(value)
        if kind == "dec":
            return num(value, 2)
        if kind == "pct":
            return pct(value)
        if kind == "dur":
            return dur(value)
        return str(value)

    def csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(self.columns)
        for row in self.rows:
            w.writerow(["" if v is None else (round(v, 4) if isinstance(v, float) else v)
                        for v in row])
        return buf.getvalue()


def month_names(q: Quarter) -> list[str]:
    return [MONTHS[m] for m in q.months]


def build_tables(report: dict[str, Any], quarter: Quarter) -> dict[str, Table]:
    """Every table of the report, keyed by name (also the CSV file names)."""
    cur, prev = report["current"], report["previous"]
    months = month_names(quarter)
    t: dict[str, Table] = {}

    def summary_row(label: str, get: Any) -> list[Any]:
        a, b = get(cur), get(prev)
        return [label, a, b, change(a, b)]

    rows = [
        summary_row("Warga mendaftar", lambda d: d["tukang"]["warga_registered"]),
        summary_row("Tukang mendaftar", lambda d: d["tukang"]["tukang_registered"]),
        summary_row("Tukang diaktifkan", lambda d: d["tukang"]["activated"]),
        summary_row("Pesanan pekerjaan", lambda d: d["jobs"]["total"]),
        summary_row("Pekerjaan selesai", lambda d: d["jobs"]["done"]),
        summary_row("Pekerjaan dibatalkan", lambda d: d["jobs"]["cancelled"]),
        summary_row("Penilaian (rating) diberikan", lambda d: d["ratings"]["n"]),
        summary_row("Rata-rata penilaian (1–5)", lambda d: d["ratings"]["mean"]),
        summary_row("Pengaduan masuk", lambda d: d["complaints"]["received"]),
        summary_row("Tukang dikeluarkan (Pasal 9)", lambda d: d["complaints"]["removed_pasal9"]),
        summary_row("Siaran informasi", lambda d: d["broadcasts"]["broadcasts"]),
        summary_row("Pengguna aktif", lambda d: d["activity"]["total"]),
        summary_row("Responden SKM", lambda d: d["survey"]["respondents"]),
        summary_row("Nilai IKM (konversi)", lambda d: d["survey"]["ikm_unit"]),
    ]
    kinds = ["dec" if r[0].startswith(("Rata-rata", "Nilai IKM")) else "int" for r in rows]
    mc, mp = cur["match"], prev["match"]
    rows[6:6] = [["Median waktu sampai dapat tukang", mc["median_hours"], mp["median_hours"],
                  change_hours(mc["median_hours"], mp["median_hours"])],
                 ["Dapat tukang dalam 3 jam bangun", mc["fast_rate"], mp["fast_rate"],
                  change_points(mc["fast_rate"], mp["fast_rate"])]]
    kinds[6:6] = ["dur", "pct"]
    t["ringkasan"] = Table("ringkasan", "Ringkasan dan perbandingan dengan triwulan lalu",
                           ["Butir", f"Triwulan {ROMAN[quarter.q]}",
                            f"Triwulan {ROMAN[quarter.previous().q]} (lalu)", "Perubahan"],
                           rows, row_fmt=kinds)

    tk, tp = cur["tukang"], prev["tukang"]
    t["tukang"] = Table("tukang", "Pendaftaran dan keputusan atas tukang",
                        ["Butir", "Triwulan ini", "Triwulan lalu"], [
                            ["Warga mendaftar", tk["warga_registered"], tp["warga_registered"]],
                            ["Tukang mengajukan pendaftaran", tk["tukang_registered"],
                             tp["tukang_registered"]],
                            ["Diaktifkan", tk["activated"], tp["activated"]],
                            ["Ditolak", tk["rejected"], tp["rejected"]],
                            ["Dinonaktifkan sementara", tk["suspended"], tp["suspended"]],
                            ["Diaktifkan kembali", tk["reinstated"], tp["reinstated"]],
                            ["Dikeluarkan", tk["removed"], tp["removed"]],
                        ], ["", "int", "int"])
    t["antrean_aktivasi"] = Table(
        "antrean_aktivasi", "Lama menunggu di antrean aktivasi (pengajuan → keputusan)",
        ["Ukuran", "Triwulan ini", "Triwulan lalu"], [
            ["Pendaftaran yang diaktifkan", tk["activation_wait_hours"]["n"],
             tp["activation_wait_hours"]["n"]],
            ["Rata-rata lama menunggu", tk["activation_wait_hours"]["mean"],
             tp["activation_wait_hours"]["mean"]],
            ["Median lama menunggu", tk["activation_wait_hours"]["median"],
             tp["activation_wait_hours"]["median"]],
            ["Paling lama", tk["activation_wait_hours"]["max"],
             tp["activation_wait_hours"]["max"]],
        ], row_fmt=["int", "dur", "dur", "dur"])

    jb = cur["jobs"]
    m = quarter.months
    t["pekerjaan_per_bulan"] = Table(
        "pekerjaan_per_bulan", "Pesanan per bulan menurut status (status saat laporan dibuat)",
        ["Status", *months, "Jumlah"],
        [[STATUS_NAMES.get(st, st), *[jb["month_status"][st][k] for k in m],
          sum(jb["month_status"][st].values())]
         for st in jb["month_status"] if sum(jb["month_status"][st].values())]
        + [["Jumlah", *[jb["by_month"][k] for k in m], jb["total"]]],
        ["", "int", "int", "int", "int"])
    t["pekerjaan_per_kategori"] = Table(
        "pekerjaan_per_kategori", "Pesanan per kategori pekerjaan", ["Kategori", *months,
                                                                    "Jumlah"],
        [[cat, *[jb["month_category"][cat][k] for k in m], n]
         for cat, n in jb["by_category"].items()], ["", "int", "int", "int", "int"])
    t["pekerjaan_per_kecamatan"] = Table(
        "pekerjaan_per_kecamatan", "Pesanan per kecamatan", ["Kecamatan", *months, "Jumlah"],
        [[kec, *[jb["month_kecamatan"][kec][k] for k in m], n]
         for kec, n in jb["by_kecamatan"].items()], ["", "int", "int", "int", "int"])
    jp = prev["jobs"]
    t["kinerja_pekerjaan"] = Table(
        "kinerja_pekerjaan", "Waktu sampai diterima tukang, penyelesaian dan pembatalan",
        ["Ukuran", "Triwulan ini", "Triwulan lalu"], [
            ["Pesanan", jb["total"], jp["total"]],
            ["Diterima tukang", jb["accepted"], jp["accepted"]],
            ["Rata-rata waktu pesan → diterima", jb["accept_hours"]["mean"],
             jp["accept_hours"]["mean"]],
            ["Median waktu pesan → diterima", jb["accept_hours"]["median"],
             jp["accept_hours"]["median"]],
            ["Tingkat penyelesaian (selesai / pesanan)", jb["completion_rate"],
             jp["completion_rate"]],
            ["Selesai tanpa jawaban warga (ditutup setelah 3 hari)",
             jb["done_unconfirmed"], jp["done_unconfirmed"]],
            ["Tingkat pembatalan (dibatalkan / pesanan)", jb["cancellation_rate"],
             jp["cancellation_rate"]],
        ], row_fmt=["int", "int", "dur", "dur", "pct", "int", "pct"])

    t["waktu_dapat_tukang"] = Table(
        "waktu_dapat_tukang", "Waktu sampai dapat tukang (pesanan dibuat → tukang menerima)",
        ["Ukuran", "Triwulan ini", "Triwulan lalu", "Perubahan"], [
            ["Pesanan", mc["requested"], mp["requested"], change(mc["requested"],
                                                                 mp["requested"])],
            ["Dapat tukang", mc["matched"], mp["matched"], change(mc["matched"],
                                                                  mp["matched"])],
            ["Median waktu sampai dapat tukang", mc["median_hours"], mp["median_hours"],
             change_hours(mc["median_hours"], mp["median_hours"])],
            ["Median waktu, jam bangun saja", mc["median_waking_hours"],
             mp["median_waking_hours"],
             change_hours(mc["median_waking_hours"], mp["median_waking_hours"])],
            ["Dapat tukang dalam 3 jam bangun", mc["fast"], mp["fast"],
             change(mc["fast"], mp["fast"])],
            ["Bagian pesanan yang dapat tukang dalam 3 jam bangun", mc["fast_rate"],
             mp["fast_rate"], change_points(mc["fast_rate"], mp["fast_rate"])],
        ], row_fmt=["int", "int", "dur", "dur", "int", "pct"])

    rt, rp = cur["ratings"], prev["ratings"]
    t["penilaian"] = Table("penilaian", "Sebaran penilaian tukang oleh warga (1–5)",
                           ["Nilai", "Triwulan ini", "Triwulan lalu"],
                           [[str(k), rt["distribution"][k], rp["distribution"][k]]
                            for k in range(1, 6)]
                           + [["Jumlah", rt["n"], rp["n"]]], ["", "int", "int"])

    cc, cpv = cur["complaints"], prev["complaints"]
    t["pengaduan"] = Table("pengaduan", "Pengaduan dan tindak lanjutnya (Pasal 9)",
                           ["Butir", "Triwulan ini", "Triwulan lalu"], [
                               ["Pengaduan masuk", cc["received"], cpv["received"]],
                               ["Pernyataan tukang diminta", cc["statements_requested"],
                                cpv["statements_requested"]],
                               ["Pernyataan tukang diterima", cc["statements_received"],
                                cpv["statements_received"]],
                               ["Diputus: terbukti", cc["upheld"], cpv["upheld"]],
                               ["Diputus: tidak terbukti", cc["dismissed"], cpv["dismissed"]],
                               ["Tukang dikeluarkan (Pasal 9)", cc["removed_pasal9"],
                                cpv["removed_pasal9"]],
                           ], ["", "int", "int"])
    steps = (("to_request_hours", "Pengaduan masuk → pernyataan diminta"),
             ("to_statement_hours", "Pernyataan diminta → pernyataan diterima"),
             ("statement_to_decision_hours", "Pernyataan diterima → keputusan"),
             ("to_decision_hours", "Pengaduan masuk → keputusan (seluruhnya)"))
    t["lama_pengaduan"] = Table(
        "lama_pengaduan", "Lama setiap tahap penanganan pengaduan",
        ["Tahap", "Jumlah", "Rata-rata", "Median", "Paling lama", "Rata-rata triwulan lalu"],
        [[label, cc[k]["n"], cc[k]["mean"], cc[k]["median"], cc[k]["max"], cpv[k]["mean"]]
         for k, label in steps], ["", "int", "dur", "dur", "dur", "dur"])

    bc, bp = cur["broadcasts"], prev["broadcasts"]
    t["siaran"] = Table("siaran", "Siaran informasi dan jangkauannya",
                        ["Butir", "Triwulan ini", "Triwulan lalu"], [
                            ["Siaran dibuat", bc["broadcasts"], bp["broadcasts"]],
                            ["Sasaran (orang)", bc["audience"], bp["audience"]],
                            ["Pesan dibuat", bc["messages"], bp["messages"]],
                            ["Pesan sampai (terkirim/diterima/dibaca)", bc["delivered"],
                             bp["delivered"]],
                            ["Pesan gagal", bc["failed"], bp["failed"]],
                            ["Orang terjangkau", bc["people_reached"], bp["people_reached"]],
                        ], ["", "int", "int"])
    t["siaran_status"] = Table(
        "siaran_status", "Pesan siaran menurut status pengiriman", ["Status", "Jumlah pesan"],
        [[OUTBOX_NAMES.get(k, k), v] for k, v in bc["messages_by_status"].items()],
        ["", "int"])

    ac, ap = cur["activity"], prev["activity"]
    channels = list(dict.fromkeys([*ac["by_channel"], *ap["by_channel"]]))
    t["pengguna_aktif"] = Table(
        "pengguna_aktif", "Pengguna aktif per kanal (orang yang mengirim pesan)",
        ["Kanal", "Triwulan ini", "Triwulan lalu"],
        [[CHANNEL_NAMES.get(c, c), ac["by_channel"].get(c, 0), ap["by_channel"].get(c, 0)]
         for c in channels]
        + [["Jumlah orang (tanpa hitung ganda)", ac["total"], ap["total"]]],
        ["", "int", "int"])

    sc, sp = cur["survey"], prev["survey"]
    t["ikm"] = Table(
        "ikm", "Nilai rata-rata (NRR) per unsur pelayanan",
        ["Unsur", "Nama unsur", "Jawaban", "NRR", "NRR tertimbang", "NRR triwulan lalu"],
        [[code, name, sc["answered_per_element"][i], sc["nrr"][i],
          sc["nrr"][i] / 9 if sc["nrr"][i] is not None else None, sp["nrr"][i]]
         for i, (code, name) in enumerate(ELEMENTS)],
        ["", "", "int", "dec", "dec", "dec"])
    t["ikm_ringkas"] = Table(
        "ikm_ringkas", "Indeks Kepuasan Masyarakat",
        ["Butir", "Triwulan ini", "Triwulan lalu"], [
            ["Responden", sc["respondents"], sp["respondents"]],
            ["  warga", sc["by_role"]["warga"], sp["by_role"]["warga"]],
            ["  tukang", sc["by_role"]["tukang"], sp["by_role"]["tukang"]],
            ["IKM (1–4)", sc["ikm"], sp["ikm"]],
            ["Nilai IKM konversi (IKM × 25)", sc["ikm_unit"], sp["ikm_unit"]],
            ["Mutu pelayanan", _grade_text(sc["grade"]), _grade_text(sp["grade"])],
            ["Sampel minimal (Krejcie-Morgan)", sc["sample_needed"], sp["sample_needed"]],
            ["Saran tertulis diterima (tidak dikutip)", sc["suggestions"], sp["suggestions"]],
        ], row_fmt=["int", "int", "int", "dec", "dec", "", "int", "int"])
    return t


def _grade_text(grade: str | None) -> str | None:
    return f"{grade} ({GRADE_NAMES[grade]})" if grade else None


# --- charts -----------------------------------------------------------------------------------


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "font.family": "sans-serif",
                         "font.size": 9, "hatch.linewidth": 0.8, "axes.edgecolor": "#333333",
                         "svg.hashsalt": "sijakon"})
    return plt


def _svg(fig: Any, name: str) -> str:
    plt = _pyplot()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)  # dates, tool names
    # ids must be unique in one page: prefix this chart's ids and their references
    svg = re.sub(r'id="([^"]+)"', rf'id="{name}-\1"', svg)
    svg = re.sub(r'url\(#([^)]+)\)', rf'url(#{name}-\1)', svg)
    svg = re.sub(r'xlink:href="#([^"]+)"', rf'xlink:href="#{name}-\1"', svg)
    svg = re.sub(r'<svg ', f'<svg role="img" aria-label="{name}" ', svg, count=1)
    return svg


def _empty(plt: Any, title: str, name: str) -> str:
    fig, ax = plt.subplots(figsize=(6.5, 1.2))
    ax.axis("off")
    ax.set_title(title, loc="left", fontsize=10, fontweight="bold")
    ax.text(0.5, 0.4, "Tidak ada data pada triwulan ini", ha="center", va="center")
    return _svg(fig, name)


def hbar(name: str, title: str, labels: list[str], values: list[float | int],
         previous: list[float | int | None] | None = None, digits: int = 0,
         xmax: float | None = None) -> str:
    """Horizontal bars with the value written at each bar's end (previous quarter hatched)."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    if previous is not None and all(v is None for v in previous):
        previous = None  # nothing to compare with: no empty "–" bars
    if not labels or (not any(values) and not any(previous or [])):
        return _empty(plt, title, name)
    n = len(labels)
    fig, ax = plt.subplots(figsize=(6.5, 0.9 + 0.38 * n * (2 if previous else 1)))
    ys = list(range(n))[::-1]
    h = 0.38 if previous else 0.6
    cur_y = [y + (h / 2 if previous else 0) for y in ys]
    bars = ax.barh(cur_y, values, height=h, color="#404040", edgecolor="black",
                   label="Triwulan ini")
    ax.bar_label(bars, labels=[num(v, digits) for v in values], padding=3)
    if previous:
        prev_vals = [v or 0 for v in previous]
        pb = ax.barh([y - h / 2 for y in ys], prev_vals, height=h, color="white",
                     edgecolor="black", hatch="///", label="Triwulan lalu")
        ax.bar_label(pb, labels=[num(v, digits) if v is not None else "–" for v in previous],
                     padding=3)
        ax.legend(loc="lower right", frameon=False)
    ax.set_yticks(ys, labels)
    top = max([*values, *[v or 0 for v in previous or []], 0.0001])
    ax.set_xlim(0, xmax or top * 1.18)
    if digits == 0:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title, loc="left", fontsize=10, fontweight="bold")
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig, name)


def stacked_months(name: str, title: str, months: list[str],
                   series: list[tuple[str, list[int]]]) -> str:
    """Columns per month stacked by status, each status its own hatch, totals on top."""
    plt = _pyplot()
    series = [(label, vals) for label, vals in series if any(vals)]
    if not series:
        return _empty(plt, title, name)
    fig, ax = plt.subplots(figsize=(6.5, 3.0))
    bottom = [0] * len(months)
    for i, (label, vals) in enumerate(series):
        bars = ax.bar(months, vals, bottom=bottom, width=0.55, color=SHADES[i % len(SHADES)],
                      edgecolor="black", hatch=HATCHES[i % len(HATCHES)], label=label)
        ax.bar_label(bars, labels=[str(v) if v else "" for v in vals], label_type="center",
                     bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none"},
                     fontsize=8)
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    for x, total in enumerate(bottom):
        ax.text(x, total, f"{total}", ha="center", va="bottom", fontweight="bold")
    ax.set_ylim(0, max(bottom) * 1.2 + 0.5)
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.set_title(title, loc="left", fontsize=10, fontweight="bold")
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig, name)


def build_charts(report: dict[str, Any], quarter: Quarter) -> dict[str, str]:
    cur, prev = report["current"], report["previous"]
    jb = cur["jobs"]
    months = month_names(quarter)
    m = quarter.months
    charts = {
        "jobs_months": stacked_months(
            "grafik-pesanan-bulan", "Pesanan per bulan menurut status", months,
            [(STATUS_NAMES.get(st, st), [jb["month_status"][st][k] for k in m])
             for st in jb["month_status"]]),
        "jobs_category": hbar("grafik-kategori", "Pesanan per kategori",
                              list(jb["by_category"]), list(jb["by_category"].values())),
        "jobs_kecamatan": hbar("grafik-kecamatan", "Pesanan per kecamatan",
                               list(jb["by_kecamatan"]), list(jb["by_kecamatan"].values())),
        "ratings": hbar("grafik-penilaian", "Sebaran penilaian (jumlah per nilai)",
                        [f"Nilai {k}" for k in range(5, 0, -1)],
                        [cur["ratings"]["distribution"][k] for k in range(5, 0, -1)],
                        [prev["ratings"]["distribution"][k] for k in range(5, 0, -1)]),
        "channels": hbar("grafik-kanal", "Pengguna aktif per kanal",
                         [CHANNEL_NAMES.get(c, c) for c in cur["activity"]["by_channel"]],
                         list(cur["activity"]["by_channel"].values()),
                         [prev["activity"]["by_channel"].get(c, 0)
                          for c in cur["activity"]["by_channel"]]),
    }
    sc, sp = cur["survey"], prev["survey"]
    if sc["respondents"] or sp["respondents"]:
        charts["ikm"] = hbar("grafik-nrr", "NRR per unsur (skala 1–4)",
                             [f"{code} {name}" for code, name in ELEMENTS],
                             [v or 0 for v in sc["nrr"]], sp["nrr"], digits=2, xmax=4.6)
    else:
        charts["ikm"] = _empty(_pyplot(), "NRR per unsur (skala 1–4)", "grafik-nrr")
    return charts


# --- the page ---------------------------------------------------------------------------------


def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(num=num, pct=pct, dur=dur)
    return env


def render_html(report: dict[str, Any], quarter: Quarter, *, made_at: Any,
                hours: Waking | None = None) -> str:
    """The whole report as one HTML string (charts inline, CSS inline); `hours` are the
    waking hours the time-to-match note names."""
    hours = hours or Waking()
    tables = build_tables(report, quarter)
    last_day = (local(quarter.end) - timedelta(days=1)).date()
    first_day = local(quarter.start).date()
    cur = report["current"]
    return environment().get_template("report_quarterly.html.j2").render(
        q=quarter, roman=ROMAN[quarter.q], prev_roman=ROMAN[quarter.previous().q],
        prev=quarter.previous(),
        period=f"{first_day.day} {MONTHS[first_day.month]} – {last_day.day} "
               f"{MONTHS[last_day.month]} {last_day.year}",
        made=f"{made_at.day} {MONTHS[made_at.month]} {made_at.year}, "
             f"{made_at:%H.%M} WIB",
        r=report, cur=cur, previous=report["previous"], t=tables,
        waking=f"{hours.start:%H.%M}–{hours.end:%H.%M}",
        charts=build_charts(report, quarter), elements=ELEMENTS, grade_names=GRADE_NAMES,
    )


def write_csv(tables: dict[str, Table], directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for table in tables.values():
        path = directory / f"{table.name}.csv"
        path.write_text(table.csv(), encoding="utf-8")
        paths.append(path)
    return paths


def write_files(report: dict[str, Any], quarter: Quarter, out: Path, csv_dir: Path | None,
                made_at: Any, hours: Waking | None = None) -> None:
    """The HTML file (and the CSV tables): blocking work, run in a thread."""
    html = render_html(report, quarter, made_at=made_at, hours=hours)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    if csv_dir is not None:
        write_csv(build_tables(report, quarter), csv_dir)


async def make_report(db: Database, quarter: Quarter, out: Path, csv_dir: Path | None,
                      who: str) -> dict[str, Any]:
    """Read the figures, write the HTML (and CSV), record who made it; returns the figures."""
    hours = Waking(*settings().waking_hours)  # the night rule offers keep (flows/deadlines.py)
    async with db.read() as s:
        report = await quarterly_report(s, quarter, waking_time=hours.between)
    await asyncio.to_thread(write_files, report, quarter, out, csv_dir, local(now()), hours)
    async with db.transaction() as s:
        audit(s, who, "report.quarterly", "report", None, quarter=quarter.label,
              out=str(out), csv=str(csv_dir) if csv_dir else None)
    return report


def quarterly(
    year: Annotated[int, typer.Option("--year", min=2020, max=2100, help="Tahun.")],
    quarter: Annotated[int, typer.Option("--quarter", min=1, max=4, help="Triwulan 1-4.")],
    out: Annotated[Path, typer.Option("--out", help="Berkas HTML yang ditulis.")],
    csv_dir: Annotated[Path | None, typer.Option("--csv", help="Folder untuk tabel CSV.")]
    = None,
    as_: AsOpt = None,
) -> None:
    """Laporan triwulan untuk Walikota (HTML siap cetak; tanpa data pribadi)."""
    who = reader(as_)
    q = Quarter(year, quarter)
    report = run(lambda db: make_report(db, q, out, csv_dir, who))
    s = report["current"]["survey"]
    say(f"Laporan triwulan {ROMAN[q.q]} {q.year} ditulis ke {out}"
        + (f"; tabel CSV di {csv_dir}" if csv_dir else "") + ".")
    if s["too_few"]:
        say(f"Perhatian: responden SKM {s['respondents']} orang, kurang dari sampel minimal "
            f"{s['sample_needed']} (Krejcie-Morgan untuk {s['population']} pengguna aktif).")
