"""Files people send: typed by their bytes, streamed to disk under a size cap, a few at a time.

Adapters fetch with `fetch` (an HTTP download) or `download` (any stream of chunks); flows only
ever see a `Media` whose path is a checked JPEG, PNG or PDF under SIJAKON_DATA_DIR/media.

- **What a client says a file is decides only whether to look at it** (`classify`): a photo,
  an image of any kind, a PDF or an unnamed blob is downloaded and judged by its content;
  voice notes and videos are never downloaded (the step answers them, as a non-image `Media`
  without a file); any other declared type is refused unread.
- **What is kept is decided by the content** (`content_type`): the magic numbers (`filetype`),
  then Pillow opens and verifies JPEG and PNG; a PDF is one that starts with `%PDF-`. HTML
  sent as image/jpeg, an ELF binary as image/png, SVG, BMP, GIF, WebP or HEIC raise
  `Unsupported`, which the adapter turns into the "file_unsupported" event: one clear answer
  ("kirim foto JPG/PNG atau PDF"), no file, nothing counted. WebP is refused on purpose:
  Telegram sends it only as stickers, and a WhatsApp tukang could not receive it.
- **Memory stays flat**: a download is written in chunks to `media/.incoming/` and counted
  against the cap as it comes (`TooLarge` the moment it passes, whatever Content-Length
  said); at most `MAX_DOWNLOADS` run at once in a process (`slot`). Four webhooks with ten
  9.5 MB photos each grow the bot's RSS by a few MB (bench/media.py, docs/reliability.md).

Files that no row ends up pointing at (a photo sent at the menu, a conversation abandoned, a
crash between download and commit) are removed by the scheduled sweep
(storage/media_sweep.py); `discard_paths` lets the engine drop them at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
import weakref
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from datetime import datetime
from pathlib import Path
from typing import Literal

import filetype
import httpx
from PIL import Image

from flows.types import Media

log = logging.getLogger(__name__)

# what we keep, by the type the content proved, with the extension the file gets
ACCEPTED = {"image/jpeg": ".jpg", "image/png": ".png", "application/pdf": ".pdf"}
_PILLOW = {"image/jpeg": "JPEG", "image/png": "PNG"}
# declared types that may turn out to be one we keep: looked at; anything else is refused unread
_MAYBE = {"", "application/octet-stream", "binary/octet-stream", "application/pdf",
          "application/x-pdf"}
MAX_DOWNLOADS = 8  # per process: enough for one WhatsApp message's 10 files, bounded for 40
CHUNK = 64 * 1024
INCOMING = ".incoming"  # partial downloads, beside the month folders (same filesystem: rename)
HEAD = 8192  # what `filetype` reads

Kind = Literal["file", "not_a_file", "refuse"]


class MediaRejected(Exception):
    """A file we do not keep; the message says why, for the log (never the person's data)."""


class TooLarge(MediaRejected):
    """Over SIJAKON_MAX_MEDIA_BYTES (declared or counted while downloading)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"too large: {size} bytes")
        self.size = size


class Unsupported(MediaRejected):
    """Not a JPEG, PNG or PDF by its content; `found` is what it looked like."""

    def __init__(self, found: str) -> None:
        super().__init__(f"not a JPEG, PNG or PDF: {found}")
        self.found = found


def bare_type(content_type: str | None) -> str:
    """"Image/JPEG; charset=x" -> "image/jpeg"."""
    return (content_type or "").split(";")[0].strip().lower()


def classify(declared: str | None) -> Kind:
    """What to do with a file the client calls `declared`: look at it ("file"), pass it on
    without a file for the step to answer ("not_a_file": voice notes, videos), or refuse it
    unread ("refuse": a vCard, a Word document, a zip...)."""
    ctype = bare_type(declared)
    if ctype in _MAYBE or ctype.startswith("image/"):
        return "file"
    if ctype.startswith(("audio/", "video/")):
        return "not_a_file"
    return "refuse"


def passed_on(declared: str | None, size: int | None = None) -> Media:
    """A voice note or a video as the step sees it: no file, and never an image type, so no
    photo step counts it."""
    ctype = bare_type(declared) or "application/octet-stream"
    if ctype.startswith("image/"):
        ctype = "application/octet-stream"
    return Media(path="", content_type=ctype, size=size or 0)


# --- how many at once --------------------------------------------------------------------------

_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = \
    weakref.WeakKeyDictionary()


def slot() -> asyncio.Semaphore:
    """The process's download slots (one semaphore per event loop: a test's loop never shares
    one with the next test's)."""
    loop = asyncio.get_running_loop()
    sem = _slots.get(loop)
    if sem is None:
        sem = _slots[loop] = asyncio.Semaphore(MAX_DOWNLOADS)
    return sem


# --- deciding by content -----------------------------------------------------------------------


def content_type(path: Path) -> str:
    """The type `path` proves to be, one of `ACCEPTED`; raises `Unsupported` otherwise."""
    with path.open("rb") as f:
        head = f.read(HEAD)
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    found = filetype.guess_mime(head) or ("text" if _texty(head) else "unknown")
    fmt = _PILLOW.get(found)
    if fmt is None:
        raise Unsupported(found)
    try:  # Pillow parses the headers (and PNG's chunk checksums); only this one decoder
        with Image.open(path, formats=[fmt]) as im:
            im.verify()
    except Exception:  # whatever a broken or hostile file makes the decoder raise
        raise Unsupported(f"broken {found}") from None
    return found


def _texty(head: bytes) -> bool:
    """SVG, HTML, scripts: printable text where an image would be binary (for the log)."""
    sample = head[:512].lstrip()
    return bool(sample) and all(b in b"\t\n\r" or 32 <= b < 127 for b in sample[:64])


def keep(part: Path, media_dir: Path, *, size: int, now: datetime) -> Media:
    """Judge a finished download and move it into the month's folder under a new
    unguessable name with the extension of what it is; the partial file goes either way."""
    try:
        ctype = content_type(part)
        folder = media_dir / now.strftime("%Y-%m")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{uuid.uuid4().hex}{ACCEPTED[ctype]}"
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)
    return Media(path=str(path), content_type=ctype, size=size)


