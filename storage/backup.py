"""One backup file: the database and the media folder, with a manifest to check it against.

The file is a gzip'd tar archive holding
- `manifest.json`: format version, database kind, Alembic revision, rows per table, media
  files and bytes, when it was made (the caller's clock);
- `database.sqlite` (SQLite's online backup API: a consistent snapshot while the bot writes,
  WAL readers beside the writer) or `database.pgdump` (`pg_dump --format=custom`, taken in an
  exported snapshot, the same one the row counts are read in);
- `media/...`: the files people sent, as they lie under the data directory's `media/`.

A restore goes only into an empty database (no tables at all) and an empty media folder, so
it never merges two histories; the row counts are checked against the manifest afterwards.
Passwords never reach an argument list or a message: libpq reads them from `PGPASSWORD`.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database.sqlite"
PG_MEMBER = "database.pgdump"
MEDIA = "media"


class BackupError(Exception):
    """A backup or restore that cannot go on; the message is one Indonesian sentence for the
    officer, without secrets."""


@dataclass(frozen=True, slots=True)
class Manifest:
    format: int
    database: str  # sqlite | postgresql
    revision: str | None
    tables: dict[str, int]
    media_files: int
    media_bytes: int
    created_at: str

    def to_json(self) -> str:
        return json.dumps({"format": self.format, "database": self.database,
                           "revision": self.revision, "tables": self.tables,
                           "media_files": self.media_files, "media_bytes": self.media_bytes,
                           "created_at": self.created_at}, indent=2, sort_keys=True)

    @classmethod
    def parse(cls, raw: bytes) -> Manifest:
        try:
            data = json.loads(raw)
            return cls(int(data["format"]), str(data["database"]), data.get("revision"),
                       {str(k): int(v) for k, v in data["tables"].items()},
                       int(data["media_files"]), int(data["media_bytes"]),
                       str(data["created_at"]))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise BackupError("manifest cadangan rusak atau bukan cadangan SIJAKON") from None


def kind(url: str) -> str:
    return "sqlite" if make_url(url).get_backend_name() == "sqlite" else "postgresql"


def sqlite_file(url: str) -> Path:
    parsed = make_url(url)
    if not parsed.database or parsed.database == ":memory:":
        raise BackupError("basis data SQLite di memori tidak bisa dicadangkan")
    return Path(parsed.database)


def masked(url: str) -> str:
    """The URL as it may be shown: the password hidden."""
    return make_url(url).render_as_string(hide_password=True)


# --- counting -------------------------------------------------------------------------------


def count_tables(conn: Connection) -> dict[str, int]:
    """Rows of every table there is (whatever the models know: a migration may add more)."""
    names = sorted(n for n in inspect(conn).get_table_names() if not n.startswith("sqlite_"))
    return {n: int(conn.execute(text(f"SELECT count(*) FROM {_quoted(n)}"))  # nosec B608
                   .scalar_one()) for n in names}


def _quoted(name: str) -> str:
    """A table name as an SQL identifier (names come from the database, even a restored
    one: quotes inside are doubled)."""
    return '"' + name.replace('"', '""') + '"'


def _revision(tables: dict[str, int], conn: Connection) -> str | None:
    if "alembic_version" not in tables:
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _sqlite_counts(path: Path) -> tuple[dict[str, int], str | None]:
    raw = sqlite3.connect(path)
    try:
        names = sorted(r[0] for r in raw.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"))
        tables = {n: int(raw.execute(f"SELECT count(*) FROM {_quoted(n)}")  # nosec B608
                         .fetchone()[0])
                  for n in names}
        revision = (raw.execute("SELECT version_num FROM alembic_version").fetchone()[0]
                    if "alembic_version" in tables else None)
        return tables, revision
    finally:
        raw.close()


# --- the database part ----------------------------------------------------------------------


def sqlite_snapshot(src: Path, dest: Path) -> None:
    """Copy with SQLite's online backup API: a consistent snapshot even while the bot writes.
    Raises BackupError when the copy fails its integrity check."""
    source = sqlite3.connect(src, timeout=30)
    try:
        source.execute("PRAGMA busy_timeout=30000")
        target = sqlite3.connect(dest)
        try:
            source.backup(target)
            check = target.execute("PRAGMA integrity_check").fetchone()[0]
            if check != "ok":
                raise BackupError(f"pemeriksaan integritas salinan gagal: {check}")
        finally:
            target.close()
    finally:
        source.close()


def _libpq(url: str) -> tuple[list[str], dict[str, str]]:
    """Connection options for pg_dump / pg_restore, and the environment carrying the password
    (never an argument: arguments show in `ps`)."""
    u: URL = make_url(url)
    args = ["--dbname", u.database or ""]
    if u.host:
        args += ["--host", u.host]
    if u.port:
        args += ["--port", str(u.port)]
    if u.username:
        args += ["--username", u.username]
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    if u.password is not None:
        env["PGPASSWORD"] = str(u.password)
    return args, env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"program {name} tidak ditemukan; pasang paket postgresql-client "
                          "(versi sama atau lebih baru dari server)")
    return found


def _run(cmd: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        # the first line of the tool's complaint; libpq never echoes the password
        lines = (done.stderr or "").strip().splitlines()
        raise BackupError(f"{what} gagal: {lines[0] if lines else done.returncode}")


async def pg_snapshot(url: str, dest: Path) -> tuple[dict[str, int], str | None]:
    """`pg_dump --format=custom` into `dest`, counting rows in the very snapshot it dumps
    (a REPEATABLE READ transaction exports it, pg_dump `--snapshot` takes it)."""
    engine = create_async_engine(url, isolation_level="REPEATABLE READ")
    try:
        async with engine.connect() as conn, conn.begin():
            snapshot = (await conn.execute(text("SELECT pg_export_snapshot()"))).scalar_one()
            tables = await conn.run_sync(count_tables)
            revision = await conn.run_sync(lambda c: _revision(tables, c))
            args, env = _libpq(url)
            cmd = [_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
                   f"--snapshot={snapshot}", "--file", str(dest), *args]
            await asyncio.to_thread(_run, cmd, env, "pg_dump")
        return tables, revision
    finally:
        await engine.dispose()


# --- the archive ----------------------------------------------------------------------------


def media_files(media_dir: Path) -> Iterator[Path]:
    if media_dir.is_dir():
        yield from sorted(p for p in media_dir.rglob("*") if p.is_file())


async def write_backup(url: str, media_dir: Path, out: Path, created_at: datetime) -> Manifest:
    """Write the backup of the database at `url` and of `media_dir` to `out` (replaced only
    once the new file is complete)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    database = kind(url)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".sijakon-backup-") as tmp:
        work = Path(tmp)
        if database == "sqlite":
            src = sqlite_file(url)
            if not src.is_file():
                raise BackupError(f"file basis data {src} tidak ada")
            member, dump = SQLITE_MEMBER, work / SQLITE_MEMBER
            sqlite_snapshot(src, dump)
            tables, revision = _sqlite_counts(dump)
        else:
            member, dump = PG_MEMBER, work / PG_MEMBER
            tables, revision = await pg_snapshot(url, dump)
        files = list(media_files(media_dir))
        manifest = Manifest(FORMAT, database, revision, tables, len(files),
                            sum(f.stat().st_size for f in files), created_at.isoformat())
        partial = work / "backup.tar.gz"
        with tarfile.open(partial, "w:gz") as tar:
            raw = manifest.to_json().encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime = len(raw), int(created_at.timestamp())
            tar.addfile(info, io.BytesIO(raw))
            tar.add(dump, arcname=member)
            for f in files:
                tar.add(f, arcname=f"{MEDIA}/{f.relative_to(media_dir).as_posix()}")
        os.replace(partial, out)
    return manifest


