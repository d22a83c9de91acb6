"""Reference data in memory (storage/reference.py): a change made in this process shows at
once, one made by another process (the admin CLI) within the cache's lifetime."""

from __future__ import annotations

import sqlite3

from sqlalchemy.engine import make_url

from storage.reference import TTL
from tests.factories import make_article
from tests.harness import Harness, register_warga


def _publish_elsewhere(t: Harness, title: str, topic: str) -> None:
    """An article written by another process: a plain sqlite3 connection, no session."""
    con = sqlite3.connect(make_url(t.db.url).database or "")
    with con:
        con.execute("INSERT INTO infoarticle (title, topic, body, published, published_at, "
                    "created_by, created_at, updated_at) VALUES (?, ?, 'Isi.', 1, "
                    "'2026-11-23 01:00:00.000000', 'admin:siti', '2026-11-23 01:00:00.000000', "
                    "'2026-11-23 01:00:00.000000')", (title, topic))
    con.close()


async def test_topics_follow_changes_here_at_once_and_elsewhere_within_the_ttl(
        t: Harness) -> None:
    await make_article(t, "Cara mengurus PBG", "Perizinan")
    await register_warga(t, "budi")
    await t.press("budi", "Info jasa konstruksi")
    assert t.last("budi").labels == ["Perizinan (1)", "Kembali ke menu"]
    await t.press("budi", "Kembali ke menu")

    await make_article(t, "Memilih tukang", "Tips")  # this process: the cache is dropped
    await t.press("budi", "Info jasa konstruksi")
    assert t.last("budi").labels == ["Perizinan (1)", "Tips (1)", "Kembali ke menu"]
    await t.press("budi", "Kembali ke menu")

    _publish_elsewhere(t, "K3 di lokasi", "Keselamatan")
    await t.press("budi", "Info jasa konstruksi")
    assert t.last("budi").labels == ["Perizinan (1)", "Tips (1)", "Kembali ke menu"]
    await t.press("budi", "Kembali ke menu")
    t.clock.advance(seconds=TTL.total_seconds())
    await t.press("budi", "Info jasa konstruksi")
    assert t.last("budi").labels == ["Keselamatan (1)", "Perizinan (1)", "Tips (1)",
                                     "Kembali ke menu"]
