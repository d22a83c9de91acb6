"""The PostgreSQL the benches use when it answers (the CI machine's: 127.0.0.1:5432, user
postgres, trust auth), and the admin statements that make and drop their databases."""

from __future__ import annotations

import socket
from typing import Any

import asyncpg

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"


def pg_answers() -> bool:
    """Whether PostgreSQL answers; the benches then measure it too."""
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=0.5):
            return True
    except OSError:
        return False


def pg_url(database: str) -> str:
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


async def pg_admin(sql: str, *args: Any) -> list[asyncpg.Record]:
    """One statement on the `postgres` database (CREATE/DROP DATABASE cannot run in one)."""
    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres")
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()
