"""Leases that one process holds at a time among the bot processes on one database.

Several bot processes may serve webhooks on one database (docs/scale.md), but a platform's
limits are per bot (Telegram 30/s, a WhatsApp sender's MPS) and a person's replies must leave
in order. So each channel has one *sender*: the process whose delivery worker holds the
channel's lease sends all of that channel's outbox; the others write rows and wake it. A
Telegram poller takes a lease the same way, so a second poller refuses to start.

A lease is a lock the database or the kernel drops when its holder dies, so a standby takes
over within one try (a second) of a kill -9, with no clock to trust:
- PostgreSQL: a session-level advisory lock on a connection of our own (asyncpg,
  autocommit, so no transaction stays open); the same connection carries LISTEN/NOTIFY, so a
  process that wrote rows wakes the sender at once instead of at its next poll;
- SQLite: an exclusive `flock` on a file beside the database, dropped by the kernel when the
  process goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "sijakon_outbox"


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for `name`."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big",
                          signed=True)


class Leases:
    """The leases this process holds, by name ("sender:telegram", "poller:telegram")."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self._dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        database = parsed.database or ""
        self._dir = Path(database).parent if database and database != ":memory:" else None
        self._stem = Path(database).name if database else "memory"
        self._files: dict[str, int] = {}
        self._conn: Any = None  # asyncpg.Connection (PostgreSQL)
        self._lock = asyncio.Lock()  # one statement at a time on the connection
        self._held: set[str] = set()
        self._listeners: list[Callable[[str], None]] = []
        self._closed = False

    def holds(self, name: str) -> bool:
        return name in self._held

    async def take(self, name: str) -> bool:
        """Take the lease `name` if nobody holds it; True if this process holds it now."""
        if name in self._held:
            return True
        if self.is_sqlite:
            taken = self._flock(name)
        else:
            taken = bool(await self._pg("fetchval", "SELECT pg_try_advisory_lock($1)",
                                        lock_key(name)))
        if taken:
            self._held.add(name)
        return taken

    async def give_back(self, name: str) -> None:
        if name not in self._held:
            return
        self._held.discard(name)
        if self.is_sqlite:
            fd = self._files.pop(name, None)
            if fd is not None:
                os.close(fd)  # closing drops the flock
        else:
            with contextlib.suppress(Exception):
                await self._pg("fetchval", "SELECT pg_advisory_unlock($1)", lock_key(name))

    async def alive(self) -> bool:
        """Whether the leases still stand: on PostgreSQL they die with the connection (a
        restarted server, a network cut); then every lease held is lost."""
        if self.is_sqlite or self._conn is None:
            return True
        try:
            await self._pg("fetchval", "SELECT 1")
            return True
        except Exception:
            log.warning("lost the database connection holding %s", sorted(self._held))
            self._held.clear()
            await self._drop()
            return False

    async def notify(self, payload: str) -> None:
        """Wake the processes listening (PostgreSQL; SQLite senders poll)."""
        if self.is_sqlite:
            return
        with contextlib.suppress(Exception):
            await self._pg("execute", f"NOTIFY {NOTIFY_CHANNEL}, '{payload}'")

    async def listen(self, callback: Callable[[str], None]) -> None:
        """Call `callback(payload)` for each notification (PostgreSQL)."""
        if self.is_sqlite:
            return
        self._listeners.append(callback)
        async with self._lock:
            fresh = self._conn is None or self._conn.is_closed()
            conn = await self._connect()
            if not fresh and len(self._listeners) == 1:  # opened earlier, by a lease
                await conn.add_listener(NOTIFY_CHANNEL, self._on_notify)

    async def close(self) -> None:
        for name in list(self._held):
            await self.give_back(name)
        self._closed = True  # a NOTIFY still on its way must not open a new connection
        await self._drop()

    # --- internals -------------------------------------------------------------------------
    def _flock(self, name: str) -> bool:
        if self._dir is None:
            return True  # an in-memory database lives in one process
        path = self._dir / f".{self._stem}.{name.replace(':', '-')}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._files[name] = fd
        return True

    async def _connect(self) -> Any:
        if self._conn is None or self._conn.is_closed():
            import asyncpg  # type: ignore[import-untyped]  # PostgreSQL only

            if self._closed:
                raise ConnectionError("leases closed")
            if self._conn is not None and self._held:
                log.warning("lost the database connection holding %s", sorted(self._held))
                self._held.clear()  # they went with the old connection
            self._conn = await asyncpg.connect(self._dsn)
            if self._listeners:
                await self._conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
        return self._conn

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        for callback in self._listeners:
            callback(payload)

    async def _pg(self, method: str, *args: Any) -> Any:
        async with self._lock:
            conn = await self._connect()
            return await getattr(conn, method)(*args)

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)
