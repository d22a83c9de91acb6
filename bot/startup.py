"""Start-up errors as one line: the one place that turns a configuration or environment
problem (a setting, the database, the data directory, the HTTP port, a channel half set up)
into a sentence naming the cause and what to set.

Both entry points run inside `one_line(prog)` (`sijakon-bot`: bot/cli.py; `sijakon-admin`:
admin_cli/app.py and the database-opening paths of admin_cli/common.py): such an error prints
`prog: <line>` on stderr and exits 2, so the operator (and the journal) gets one line instead
of a 100-line traceback. Anything else is a bug and keeps its traceback. A line never holds a
secret: the database is named by host, port, user and name, never by its URL or password; a
token is named, never shown. The table of cases is in docs/reliability.md, "Kesalahan saat
mulai".

`sijakon-admin` imports this module, so it imports only `bot.settings` from bot/ (the
import-linter contract in pyproject.toml forbids the runtime, the adapters and the web stack).
"""

from __future__ import annotations

import errno
import re
import socket
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from bot.settings import Settings, SettingsError, load_settings, validation_line

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

EXIT_CODE = 2
DB = "SIJAKON_DATABASE_URL"
DATA = "SIJAKON_DATA_DIR"
_TELEGRAM_TOKEN = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]+$")
_TWILIO_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_TWILIO = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_WHATSAPP_FROM")

# why an OS call failed, in the operator's words
_OS_REASONS = {
    errno.EACCES: "izin ditolak", errno.EPERM: "izin ditolak",
    errno.EROFS: "sistem berkas hanya-baca", errno.ENOSPC: "disk penuh",
    errno.EDQUOT: "kuota disk habis", errno.ENOTDIR: "bukan direktori",
    errno.EEXIST: "sudah ada sebagai berkas, bukan direktori", errno.ENOENT: "tidak ada",
    errno.ECONNREFUSED: "koneksi ditolak", errno.ETIMEDOUT: "waktu habis",
    errno.EHOSTUNREACH: "host tidak terjangkau", errno.ENETUNREACH: "jaringan tidak terjangkau",
    errno.ECONNRESET: "koneksi diputus",
}
_FILE_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT,
                errno.ENOTDIR, errno.EEXIST}
_NET_ERRNOS = {errno.ECONNREFUSED, errno.ETIMEDOUT, errno.EHOSTUNREACH, errno.ENETUNREACH,
               errno.ECONNRESET}


class StartupError(Exception):
    """A configuration or environment problem found before serving; the message is the line."""