async def download(chunks: AsyncIterable[bytes], media_dir: Path, *, max_bytes: int,
                   now: datetime) -> Media:
    """Write `chunks` to a partial file, counting them against `max_bytes` (`TooLarge` as soon
    as it passes), then `keep` it (`Unsupported` when it is none of ours). Nothing is left on
    disk when it fails or is cancelled."""
    incoming = media_dir / INCOMING
    incoming.mkdir(parents=True, exist_ok=True)
    part = incoming / f"{uuid.uuid4().hex}.part"
    size = 0
    try:
        # plain writes: a 64 KB chunk into the page cache takes microseconds, less than a
        # thread hop would
        with part.open("wb") as f:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(size)
                f.write(chunk)
        return await asyncio.to_thread(keep, part, media_dir, size=size, now=now)
    finally:
        part.unlink(missing_ok=True)


async def fetch(client: httpx.AsyncClient, url: str, media_dir: Path, *, max_bytes: int,
                now: datetime, auth: tuple[str, str] | None = None) -> Media:
    """Download `url` in one of the process's slots (`download`); a declared Content-Length
    over the cap is refused before the body is read. Raises `TooLarge`, `Unsupported`,
    `httpx.HTTPError` (the adapter says "send it again") or `OSError` (the disk)."""
    async with slot(), client.stream("GET", url, auth=auth) as resp:
        resp.raise_for_status()
        length = resp.headers.get("content-length", "")
        if length.isdigit() and int(length) > max_bytes:
            raise TooLarge(int(length))
        return await download(resp.aiter_bytes(CHUNK), media_dir, max_bytes=max_bytes, now=now)


async def read_file(path: Path) -> AsyncIterator[bytes]:
    """A local file as chunks (a self-hosted Bot API server in --local mode gives paths)."""
    f = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(f.read, CHUNK):
            yield chunk
    finally:
        f.close()


# --- letting go ----------------------------------------------------------------------------------


def discard(media: Iterable[Media]) -> None:
    """Delete files stored for a message that will not reach a flow (nothing is kept of it)."""
    for m in media:
        if m.path:
            Path(m.path).unlink(missing_ok=True)


def discard_paths(paths: Iterable[str], media_dir: Path) -> int:
    """Delete files a conversation did not keep (the engine's callback for a message whose step
    takes no media); only files under `media_dir`, whatever a path says. Returns how many."""
    root = media_dir.resolve()
    gone = 0
    for p in paths:
        full = Path(p).resolve()
        if not p or not full.is_relative_to(root):
            continue
        with contextlib.suppress(FileNotFoundError):
            full.unlink()
            gone += 1
    return gone
