"""Start-up errors are one line: every bad setting or environment, given to the real
`sijakon-bot run` and `sijakon-admin` executables, ends with exit code 2 and one line on
stderr naming what to set, with no traceback and no secret (docs/reliability.md, "Kesalahan
saat mulai")."""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.startup import explain

BIN = Path(sys.executable).parent
BOT = [str(BIN / "sijakon-bot"), "run"]
ADMIN = [str(BIN / "sijakon-admin"), "tukang", "list"]
PASSWORD = "Rahasia-pw-7Q9x"
TG_TOKEN = "123456:SECRET-tg-token-never-printed"
TWILIO_TOKEN = "twilio-SECRET-token-never-printed"
SECRETS = (PASSWORD, "SECRET-tg-token", "twilio-SECRET", "SECRET tg")
SID = "AC" + "0123456789abcdef" * 2


def _pg_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=0.5).close()
    except OSError:
        return False
    return True


PG_UP = _pg_up()
NO_PG = "no PostgreSQL at 127.0.0.1:5432 (user postgres, trust)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Case:
    """One bad start-up: the command, what is set, the setting the line must name."""

    name: str
    cmd: list[str]
    env: dict[str, str]
    names: str
    needs_pg: bool = False
    says: tuple[str, ...] = field(default=())


@dataclass
class Stage:
    """What the cases point at: a temp dir, a port held by someone else, a fake PostgreSQL
    that refuses every password, a port nobody listens on."""

    root: Path
    busy_port: int
    fake_pg_port: int
    dead_port: int


def _fake_postgres(listener: socket.socket) -> None:
    """A PostgreSQL that asks for a password and refuses it (SQLSTATE 28P01), as a server with
    md5/scram auth does; the local test server trusts everyone, so it cannot show this."""
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            try:
                while True:
                    size, code = struct.unpack("!ii", _read(conn, 8))
                    if code in (80877103, 80877104):  # SSLRequest, GSSENCRequest: no
                        conn.sendall(b"N")
                        continue
                    _read(conn, size - 8)  # the startup message
                    break
                conn.sendall(b"R" + struct.pack("!ii", 8, 3))  # cleartext password, please
                _read(conn, 1)
                (size,) = struct.unpack("!i", _read(conn, 4))
                _read(conn, size - 4)
                fields = b"".join(k + v.encode() + b"\0" for k, v in (
                    (b"S", "FATAL"), (b"V", "FATAL"), (b"C", "28P01"),
                    (b"M", 'password authentication failed for user "sijakon"')))
                body = fields + b"\0"
                conn.sendall(b"E" + struct.pack("!i", len(body) + 4) + body)
            except (OSError, struct.error):
                pass


