"""The console channel, as a person or a script uses it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bot.console import parse_line

ROOT = Path(__file__).resolve().parent.parent


def test_parse_line_keeps_the_last_speaker() -> None:
    """`nama> teks` switches speaker; a bare line speaks as the last one."""
    assert parse_line("budi> halo", "warga") == ("budi", "halo")
    assert parse_line("1", "budi") == ("budi", "1")
    assert parse_line("  sari>   Setuju", "budi") == ("sari", "Setuju")


def test_piped_script_prints_answers_and_exits_0(tmp_path: Path) -> None:
    """A script piped into `sijakon-bot console` gets every answer printed, then exits 0."""
    photo = tmp_path / "a.txt"
    photo.write_text("not a photo")
    script = "\n".join([
        "budi> halo", "1", "Budi Santoso", "0812 3456 7890", "Batam Kota",
        "sari> halo", "2",
        "budi> bantuan",
        f"budi> /photo {tmp_path / 'missing.jpg'}",
    ]) + "\n"
    env = {**os.environ, "SIJAKON_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.run([sys.executable, "-m", "bot.cli", "console"], cwd=ROOT, env=env,
                          input=script, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.count("[budi]") >= 6 and "[sari]" in out
    assert "Terima kasih, Budi Santoso. Pendaftaran selesai." in out
    assert "Menu utama" in out and "Bantuan SIJAKON" in out
    assert "tidak ada data Anda yang kami simpan" in out  # sari declined
    assert "file tidak ditemukan" in out
    # blocks come in order: welcome before name question
    assert out.index("Apakah Anda setuju?") < out.index("Siapa nama Anda?")
