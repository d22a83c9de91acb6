"""The async database: engines, sessions, write transactions, migrations.

SQLite (default) and PostgreSQL run the same code. On SQLite:
- pysqlite's own transaction handling is switched off and every write transaction starts with
  `BEGIN IMMEDIATE` (SQLAlchemy docs, "Serializable isolation / Savepoints / Transactional DDL"),
  so a read-then-write never fails with "database is locked" after another writer committed;
  it is sent with the transaction's first statement, in the same thread hop when that
  statement is on the driver (`run_on_driver`), and the pool does not roll back a connection
  whose transaction already ended: each was a thread hop per transaction of the engine's five;
- writers inside one process queue on an asyncio lock instead of sleeping in SQLite's busy
  handler, which keeps the latency tail proportional to the queue (PLATFORM-FACTS: pooled
  writers fighting over the file lock gave a ~1 s p99);
- reads go through a second engine with plain deferred `BEGIN`, so they never wait for a writer.
Other processes (the admin CLI) still meet the busy timeout, which is what it is for.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from storage.reference import install as install_reference_events
from storage.service import install as install_service_events

T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def head_revision() -> str:
    """The newest migration's revision, read off its file name: revisions are numbered as
    their files are, `NNNN_what.py` (tests/test_storage.py holds it to Alembic's own head)."""
    return max(p.name[:4] for p in (MIGRATIONS_DIR / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))


# SQLite: the BEGIN of a transaction not yet sent, kept in the pooled connection's `info`
BEGIN_PENDING = "sijakon.begin"


async def run_on_driver(raw: Any, fn: Callable[[Any], T]) -> T:
    """Run `fn(sqlite3_connection)` on aiosqlite's own thread in one hop, after the
    transaction's BEGIN if that has not been sent yet (`raw`: the pooled connection of a
    write transaction, `AsyncConnection.get_raw_connection()`).

    aiosqlite has no public call for this; each of its public methods is one `_execute` of a
    function on that thread, and this is the same with several statements in the function.
    tests/test_hotpath.py fails if an aiosqlite release changes it."""
    begin = raw.info.pop(BEGIN_PENDING, None)
    driver = raw.driver_connection

    def run() -> T:
        if begin is not None:
            try:
                driver._conn.execute(begin)
            except BaseException:
                raw.info[BEGIN_PENDING] = begin  # not begun: never run outside a transaction
                raise
        return fn(driver._conn)

    result: T = await driver._execute(run)
    return result


def _sqlite_hooks(engine: AsyncEngine, begin: str) -> None:
    sync = engine.sync_engine

    @event.listens_for(sync, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=5000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA journal_mode=WAL")  # persistent per file; a no-op once set
        cur.close()

    @event.listens_for(sync, "begin")
    def _on_begin(conn: Any) -> None:
        # not sent yet: it goes with the transaction's first statement, in the same hop to
        # aiosqlite's thread when that statement is on the driver (`run_on_driver`)
        conn.connection.info[BEGIN_PENDING] = begin

    @event.listens_for(sync, "before_cursor_execute")
    def _before_statement(conn: Any, *_args: Any) -> None:
        info = conn.connection.info
        pending = info.pop(BEGIN_PENDING, None)
        if pending is not None:
            # straight on the driver, one hop (SQLAlchemy's "awaitable-only driver methods in
            # events"); exec_driver_sql would take a cursor, run, close: three
            try:
                conn.connection.dbapi_connection.run_async(lambda driver: driver.execute(pending))
            except BaseException:
                info[BEGIN_PENDING] = pending  # not begun (another process held the lock
                raise  # past busy_timeout): the statement fails, and none runs outside it

    @event.listens_for(sync, "commit")
    @event.listens_for(sync, "rollback")
    def _on_end(conn: Any) -> None:
        if not conn.invalidated:  # (a cancelled statement invalidates: no pool entry to read)
            conn.connection.info.pop(BEGIN_PENDING, None)  # nothing ran: nothing to end


def _reset_only_open(engine: AsyncEngine) -> None:
    """For a SQLite engine made with pool_reset_on_return=None ("custom reset scheme" in
    SQLAlchemy's pooling docs): the pool's own rollback of every connection it takes back
    was one more thread hop per transaction, after the commit had already ended it; a
    connection still inside a transaction (never, unless a caller left one open) is rolled
    back all the same. (On PostgreSQL SQLAlchemy's asyncpg adapter already skips that
    rollback when its transaction has ended.)"""

    @event.listens_for(engine.sync_engine, "reset")
    def _on_reset(dbapi_conn: Any, record: Any, state: Any) -> None:
        if state.terminate_only or record is None:
            return
        try:
            open_ = record.driver_connection.in_transaction
        except ValueError:  # aiosqlite: the connection is closed already
            return
        if open_:
            dbapi_conn.rollback()


# PostgreSQL: deadlock_detected, serialization_failure (PLATFORM-FACTS); SQLite: the busy
# handler gave up (another process held the file's write lock past busy_timeout)
_CONTENTION_CODES = frozenset({"40P01", "40001"})
_CONTENTION_TEXTS = ("database is locked", "database is busy")


def contended(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) says another transaction was in the way: the whole
    transaction may simply run again."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        for err in (cur, getattr(cur, "orig", None)):
            if err is None:
                continue
            code = getattr(err, "pgcode", None) or getattr(err, "sqlstate", None)
            if code in _CONTENTION_CODES:
                return True
            if type(err).__name__ == "OperationalError" and any(
                    t in str(err) for t in _CONTENTION_TEXTS):
                return True
        cur = cur.__cause__ or cur.__context__
    return False


class Database:
    """One database, its engines and the write lock that orders writers in this process.

    Engines hide statement parameters in errors: a failed insert must never put a phone
    number or an address into a log line.
    """

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite:
            database = parsed.database or ""
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            # One pooled writer connection; readers open their own.
            self.engine = create_async_engine(url, echo=echo, pool_size=1, max_overflow=0,
                                              pool_timeout=60, hide_parameters=True,
                                              pool_reset_on_return=None)
            _sqlite_hooks(self.engine, "BEGIN IMMEDIATE")
            _reset_only_open(self.engine)
            self.read_engine = create_async_engine(url, echo=echo, poolclass=NullPool,
                                                   hide_parameters=True,
                                                   pool_reset_on_return=None)
            _sqlite_hooks(self.read_engine, "BEGIN")
            _reset_only_open(self.read_engine)
        else:
            self.engine = create_async_engine(url, echo=echo, pool_size=10, max_overflow=10,
                                              pool_pre_ping=True, hide_parameters=True)
            self.read_engine = self.engine
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = async_sessionmaker(self.read_engine, expire_on_commit=False)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        install_service_events()  # every session keeps the matching table current
        install_reference_events()  # and drops cached reference data it changes


    @property
    def dialect(self) -> str:
        return "sqlite" if self.is_sqlite else "postgresql"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A write transaction: committed on success, rolled back on any exception."""
        if self._write_lock is None:
            async with self._sessions() as session, session.begin():
                yield session
            return
        async with self._write_lock, self._sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction on a bare connection (the engine's batches): committed on
        success, rolled back on any exception. A session, if one is needed, joins it."""
        if self._write_lock is None:
            async with self.engine.connect() as conn, conn.begin():
                yield conn
            return
        async with self._write_lock, self.engine.connect() as conn, conn.begin():
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only session that never waits for the writer."""
        async with self._read_sessions() as session:
            yield session

    async def migrate(self) -> None:
        """Bring the schema to Alembic's head revision. A database already there is told by
        one query, without importing Alembic: a running bot never needs it (Alembic, Mako and
        the Pygments lexers Mako loads are ~6.5 MB of the process's memory)."""
        for attempt in range(5):
            try:
                if await self.revision() == head_revision():
                    return
                from storage.migrate import upgrade_to_head

                async with self.engine.connect() as conn:
                    await conn.run_sync(upgrade_to_head)
                    await conn.commit()
                return
            except Exception as exc:
                # SQLite: processes starting together on a new file meet its lock before the
                # busy handler is set up (switching to WAL); another try finds it settled
                if attempt == 4 or not contended(exc):
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))

    async def revision(self) -> str | None:
        """The schema's Alembic revision, read without Alembic; None for a new database."""
        async with self.read_engine.connect() as conn:
            try:
                return (await conn.exec_driver_sql(
                    "SELECT version_num FROM alembic_version")).scalar()
            except DBAPIError as exc:  # a new database: no table yet
                if contended(exc):
                    raise
                return None

    async def close(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()
