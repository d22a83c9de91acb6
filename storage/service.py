"""Keeping `TukangService` (the matching table) current: one mechanism no writer can forget.

The table is derived from TukangProfile, User, Skill and SkillCategory (docs/matching.md,
"The service table"). `refresh_service(conn, user_ids)` rewrites the rows of some tukang from
their current profile, user and the catalog: delete, then insert what the rule says, so
refreshing a tukang whose rows are already right changes nothing. That makes every
over-approximation safe, and the events below over-approximate freely.

`install()` (called once, by the `storage` package) puts two listeners on every SQLAlchemy
`Session`, so every writer that goes through a session, ORM object or `update()` statement,
flow, timer or admin command, refreshes the tukang it touched inside its own transaction:

- `after_flush`: TukangProfile and User objects inserted, deleted or changed in a column the
  rule reads; Skill and SkillCategory objects (then every tukang listing that skill);
- `do_orm_execute`: INSERT, UPDATE and DELETE statements on those four tables run through
  `Session.execute`: the keys of the rows an UPDATE or DELETE matches are read just before it
  runs, those of an INSERT come from its parameters; when they cannot be told (parameters
  the WHERE clause needs, an INSERT ... SELECT), every tukang is refreshed.

Not covered, and so a caller's duty: writes on a bare `Connection` and textual SQL. Call
`refresh_service` (or `rebuild_service`) after them.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator, Mapping
from datetime import date, datetime
from itertools import chain, islice
from typing import Any

from sqlalchemy import String, cast, delete, event, inspect, or_, select
from sqlalchemy.engine import Connection, Result
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction
from sqlalchemy.orm.attributes import get_history
from sqlalchemy.orm.base import PASSIVE_NO_INITIALIZE
from sqlalchemy.sql.dml import UpdateBase
from sqlmodel import SQLModel

from storage.clock import as_utc
from storage.matching import epoch_hours, rested_key
from storage.models import Skill, SkillCategory, TukangProfile, TukangService, User
from storage.sql import table

CHUNK = 500  # keys per statement: far below SQLite's and asyncpg's parameter limits

_profile = table(TukangProfile)
_user = table(User)
_skill = table(Skill)
_link = table(SkillCategory)
_service = table(TukangService)

# the columns the rows are computed from; a change elsewhere (a phone, a locale, a
# cancellation count) leaves the table as it is
PROFILE_COLUMNS = frozenset({"user_id", "jenjang", "skk_valid_until", "skills", "areas",
                             "available", "status", "jobs_done", "rating_sum", "rating_count",
                             "last_offer_at"})
USER_COLUMNS = frozenset({"id", "name", "role", "status"})
SKILL_COLUMNS = frozenset({"code", "active"})
LINK_COLUMNS = frozenset({"skill_code", "category_id"})


# --- computing and writing the rows -----------------------------------------------------------


def _serving(conn: Connection) -> dict[str, list[int]]:
    """Skill code -> the categories it serves, active skills only (the catalog is small)."""
    rows = conn.execute(select(_link.c.skill_code, _link.c.category_id)
                        .join(_skill, _skill.c.code == _link.c.skill_code)
                        .where(_skill.c.active.is_(True))
                        .order_by(_link.c.skill_code, _link.c.category_id))
    serving: dict[str, list[int]] = {}
    for code, category_id in rows:
        serving.setdefault(code, []).append(category_id)
    return serving


# Who the rule lists by status (docs/matching.md, "Who is listed", 1-3): the rows exist only
# for them. SKK validity (4) is filtered at query time; skills and areas (5-6) shape the rows.
LISTED_BY_STATUS = (_user.c.status == "active", _user.c.role == "tukang",
                    _profile.c.status == "active", _profile.c.available.is_(True))


def _chunks(keys: Iterable[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    it = iter(keys)
    while chunk := list(islice(it, size)):
        yield chunk


# The rows go to the driver as they are, values already in the form SQLAlchemy's column types
# write them (`_Stored`): a rebuild writes some 400,000 rows for 50,000 tukang, and
# SQLAlchemy's per-value processing took most of its time.
_NAMES = ("kecamatan_code", "category_id", "user_id", "name", "jenjang", "skill_codes",
          "skk_valid_until", "rating_sum", "rating_count", "jobs_done", "last_offer_at",
          "rested_key", "offer_hours")
assert set(_NAMES) == {c.name for c in _service.columns}, "TukangService changed"


# PostgreSQL takes a batch as one INSERT ... SELECT over arrays (asyncpg's executemany costs
# a round of protocol messages per row); SQLite's executemany stays inside the library.
_PG_TYPES = ("varchar", "int", "int", "varchar", "int", "json", "date", "int", "int", "int",
             "timestamptz", "float8", "float8")


def _insert(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """Write rows given in `_NAMES` order, in batches, through the driver."""
    names = ", ".join(_NAMES)
    if conn.dialect.name == "postgresql":
        arrays = ", ".join(f"${i}::{t}[]" for i, t in enumerate(_PG_TYPES, start=1))
        sql = f"INSERT INTO tukangservice ({names}) SELECT * FROM unnest({arrays})"  # nosec B608 # fixed names, $n marks
        for batch in _chunks(rows, 10_000):
            conn.exec_driver_sql(sql, tuple(list(column) for column in zip(*batch, strict=True)))
        return
    assert conn.dialect.paramstyle == "qmark", conn.dialect.paramstyle
    sql = f"INSERT INTO tukangservice ({names}) VALUES ({', '.join('?' * len(_NAMES))})"  # nosec B608 # fixed names, ? marks
    for batch in _chunks(rows, 10_000):
        conn.exec_driver_sql(sql, batch)


class _Stored:
    """Values as the column types store them: JSON as text; on SQLite dates and times as its
    ISO text (UTC, microseconds), on PostgreSQL as they are (asyncpg encodes them)."""

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"

    def day(self, value: date) -> Any:
        return value.isoformat() if self.sqlite else value

    def time(self, value: datetime | None) -> Any:
        if value is None or not self.sqlite:
            return value
        return as_utc(value).strftime("%Y-%m-%d %H:%M:%S.%f")


def _rows_of(profile: Mapping[Any, Any], serving: Mapping[str, list[int]],
             stored: _Stored) -> list[tuple[Any, ...]]:
    """The rows of one listed tukang, in `_NAMES` order: each area once, each category with
    the profile's skills that serve it, in the profile's order (what the list shows)."""
    by_category: dict[int, list[str]] = {}
    for code in profile["skills"] or []:
        for category_id in serving.get(code, ()):
            by_category.setdefault(category_id, []).append(code)
    at = profile["last_offer_at"]
    rating_sum, rating_count = profile["rating_sum"], profile["rating_count"]
    head = (profile["user_id"], profile["name"], profile["jenjang"])
    tail = (stored.day(profile["skk_valid_until"]), rating_sum, rating_count,
            profile["jobs_done"], stored.time(at), rested_key(rating_sum, rating_count),
            None if at is None else epoch_hours(at))
    categories = [(category_id, json.dumps(codes)) for category_id, codes in by_category.items()]
    return [(area, category_id, *head, codes, *tail)
            for area in dict.fromkeys(profile["areas"] or [])
            for category_id, codes in categories]


def _write(conn: Connection, user_ids: list[int] | None, serving: Mapping[str, list[int]]) -> int:
    """Replace the rows of `user_ids` (None: the whole table) with freshly computed ones."""
    if conn.dialect.name == "postgresql":
        # two transactions refreshing one tukang (one renamed the user, the other changed the
        # profile) would each delete what they see and insert over the other's uncommitted
        # rows: lock the profiles first, in order, so refreshes of one tukang take turns
        lock = select(_profile.c.id).order_by(_profile.c.user_id).with_for_update()
        if user_ids is not None:
            lock = lock.where(_profile.c.user_id.in_(user_ids))
        conn.execute(lock)
    if user_ids is None:
        conn.execute(delete(_service))
    else:
        conn.execute(delete(_service).where(_service.c.user_id.in_(user_ids)))
    query = (select(_profile.c.user_id, _profile.c.jenjang, _profile.c.skk_valid_until,
                    _profile.c.skills, _profile.c.areas, _profile.c.jobs_done,
                    _profile.c.rating_sum, _profile.c.rating_count, _profile.c.last_offer_at,
                    _user.c.name)
             .join(_user, _user.c.id == _profile.c.user_id).where(*LISTED_BY_STATUS))
    if user_ids is not None:
        query = query.where(_profile.c.user_id.in_(user_ids))
    stored = _Stored(conn.dialect.name)
    rows = sorted(row for p in conn.execute(query).mappings()
                  for row in _rows_of(p, serving, stored))  # in primary-key order
    _insert(conn, rows)
    return len(rows)


def refresh_service(bind: Connection | Session, user_ids: Iterable[int] | None) -> int:
    """Rewrite the TukangService rows of these tukang (None: of every tukang) from their
    profile, user and the catalog as they are now; returns how many rows they have.

    Synchronous, for the session events; from async code use
    `await session.run_sync(refresh_service, ids)` or the same on an `AsyncConnection`.
    """
    conn = bind.connection() if isinstance(bind, Session) else bind
    serving = _serving(conn)
    if user_ids is None:
        return _write(conn, None, serving)
    return sum(_write(conn, chunk, serving) for chunk in _chunks(sorted(set(user_ids))))


def rebuild_service(bind: Connection | Session) -> int:
    """Every row again, from scratch (after a bulk change that bypassed the session)."""
    return refresh_service(bind, None)


def tukang_with_skills(conn: Connection, codes: Collection[str]) -> set[int]:
    """Tukang whose profile lists one of these skill codes (a superset: a text match on the
    JSON list, which both databases can do without a JSON function of their own)."""
    found: set[int] = set()
    for chunk in _chunks(sorted(codes), 50):
        patterns = [cast(_profile.c.skills, String).like(f'%"{_escape(c)}"%', escape="\\")
                    for c in chunk]
        found.update(conn.execute(select(_profile.c.user_id).where(or_(*patterns))).scalars())
    return found


def _escape(code: str) -> str:
    return code.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# --- the session events -----------------------------------------------------------------------


def _changed(obj: SQLModel, names: Iterable[str]) -> bool:
    return any(get_history(obj, name, passive=PASSIVE_NO_INITIALIZE).has_changes()
               for name in names)


def _keys(obj: SQLModel, name: str) -> list[Any] | None:
    """The attribute's value, with the one it replaced in this flush (a re-keyed row); None
    when the object never loaded it (then the caller looks further)."""
    values = [v for v in get_history(obj, name, passive=PASSIVE_NO_INITIALIZE).sum()
              if v is not None]
    return values or None


def _identity(obj: SQLModel) -> list[Any] | None:
    return list(inspect(obj).identity or ()) or None


def _profile_owner(session: Session, obj: TukangProfile) -> list[Any] | None:
    """The user of a profile object that never loaded `user_id` (None: the row is gone)."""
    pk = _identity(obj)
    if pk is None:
        return None
    found = session.connection().execute(
        select(_profile.c.user_id).where(_profile.c.id == pk[0])).scalar()
    return None if found is None else [found]


def _flushed(session: Session, obj: Any, is_new: bool,
             is_dirty: bool) -> tuple[str, list[Any] | None] | None:
    """What a flushed object asks to refresh: ("user", user ids) or ("skill", skill codes),
    keys None when they cannot be told; None when its change does not matter."""
    if isinstance(obj, TukangProfile):
        if is_dirty and not _changed(obj, PROFILE_COLUMNS):
            return None
        return "user", _keys(obj, "user_id") or _profile_owner(session, obj)
    if isinstance(obj, User):
        if is_new or (is_dirty and not _changed(obj, USER_COLUMNS)):
            return None  # a new user has no profile yet
        return "user", _keys(obj, "id") or _identity(obj)
    if isinstance(obj, Skill):
        if is_dirty and not _changed(obj, SKILL_COLUMNS):
            return None
        return "skill", _keys(obj, "code") or _identity(obj)
    if isinstance(obj, SkillCategory):
        return "skill", _keys(obj, "skill_code") or (_identity(obj) or [None])[:1]
    return None


def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    """Refresh the tukang whose objects this flush wrote (the session's lists still hold them,
    with their attribute history)."""
    keys: dict[str, set[Any]] = {"user": set(), "skill": set()}
    new, dirty = session.new, session.dirty
    for obj in chain(new, dirty, session.deleted):
        found = _flushed(session, obj, obj in new, obj in dirty)
        if found is None:
            continue
        kind, values = found
        if values is None or None in values:
            rebuild_service(session.connection())
            return
        keys[kind].update(values)
    if not keys["user"] and not keys["skill"]:
        return
    conn = session.connection()
    users = keys["user"] | (tukang_with_skills(conn, keys["skill"]) if keys["skill"] else set())
    if users:
        refresh_service(conn, users)


class _Unknown(Exception):
    """The keys a statement touches cannot be told: refresh everyone."""


_WATCHED: dict[str, tuple[Any, frozenset[str]]] = {
    # table -> (the column naming what to refresh, the columns the rows depend on)
    "tukangprofile": (_profile.c.user_id, PROFILE_COLUMNS),
    "user": (_user.c.id, USER_COLUMNS),
    "skill": (_skill.c.code, SKILL_COLUMNS),
    "skillcategory": (_link.c.skill_code, LINK_COLUMNS),
}
_PRIMARY = {"tukangprofile": _profile.c.id, "user": _user.c.id, "skill": _skill.c.code}


def _touches(stmt: UpdateBase, columns: frozenset[str]) -> bool:
    """Whether an UPDATE sets a column the rows depend on (unknown: yes)."""
    values = getattr(stmt, "_values", None)  # what .values() was given, column or name keys
    if not values:
        return True
    return any((k if isinstance(k, str) else getattr(k, "key", None)) in columns
               for k in values)


def _params(state: ORMExecuteState) -> list[Mapping[str, Any]]:
    params = state.parameters
    if not params:
        return []
    if isinstance(params, Mapping):
        return [params]
    return list(params)


def _matched(conn: Connection, state: ORMExecuteState, name: str) -> set[Any]:
    """The keys of the rows an UPDATE or DELETE is about to touch."""
    key, _ = _WATCHED[name]
    stmt = state.statement
    where = getattr(stmt, "whereclause", None)
    params = _params(state)
    primary = _PRIMARY.get(name)
    if params:
        # ORM bulk UPDATE by primary key: one parameter set per row, the key among them
        if where is not None or primary is None or not all(primary.key in p for p in params):
            raise _Unknown
        ids = [p[primary.key] for p in params]
        query = select(key).where(primary.in_(ids))
    else:
        query = select(key) if where is None else select(key).where(where)
    return set(conn.execute(query).scalars())


def _inserted(state: ORMExecuteState, name: str) -> set[Any]:
    """The keys an INSERT writes, from its parameters or its `.values()`."""
    key, _ = _WATCHED[name]
    rows = _params(state)
    if not rows:
        values = getattr(state.statement, "_values", None) or {}
        rows = [{(k if isinstance(k, str) else k.key): getattr(v, "value", v)
                 for k, v in values.items()}]
    if not rows or not all(key.key in r for r in rows):
        raise _Unknown
    return {r[key.key] for r in rows}


def _on_execute(state: ORMExecuteState) -> Result[Any] | None:
    """Run an INSERT/UPDATE/DELETE on a watched table, then refresh the tukang it touched."""
    if not (state.is_insert or state.is_update or state.is_delete):
        return None
    name = getattr(getattr(state.statement, "table", None), "name", None)
    if name not in _WATCHED or (state.is_insert and name in ("user", "skill")):
        return None  # a new user has no profile yet, a new skill serves no category yet
    stmt = state.statement
    assert isinstance(stmt, UpdateBase)
    if state.is_update and not _touches(stmt, _WATCHED[name][1]):
        return None
    session = state.session
    if session.autoflush:
        session.flush()  # the statement would flush first; read the keys after that
    conn = session.connection()
    try:
        keys: set[Any] | None = None if state.is_insert else _matched(conn, state, name)
    except _Unknown:
        keys = None
    result = state.invoke_statement()
    if keys is None and state.is_insert:
        try:
            keys = _inserted(state, name)
        except _Unknown:
            keys = None
    if keys is None:
        rebuild_service(conn)
    elif keys:
        if name in ("skill", "skillcategory"):
            keys = tukang_with_skills(conn, keys)
        refresh_service(conn, keys)
    return result


def install() -> None:
    """Listen on every `Session` (and so every `AsyncSession`); a second call does nothing."""
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "do_orm_execute", _on_execute)