def read_manifest(path: Path) -> Manifest:
    try:
        with tarfile.open(path, "r:gz") as tar:
            member = tar.extractfile(MANIFEST)
            if member is None:
                raise KeyError(MANIFEST)
            manifest = Manifest.parse(member.read())
    except (OSError, tarfile.TarError, KeyError):
        raise BackupError(f"{path} bukan file cadangan SIJAKON yang bisa dibaca") from None
    if manifest.format != FORMAT:
        raise BackupError(f"format cadangan {manifest.format} tidak dikenal (yang dikenal: "
                          f"{FORMAT})")
    return manifest


# --- restoring ------------------------------------------------------------------------------


async def existing_tables(url: str) -> list[str]:
    """The tables of the target database (empty for a missing SQLite file)."""
    if kind(url) == "sqlite":
        path = sqlite_file(url)
        if not path.exists() or path.stat().st_size == 0:
            return []
        raw = sqlite3.connect(path)
        try:
            return [r[0] for r in raw.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%'")]
        except sqlite3.DatabaseError:
            raise BackupError(f"{path} ada tetapi bukan basis data SQLite") from None
        finally:
            raw.close()
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return list(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    except OSError:
        raise BackupError(f"tidak bisa terhubung ke basis data {masked(url)}") from None
    finally:
        await engine.dispose()


def _members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    for m in tar.getmembers():
        if m.name.startswith(f"{MEDIA}/") and m.isfile():
            yield m


async def restore_backup(path: Path, url: str, media_dir: Path) -> Manifest:
    """Restore the backup at `path` into the empty database at `url` and the empty
    `media_dir`; raises BackupError (nothing written) when either is not empty, the kinds
    differ, or the rows restored differ from the manifest."""
    manifest = read_manifest(path)
    target = kind(url)
    if manifest.database != target:
        raise BackupError(f"cadangan ini dari {manifest.database}, basis data tujuan "
                          f"{target}; pulihkan ke basis data jenis yang sama")
    tables = await existing_tables(url)
    if tables:
        raise BackupError(f"basis data tujuan tidak kosong ({len(tables)} tabel); pulihkan ke "
                          "basis data baru yang kosong")
    if any(True for _ in media_files(media_dir)):
        raise BackupError(f"folder media {media_dir} tidak kosong; pulihkan ke folder data "
                          "yang baru")
    if target == "sqlite":
        await asyncio.to_thread(_restore_sqlite, path, sqlite_file(url), manifest)
    else:
        await asyncio.to_thread(_restore_pg, path, url)
        if await _pg_counts(url) != manifest.tables:
            raise BackupError("jumlah baris hasil pemulihan tidak sama dengan manifest")
    await asyncio.to_thread(_restore_media, path, media_dir)
    return manifest


def _restore_sqlite(path: Path, dest: Path, manifest: Manifest) -> None:
    """Unpack the SQLite file beside its destination, check its rows, then move it in."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    staged = dest.with_name(dest.name + ".restoring")
    with tarfile.open(path, "r:gz") as tar:
        member = tar.extractfile(SQLITE_MEMBER)
        if member is None:
            raise BackupError("cadangan tidak berisi basis data SQLite")
        with staged.open("wb") as f:
            shutil.copyfileobj(member, f)
    counts, _ = _sqlite_counts(staged)
    if counts != manifest.tables:
        staged.unlink()
        raise BackupError("jumlah baris hasil pemulihan tidak sama dengan manifest")
    for stale in (dest.with_name(dest.name + "-wal"), dest.with_name(dest.name + "-shm")):
        stale.unlink(missing_ok=True)
    os.replace(staged, dest)


def _restore_pg(path: Path, url: str) -> None:
    """pg_restore in one transaction: a failure leaves the database as empty as it was."""
    with tempfile.TemporaryDirectory(prefix=".sijakon-restore-") as tmp, \
            tarfile.open(path, "r:gz") as tar:
        tar.extract(PG_MEMBER, tmp, filter="data")
        args, env = _libpq(url)
        _run([_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
              "--single-transaction", *args, str(Path(tmp) / PG_MEMBER)], env, "pg_restore")


def _restore_media(path: Path, media_dir: Path) -> None:
    """The media files back where they were (the "data" filter refuses paths leaving the
    folder, links and devices)."""
    media_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "r:gz") as tar:
        for m in _members(tar):
            m.name = m.name[len(MEDIA) + 1:]
            tar.extract(m, media_dir, filter="data")


async def _pg_counts(url: str) -> dict[str, int]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(count_tables)
    finally:
        await engine.dispose()


def summary(manifest: Manifest) -> dict[str, Any]:
    """What an audit row keeps of a backup: no names, no paths of people's files."""
    return {"database": manifest.database, "revision": manifest.revision,
            "rows": sum(manifest.tables.values()), "tables": len(manifest.tables),
            "media_files": manifest.media_files, "created_at": manifest.created_at}