@contextmanager
def one_line(prog: str) -> Iterator[None]:
    """Run an entry point: a configuration or environment error ends it with `prog: <line>` on
    stderr and exit code 2, without a traceback; any other error propagates unchanged."""
    try:
        yield
    except Exception as exc:
        line = explain(exc)
        if line is None:
            raise
        print(f"{prog}: {line}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_CODE) from None


def explain(exc: BaseException) -> str | None:
    """The one line for a configuration or environment error, or None for a bug. Looks through
    the chain (SQLAlchemy's `.orig`, `__cause__`, `__context__`, exception groups), because the
    driver's error that says what happened is usually a few wrappers down."""
    for found in _chain(exc):
        line = _line(found)
        if line is not None:
            return line
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo and len(seen) < 32:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        if isinstance(e, BaseExceptionGroup):
            todo.extend(e.exceptions)
        # `raise ... from None` (an error already reported, e.g. by typer.Exit) ends the chain
        context = None if e.__suppress_context__ else e.__context__
        todo.extend(x for x in (getattr(e, "orig", None), e.__cause__, context)
                    if isinstance(x, BaseException))


def _line(e: BaseException) -> str | None:
    if isinstance(e, StartupError | SettingsError):
        return str(e)
    if isinstance(e, ValidationError) and e.title == Settings.__name__:
        return validation_line(e)
    state = getattr(e, "sqlstate", None) or getattr(e, "pgcode", None)
    if isinstance(state, str) and state:
        return _postgres_line(state)
    if type(e).__module__ == "sqlite3":
        return _sqlite_line(str(e))
    if isinstance(e, OSError):
        return _os_line(e)
    return None


# --- the database ---------------------------------------------------------------------------
def _database() -> URL | None:
    """The configured database (the settings loaded once more: an error does not carry them)."""
    from sqlalchemy.engine import make_url  # here: `sijakon-bot --help` need not load it

    try:
        return make_url(load_settings().database_url)
    except Exception:  # a setting that does not load was reported before any database error
        return None


def _postgres_where(url: URL | None) -> tuple[str, str, str]:
    """(host:port, user, database) of a PostgreSQL URL, without the password."""
    if url is None:
        return "?", "?", "?"
    host = url.host or "socket lokal"
    return f"{host}:{url.port or 5432}", url.username or "?", url.database or url.username or "?"


def _postgres_line(state: str) -> str | None:
    where, user, name = _postgres_where(_database())
    if state == "28P01":
        return (f"PostgreSQL di {where} menolak kata sandi pengguna {user!r}; periksa pengguna "
                f"dan kata sandi di {DB}")
    if state == "28000":
        return (f"PostgreSQL di {where} menolak pengguna {user!r} (peran tidak ada atau tidak "
                f"diizinkan di pg_hba.conf); periksa pengguna di {DB}")
    if state == "3D000":
        return (f"basis data {name!r} tidak ada di PostgreSQL {where}; buat dulu (createdb "
                f"{name}) atau perbaiki nama basis data di {DB}")
    if state == "42501":
        return (f"pengguna {user!r} tidak punya hak yang dibutuhkan (mis. membuat tabel) di "
                f"basis data {name!r} ({where}); beri hak (GRANT CREATE ON SCHEMA public) atau "
                f"pakai pemilik basis data di {DB}")
    if state in ("53300", "57P03") or state.startswith("08"):
        return (f"PostgreSQL di {where} belum menerima koneksi (kode {state}); periksa "
                f"servernya, atau {DB}")
    return None


def _sqlite_line(message: str) -> str | None:
    url = _database()
    path = (url.database if url is not None else None) or "?"
    setting = DB if _configured_url() else DATA
    if "unable to open database file" in message:
        why = "tidak bisa dibuka"
    elif "readonly database" in message:
        why = "hanya bisa dibaca"
    elif "file is not a database" in message:
        why = "bukan basis data SQLite"
    elif "disk is full" in message or "disk I/O error" in message:
        why = "tidak bisa ditulis (disk penuh atau rusak)"
    else:
        return None  # "no such table" and the like are bugs
    return f"berkas basis data SQLite {path} {why}; periksa {setting}"


def _configured_url() -> bool:
    try:
        return bool(load_settings().sijakon_database_url)
    except Exception:
        return False


def _os_line(e: OSError) -> str | None:
    if e.filename is not None and e.errno in _FILE_ERRNOS:
        return (f"{e.filename} tidak bisa dipakai ({_OS_REASONS[e.errno]}); periksa {DATA} "
                f"dan {DB}: harus menunjuk ke tempat yang bisa ditulis oleh pengguna layanan "
                "ini")
    url = _database()
    if url is None or url.get_backend_name() != "postgresql":
        return None  # no network at start-up other than PostgreSQL's
    where, _user, _name = _postgres_where(url)
    if isinstance(e, socket.gaierror):
        return f"host basis data {url.host!r} tidak dikenal; periksa host di {DB}"
    if isinstance(e, TimeoutError):
        why = "waktu habis"
    elif e.errno in _NET_ERRNOS:
        why = _OS_REASONS[e.errno]
    elif e.errno is None and str(e).startswith("Multiple exceptions"):
        why = "koneksi ditolak"  # asyncpg tried each address of the host
    else:
        return None
    return (f"PostgreSQL di {where} tidak bisa dihubungi ({why}); periksa host dan port di "
            f"{DB} dan bahwa PostgreSQL menyala")


# --- the data directory ---------------------------------------------------------------------
def check_data_dir(settings: Settings) -> None:
    """Make the data and media directories (and the SQLite file's) and prove they take a
    file: found now rather than when the first person sends a photo (on PostgreSQL nothing
    else writes there at start), and before SQLite fails in aiosqlite's thread, whose
    "event loop is closed" noise would follow the line."""
    from sqlalchemy.engine import make_url

    folders = [(settings.sijakon_data_dir, DATA), (settings.media_dir, DATA)]
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database:
        file = Path(url.database)
        setting = DB if settings.sijakon_database_url else DATA
        if file.is_dir():
            raise StartupError(f"berkas basis data SQLite {file} adalah direktori; periksa "
                               f"{setting}")
        folders.append((file.parent, setting))
    for folder, setting in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".tulis-uji-"):
                pass
        except OSError as exc:
            why = _OS_REASONS.get(exc.errno or 0, exc.strerror or type(exc).__name__)
            what = "direktori data" if setting == DATA else "direktori berkas SQLite"
            raise StartupError(f"{what} {folder} tidak bisa ditulis ({why}); atur {setting} ke "
                               "tempat yang bisa ditulis oleh pengguna layanan ini") from None


