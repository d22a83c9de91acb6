"""bot/media.py on its own: a download is counted against the cap as it arrives and leaves
nothing behind when refused or cancelled; at most `MAX_DOWNLOADS` run at once; `discard_paths`
deletes only under the media folder."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot import media
from tests import media_samples as samples
from tests.factories import NOW

MB = 1024 * 1024


def left(media_dir: Path) -> list[Path]:
    return [p for p in media_dir.rglob("*") if p.is_file()]


async def test_a_stream_over_the_cap_stops_being_read(tmp_path: Path) -> None:
    """200 MB offered, 10 MB allowed: refused once ~10 MB were read, nothing left on disk."""
    taken = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal taken
        while taken < 200 * MB:
            taken += media.CHUNK
            yield b"\xff" * media.CHUNK

    with pytest.raises(media.TooLarge):
        await media.download(endless(), tmp_path, max_bytes=10 * MB, now=NOW)
    assert taken <= 10 * MB + media.CHUNK
    assert left(tmp_path) == []


async def test_a_cancelled_download_leaves_nothing(tmp_path: Path) -> None:
    """A download cut off (Twilio's deadline) removes its partial file."""
    started = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield samples.JPEG[:100]
        started.set()
        await asyncio.Event().wait()
        yield b""

    task = asyncio.create_task(media.download(slow(), tmp_path, max_bytes=MB, now=NOW))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert left(tmp_path) == []


async def test_at_most_max_downloads_at_once(tmp_path: Path) -> None:
    """40 files asked for at once (four messages of ten): never more than MAX_DOWNLOADS
    requests in flight, and every file kept."""
    running = peak = 0

    async def serve(request: httpx.Request) -> httpx.Response:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        return httpx.Response(200, content=samples.JPEG)

    async with httpx.AsyncClient(transport=httpx.MockTransport(serve)) as client:
        got = await asyncio.gather(*(media.fetch(client, f"https://media.test/{i}", tmp_path,
                                                 max_bytes=MB, now=NOW) for i in range(40)))
    assert peak == media.MAX_DOWNLOADS
    assert len({m.path for m in got}) == 40 and all(m.content_type == "image/jpeg" for m in got)


async def test_a_declared_length_over_the_cap_is_not_read(tmp_path: Path) -> None:
    """A Content-Length over the cap is refused before the body."""
    async def serve(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": str(50 * MB)}, content=b"")

    async with httpx.AsyncClient(transport=httpx.MockTransport(serve)) as client:
        with pytest.raises(media.TooLarge):
            await media.fetch(client, "https://media.test/x", tmp_path, max_bytes=MB, now=NOW)


def test_discard_paths_stays_inside_the_media_folder(tmp_path: Path) -> None:
    """The engine's callback deletes the files it names under the media folder, nothing else."""
    media_dir = tmp_path / "media"
    inside = media_dir / "2026-11" / "a.jpg"
    inside.parent.mkdir(parents=True)
    inside.write_bytes(samples.JPEG)
    outside = tmp_path / "sijakon.db"
    outside.write_bytes(b"db")
    sneaky = str(media_dir / ".." / "sijakon.db")
    assert media.discard_paths([str(inside), sneaky, str(outside), ""], media_dir) == 1
    assert not inside.exists() and outside.exists()
