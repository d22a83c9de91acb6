"""The real `sijakon-admin` executable beside a running bot process on the same SQLite file:
reads, writes and a backup while the bot writes, with no "database is locked"."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from storage.db import Database

BIN = Path(sys.executable).parent
ADMIN = BIN / "sijakon-admin"
BOT = BIN / "sijakon-bot"
ROUNDS = 3
PER_ROUND = 6  # warga registering in the bot during each round of admin commands


def registration(i: int) -> list[str]:
    who = f"w{i}"
    letters = "".join(chr(ord("a") + int(d)) for d in f"{i:03d}")
    return [f"{who}> halo", f"{who}> 1", f"{who}> Warga {letters.title()}",
            f"{who}> 0812{i:08d}", f"{who}> Batam Kota"]


def run_all(db_path: Path, data_dir: Path, work: Path) -> tuple[list[subprocess.CompletedProcess[str]], int, str]:
    env = {**os.environ, "SIJAKON_DATABASE_URL": f"sqlite+aiosqlite:///{db_path}",
           "SIJAKON_DATA_DIR": str(data_dir), "SIJAKON_ADMIN": "siti", "COLUMNS": "200"}
    bot_out = (work / "bot.out").open("w")
    bot_err = (work / "bot.err").open("w")
    bot = subprocess.Popen([str(BOT), "console"], stdin=subprocess.PIPE, stdout=bot_out,
                           stderr=bot_err, text=True, env=env, cwd=work)
    assert bot.stdin is not None
    results = [subprocess.run([str(ADMIN), "officer", "add", "siti", "--role", "admin"],
                              env=env, cwd=work, capture_output=True, text=True, timeout=120)]
    try:
        for r in range(ROUNDS):
            for i in range(r * PER_ROUND, (r + 1) * PER_ROUND):
                for line in registration(i):
                    bot.stdin.write(line + "\n")
            bot.stdin.flush()  # the bot now works through these while the admin runs
            calls = [["tukang", "list", "--json"], ["db", "stats", "--json"],
                     ["info", "add", "--title", f"Info {r}", "--topic", "uji"]]
            if r == ROUNDS - 1:
                calls.append(["db", "backup", str(work / "backup.db"), "--yes"])
            for args in calls:
                results.append(subprocess.run([str(ADMIN), *args], env=env, cwd=work,
                                              capture_output=True, text=True, timeout=120,
                                              input="Isi artikel uji.\n"))
        bot.stdin.close()
        code = bot.wait(timeout=120)
    finally:
        if bot.poll() is None:
            bot.kill()
        bot_out.close()
        bot_err.close()
    return results, code, (work / "bot.err").read_text()


async def test_admin_subprocess_beside_a_writing_bot(db: Database, tmp_path: Path) -> None:
    """Every admin call succeeds while the bot registers warga; no lock errors anywhere."""
    db_path = Path(db.url.split("///", 1)[1])
    await db.close()  # only the two processes use the file now
    results, code, bot_err = await asyncio.to_thread(run_all, db_path, tmp_path / "data",
                                                     tmp_path)
    for r in results:
        assert r.returncode == 0, (r.args, r.stdout, r.stderr)
        assert "locked" not in r.stderr.lower()
    assert code == 0 and "locked" not in bot_err.lower(), bot_err
    assert "siti" in results[0].stdout  # the first officer, on an unclaimed database
    stats = json.loads(results[2].stdout)
    assert stats["tables"]["kecamatan"] == 12
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("select count(*) from user").fetchone()[0] == ROUNDS * PER_ROUND
        assert conn.execute("select count(*) from infoarticle").fetchone()[0] == ROUNDS
    with sqlite3.connect(tmp_path / "backup.db") as conn:
        assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
        assert conn.execute("select count(*) from user").fetchone()[0] > 0