# --- the HTTP port --------------------------------------------------------------------------
def bind_http(settings: Settings) -> socket.socket:
    """Bind SIJAKON_HTTP_HOST:SIJAKON_HTTP_PORT before anything else starts: uvicorn binds only
    after the channels and the database are up, then logs its error and calls sys.exit(3).
    The bound socket is handed to `uvicorn.Server.serve(sockets=...)`."""
    host, port = settings.sijakon_http_host, settings.sijakon_http_port
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                    flags=socket.AI_PASSIVE)[0][0]
        sock = socket.create_server((host, port), family=family, backlog=2048)
    except socket.gaierror:
        raise StartupError(f"alamat {host!r} tidak dikenal; atur SIJAKON_HTTP_HOST (mis. "
                           "127.0.0.1 atau 0.0.0.0)") from None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            line = (f"port {port} di {host} sudah dipakai proses lain; hentikan proses itu atau "
                    "atur SIJAKON_HTTP_PORT ke port lain")
        elif exc.errno in (errno.EACCES, errno.EPERM):
            line = (f"port {port} butuh hak root; atur SIJAKON_HTTP_PORT ke 1024 atau lebih "
                    "(proxy di depan meneruskan 443)")
        elif exc.errno == errno.EADDRNOTAVAIL:
            line = (f"alamat {host} bukan alamat mesin ini; atur SIJAKON_HTTP_HOST (mis. "
                    "127.0.0.1 atau 0.0.0.0)")
        else:
            line = (f"tidak bisa mendengarkan di {host}:{port} ({exc.strerror}); periksa "
                    "SIJAKON_HTTP_HOST dan SIJAKON_HTTP_PORT")
        raise StartupError(line) from None
    sock.set_inheritable(True)
    return sock


# --- the channels of `sijakon-bot run` -------------------------------------------------------
def check_channels(settings: Settings) -> None:
    """Refuse a channel set up by half (it would be left out without a word) and tokens that
    cannot be right, before any network call; no channel at all is refused too."""
    twilio = {"TWILIO_ACCOUNT_SID": bool(settings.twilio_account_sid),
              "TWILIO_AUTH_TOKEN": settings.twilio_auth_token is not None
              and bool(settings.twilio_auth_token.get_secret_value()),
              "TWILIO_WHATSAPP_FROM": bool(settings.twilio_whatsapp_from)}
    missing = [name for name, given in twilio.items() if not given]
    if 0 < len(missing) < len(twilio):
        raise StartupError(f"WhatsApp belum lengkap: {', '.join(missing)} belum diisi; isi "
                           f"ketiganya ({', '.join(_TWILIO)}) atau kosongkan semuanya")
    if settings.telegram_webhook_url and not settings.telegram_enabled:
        raise StartupError("TELEGRAM_WEBHOOK_URL diisi tetapi TELEGRAM_BOT_TOKEN kosong; isi "
                           "TELEGRAM_BOT_TOKEN atau kosongkan TELEGRAM_WEBHOOK_URL")
    if not (settings.telegram_enabled or settings.whatsapp_enabled):
        raise StartupError("tidak ada saluran yang diatur; isi TELEGRAM_BOT_TOKEN, atau "
                           f"{', '.join(_TWILIO)} (lihat .env.example), atau coba "
                           "`sijakon-bot console`")
    token = settings.telegram_bot_token
    if token is not None and token.get_secret_value() \
            and not _TELEGRAM_TOKEN.match(token.get_secret_value()):
        raise StartupError("TELEGRAM_BOT_TOKEN tidak berbentuk token dari @BotFather "
                           "(angka:kode, tanpa spasi atau tanda kutip); salin ulang dari "
                           "@BotFather")
    if settings.whatsapp_enabled and not _TWILIO_SID.match(settings.twilio_account_sid or ""):
        raise StartupError("TWILIO_ACCOUNT_SID harus 'AC' diikuti 32 angka heksadesimal; salin "
                           "dari konsol Twilio")
