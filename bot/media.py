"""Saving files people send: under SIJAKON_DATA_DIR/media, size-capped, type-checked.

Adapters download and call `store`; flows only ever see a `Media` with a local path.
"""

from __future__ import annotations

import mimetypes
import uuid
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from flows.types import Media

ALLOWED = {"image/jpeg", "image/png", "image/webp", "image/gif", "image/heic",
           "application/pdf"}


class MediaRejected(Exception):
    """Too large or of a type we do not keep; the message says which, for the log."""


def extension(content_type: str) -> str:
    ext = mimetypes.guess_extension(content_type.split(";")[0].strip()) or ".bin"
    return ".jpg" if ext in (".jpe", ".jpeg") else ext


def store(media_dir: Path, data: bytes, content_type: str, *, max_bytes: int,
          now: datetime) -> Media:
    """Write `data` to a new unguessable file in a per-month folder; refuse what we don't keep."""
    ctype = content_type.split(";")[0].strip().lower()
    if len(data) > max_bytes:
        raise MediaRejected(f"too large: {len(data)} > {max_bytes} bytes")
    if ctype not in ALLOWED:
        # still record it, so the flow can answer "that is not a photo" politely
        return Media(path="", content_type=ctype or "application/octet-stream", size=len(data))
    month = now.strftime("%Y-%m")
    folder = media_dir / month
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}{extension(ctype)}"
    path.write_bytes(data)
    return Media(path=str(path), content_type=ctype, size=len(data))


def discard(media: Iterable[Media]) -> None:
    """Delete files stored for a message that will not reach a flow (nothing is kept of it)."""
    for m in media:
        if m.path:
            Path(m.path).unlink(missing_ok=True)
