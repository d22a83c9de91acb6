"""The whole warga -> tukang -> rating path through the real `sijakon-bot console`, two speakers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _tool(name: str) -> str:
    venv = ROOT / ".venv" / "bin" / name
    return str(venv if venv.exists() else Path(sys.executable).parent / name)


SCRIPT = """\
# a warga registers and books a painter; demo tukang andi accepts; the warga rates
andi> halo
warga> halo
warga> 1
warga> Budi Santoso
warga> 081234567890
warga> Batam Kota
warga> Pesan tukang
warga> Pengecatan
warga> Cat ulang dinding ruang tamu yang mengelupas
warga> selesai
warga> 1
warga> Jl. Sudirman No. 12, RT 03/RW 05
warga> besok
warga> ya
warga> Andi (demo)
andi> 1
warga> Pesanan saya
warga> 1
warga> Tandai selesai
warga> ya
warga> 5
warga> Rapi dan cepat
"""


def _blocks(out: str) -> list[tuple[str, str]]:
    """(speaker, text) for every printed block: a `[name]` line starts one."""
    blocks: list[tuple[str, list[str]]] = []
    for line in out.splitlines():
        m = re.fullmatch(r"\[([A-Za-z0-9_.-]+)\]", line)
        if m:
            blocks.append((m.group(1), []))
        elif blocks:
            blocks[-1][1].append(line)
    return [(who, "\n".join(lines).strip()) for who, lines in blocks]


def test_console_warga_books_andi_accepts_warga_rates(tmp_path: Path) -> None:
    """Two speakers in one piped script: booking, acceptance by typing 1, done and rating."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SIJAKON_", "TELEGRAM_", "TWILIO_"))}
    env["SIJAKON_DATA_DIR"] = str(tmp_path / "data")
    seeded = subprocess.run([_tool("sijakon-admin"), "demo", "seed"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert seeded.returncode == 0, seeded.stderr
    run = subprocess.run([_tool("sijakon-bot"), "console"], cwd=tmp_path, env=env,
                         input=SCRIPT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    blocks = _blocks(run.stdout)
    said = [f"[{who}] {text}" for who, text in blocks]

    def first(who: str, fragment: str) -> int:
        for i, (w, text) in enumerate(blocks):
            if w == who and fragment in text:
                return i
        raise AssertionError(f"[{who}] never got {fragment!r}:\n" + "\n".join(said))

    assert "Selamat datang kembali, Andi (demo)!" in blocks[0][1]  # a known account
    summary = first("warga", "Ringkasan pesanan")
    assert "Dinas tidak ikut dalam tawar-menawar" in blocks[summary][1]
    listing = first("warga", "Pilih tukang untuk J-")
    assert "1. Andi (demo)" in blocks[listing][1]
    offer = first("andi", "Tawaran pekerjaan J-")
    assert "  1. Terima" in blocks[offer][1] and "  2. Tolak" in blocks[offer][1]
    assert "Sudirman" not in blocks[offer][1] and "081234567890" not in blocks[offer][1]
    accepted = first("andi", "Anda menerima J-")
    assert "+6281234567890" in blocks[accepted][1] and "Sudirman" in blocks[accepted][1]
    told = first("warga", "menerima pesanan J-")
    assert "+6281200000001" in blocks[told][1]
    rate = first("warga", "Beri nilai 1 (buruk) sampai 5")
    thanks = first("warga", "Penilaian 5 untuk J-")
    received = first("andi", "mendapat penilaian 5")
    assert offer < accepted and listing < offer < rate < thanks < received
    assert "Traceback" not in run.stderr