def _read(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise OSError("closed")
        data += chunk
    return data


def _cases(stage: Stage) -> list[Case]:
    root = stage.root
    not_a_dir = root / "a-file"
    not_a_dir.write_text("x")
    not_a_db = root / "not-a-database.db"
    not_a_db.write_text("plain text, not SQLite\n" * 10)
    locked = Path("/sys/sijakon-uji")  # root writes through mode bits, but not into sysfs
    if os.geteuid() != 0:
        locked = root / "locked"
        locked.mkdir()
        locked.chmod(0o555)
    pg = f"postgresql+asyncpg://postgres:{PASSWORD}@127.0.0.1"
    dead = f"{pg}:{stage.dead_port}/sijakon"
    fake = f"postgresql+asyncpg://sijakon:{PASSWORD}@127.0.0.1:{stage.fake_pg_port}/sijakon"
    missing = f"{pg}:5432/sijakon_tidak_ada_zz"
    no_role = f"postgresql+asyncpg://peran_tidak_ada_zz:{PASSWORD}@127.0.0.1:5432/postgres"
    db = "SIJAKON_DATABASE_URL"
    return [
        Case("templates not JSON", BOT, {"WHATSAPP_TEMPLATES": "{offer.new: HX1"},
             "WHATSAPP_TEMPLATES"),
        Case("template SID malformed", BOT, {"WHATSAPP_TEMPLATES": json.dumps(
            {"offer.new": {"content_sid": "HX123"}})}, "WHATSAPP_TEMPLATES"),
        Case("database scheme", BOT, {db: f"mysql://root:{PASSWORD}@localhost/sijakon"}, db),
        Case("database URL unreadable", BOT, {db: f"{pg}:port/sijakon"}, db),
        Case("database URL in memory", BOT, {db: "sqlite+aiosqlite://"}, db),
        Case("http port not a number", BOT, {"SIJAKON_HTTP_PORT": "delapan"},
             "SIJAKON_HTTP_PORT"),
        Case("webhook URL not http", BOT, {"TELEGRAM_WEBHOOK_URL": "ftp://bot.example.go.id",
                                           "TELEGRAM_WEBHOOK_SECRET": "s"},
             "TELEGRAM_WEBHOOK_URL"),
        Case("webhook without token", BOT, {
            "TELEGRAM_BOT_TOKEN": "", "TELEGRAM_WEBHOOK_URL": "https://bot.example.go.id/tg",
            "TELEGRAM_WEBHOOK_SECRET": "s", "TWILIO_ACCOUNT_SID": SID,
            "TWILIO_AUTH_TOKEN": TWILIO_TOKEN, "TWILIO_WHATSAPP_FROM": "+14155238886"},
             "TELEGRAM_BOT_TOKEN"),
        Case("no channel", BOT, {"TELEGRAM_BOT_TOKEN": ""}, "TELEGRAM_BOT_TOKEN"),
        Case("WhatsApp by half", BOT, {"TWILIO_ACCOUNT_SID": SID,
                                       "TWILIO_AUTH_TOKEN": TWILIO_TOKEN},
             "TWILIO_WHATSAPP_FROM"),
        Case("Twilio SID malformed", BOT, {"TWILIO_ACCOUNT_SID": "AC-not-a-sid",
                                           "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
                                           "TWILIO_WHATSAPP_FROM": "+14155238886"},
             "TWILIO_ACCOUNT_SID"),
        Case("Telegram token malformed", BOT, {"TELEGRAM_BOT_TOKEN": "SECRET tg token"},
             "TELEGRAM_BOT_TOKEN"),
        Case("port in use", BOT, {"SIJAKON_HTTP_PORT": str(stage.busy_port)},
             "SIJAKON_HTTP_PORT", says=(str(stage.busy_port),)),
        Case("http host unknown", BOT, {"SIJAKON_HTTP_HOST": "tidak-ada.invalid"},
             "SIJAKON_HTTP_HOST"),
        Case("data dir is a file", BOT, {"SIJAKON_DATA_DIR": str(not_a_dir)},
             "SIJAKON_DATA_DIR"),
        Case("data dir not writable", BOT, {"SIJAKON_DATA_DIR": str(locked / "data")},
             "SIJAKON_DATA_DIR"),
        Case("SQLite file is a directory", BOT, {db: f"sqlite+aiosqlite:///{root}"}, db),
        Case("SQLite file is not a database", BOT, {db: f"sqlite+aiosqlite:///{not_a_db}"}, db),
        Case("PostgreSQL not listening", BOT, {db: dead}, db,
             says=(f"127.0.0.1:{stage.dead_port}",)),
        Case("PostgreSQL host unknown", BOT, {db: f"{pg.replace('127.0.0.1', 'db.invalid')}/x"},
             db),
        Case("PostgreSQL wrong password", BOT, {db: fake}, db, says=("sijakon",)),
        Case("PostgreSQL database missing", BOT, {db: missing}, db, needs_pg=True,
             says=("sijakon_tidak_ada_zz",)),
        Case("PostgreSQL role missing", BOT, {db: no_role}, db, needs_pg=True,
             says=("peran_tidak_ada_zz",)),
        Case("admin: templates not JSON", ADMIN, {"WHATSAPP_TEMPLATES": "[1,"},
             "WHATSAPP_TEMPLATES"),
        Case("admin: PostgreSQL not listening", ADMIN, {db: dead}, db),
        Case("admin: PostgreSQL wrong password", ADMIN, {db: fake}, db),
        Case("admin: PostgreSQL database missing", [*ADMIN[:1], "db", "upgrade"],
             {db: missing}, db, needs_pg=True),
        Case("admin: data dir not writable", ADMIN,
             {"SIJAKON_DATA_DIR": str(locked / "data")}, "SIJAKON_DATA_DIR"),
    ]


def _run(case: Case, stage: Stage) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SIJAKON_", "TELEGRAM_", "TWILIO_", "WHATSAPP_"))}
    work = stage.root / case.name.replace(" ", "-").replace(":", "")
    work.mkdir()
    env |= {"SIJAKON_DATA_DIR": str(work / "data"), "TELEGRAM_BOT_TOKEN": TG_TOKEN,
            "TELEGRAM_BASE_URL": "http://127.0.0.1:9", "SIJAKON_ADMIN": "siti",
            "SIJAKON_HTTP_PORT": str(_free_port()), "COLUMNS": "300", **case.env}
    return subprocess.run(case.cmd, env=env, cwd=work, capture_output=True, text=True,
                          timeout=60)


@pytest.fixture(scope="module")
def stage() -> Iterator[Stage]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        busy = socket.create_server(("127.0.0.1", 0))
        fake = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=_fake_postgres, args=(fake,), daemon=True).start()
        with socket.socket() as dead:
            dead.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
            yield Stage(root, busy.getsockname()[1], fake.getsockname()[1],
                        dead.getsockname()[1])
        busy.close()
        fake.close()
        if (root / "locked").exists():
            (root / "locked").chmod(0o755)


