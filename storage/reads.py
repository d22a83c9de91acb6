"""Reads a step makes on every visit, compiled once and run on the database driver.

A list shown on every "Pesanan saya" cost more through the ORM than the whole rest of the
message: building the `select` (SQLAlchemy's coercions and operators), then about four
aiosqlite thread hops through the async adapter (docs/PERFORMANCE.md). A `Read` is built once
at import, compiled once per dialect, and runs on the batch's own driver connection in one
hop (one prepared statement on asyncpg), inside the batch's transaction.

Only columns whose driver values are already what the ORM would give (no result processor
for the dialect: integers and text, not times or JSON) may be read this way, and only
parameters the driver takes as they are (no bind processor, no expanding `IN`): nothing
converts values either way, so compiling refuses anything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Select


class Read:
    """A `select` with named bind parameters, compiled once per dialect."""

    def __init__(self, stmt: Select[*tuple[Any, ...]]) -> None:
        self.stmt = stmt
        self._compiled: dict[str, tuple[str, list[str], dict[str, Any]]] = {}

    def sql(self, dialect: Dialect, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
        """The statement's text for `dialect` and its positional parameters."""
        key = f"{dialect.name}+{dialect.driver}"  # placeholders differ between drivers
        compiled = self._compiled.get(key)
        if compiled is None:
            for column in self.stmt.selected_columns:
                if column.type.dialect_impl(dialect).result_processor(dialect, None):
                    raise TypeError(f"{column} ({column.type}) needs converting on {dialect.name}")
            c = self.stmt.compile(dialect=dialect)
            for bind in c.binds.values():
                if bind.expanding or bind.literal_execute or \
                        bind.type.dialect_impl(dialect).bind_processor(dialect):
                    raise TypeError(f"parameter {bind.key} ({bind.type}) is not sent as it is "
                                    f"on {dialect.name}")
            fixed = {name: value for name, value in c.params.items() if value is not None}
            compiled = self._compiled[key] = (c.string, list(c.positiontup or ()), fixed)
        text, order, fixed = compiled
        # a parameter neither given nor fixed in the statement (LIMIT's) is a KeyError
        return text, [params[n] if n in params else fixed[n] for n in order]