@pytest.fixture(scope="module")
def results(stage: Stage) -> dict[str, tuple[Case, subprocess.CompletedProcess[str] | None]]:
    """Every case at once: a process start costs 0.3-1.5 s of CPU; the slow ones (the
    database, the admin CLI: they come last in the table) are started first."""
    cases = _cases(stage)
    runnable = [c for c in reversed(cases) if PG_UP or not c.needs_pg]
    with ThreadPoolExecutor(max_workers=4) as pool:
        done = dict(zip([c.name for c in runnable],
                        pool.map(lambda c: _run(c, stage), runnable), strict=True))
    return {c.name: (c, done.get(c.name)) for c in cases}


def _names() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        return [c.name for c in _cases(Stage(Path(tmp), 1, 2, 3))]


@pytest.mark.parametrize("name", _names())
def test_bad_start_up_is_one_line_exit_2(
        name: str, results: dict[str, tuple[Case, subprocess.CompletedProcess[str] | None]]
) -> None:
    """The command stops with exit code 2 and one line on stderr that names the setting to
    fix, with no traceback and no password or token."""
    case, proc = results[name]
    if proc is None:
        pytest.skip(NO_PG)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert len(lines) == 1, proc.stderr[-2000:]
    line = lines[0]
    prog = Path(case.cmd[0]).name
    assert line.startswith(f"{prog}: "), line
    assert case.names in line, line
    assert "Traceback" not in proc.stderr
    for secret in SECRETS:
        assert secret not in proc.stderr + proc.stdout, line
    for word in case.says:
        assert word in line, line


def test_bugs_keep_their_traceback() -> None:
    """Only configuration and environment errors become a line; a bug is not explained away."""
    assert explain(ValueError("bug")) is None
    assert explain(KeyError("x")) is None
    try:
        import sqlite3

        sqlite3.connect(":memory:").execute("select * from no_such_table")
    except sqlite3.OperationalError as exc:
        assert explain(exc) is None
