"""The console channel: a local chat in the terminal, through the real engine and outbox.

`NAME> text` speaks as NAME, a line without a prefix as the last speaker, and
`NAME> /photo PATH` sends a picture, `NAME> /file PATH` a document such as a PDF (any file:
the type comes from its name, and the flows decide what they accept). Every
message delivered to NAME prints as a block headed `[NAME]` with choices as numbered lines.
With stdin from a pipe it reads one line at a time and exits at end of input once the outbox
is drained, so the console doubles as a scripting interface.
"""

from __future__ import annotations

import asyncio
import mimetypes
import re
import shutil
import sys
import uuid
from pathlib import Path
from typing import TextIO

from bot.delivery import OutRow
from bot.runtime import Runtime
from flows.render import to_plain
from flows.types import Inbound, Media

CHANNEL = "console"
_SPEAKER = re.compile(r"^([A-Za-z0-9_.-]{1,32})>\s?(.*)$")
DEFAULT_SPEAKER = "warga"


class ConsoleSender:
    """Prints each outbox row as a block; choices become numbered lines."""

    channel = CHANNEL
    rate = 1000.0
    chat_rate = None
    chat_burst = 1

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out

    async def send(self, row: OutRow) -> str | None:
        self.out.write(render_block(row))
        self.out.flush()
        return None


def render_block(row: OutRow) -> str:
    lines = [f"[{row.address}]", to_plain(row.reply.text)]
    lines += [f"  ({'file' if p.lower().endswith('.pdf') else 'foto'}: {p})"
              for p in row.reply.media]
    lines += [f"  {i}. {label}" for i, (_, label) in enumerate(row.reply.choices, start=1)]
    return "\n".join(lines) + "\n\n"


def parse_line(line: str, last: str) -> tuple[str, str]:
    """(speaker, text) for one console line."""
    m = _SPEAKER.match(line.strip())
    if m:
        return m.group(1), m.group(2).strip()
    return last, line.strip()


def save_media(src: str, media_dir: Path) -> Media | None:
    path = Path(src).expanduser()
    if not path.is_file():
        return None
    media_dir.mkdir(parents=True, exist_ok=True)
    dest = media_dir / f"{uuid.uuid4().hex}{path.suffix.lower()}"
    shutil.copyfile(path, dest)
    ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return Media(path=str(dest), content_type=ctype, size=dest.stat().st_size)


async def run_console(rt: Runtime, stream: TextIO = sys.stdin, out: TextIO = sys.stdout) -> int:
    """Read lines until end of input; returns the number of lines handled."""
    lock = asyncio.Lock()

    async def drain() -> None:
        async with lock:
            await rt.worker.drain()

    async def background() -> None:  # offers expiring, reminders: whatever the timers produce
        while True:
            await asyncio.sleep(2)
            await rt.scheduler.tick()
            await drain()

    interactive = stream.isatty()
    if interactive:
        out.write("SIJAKON console. Tulis 'nama> pesan' untuk berbicara sebagai nama; "
                  "Ctrl-D untuk keluar.\n")
        out.flush()
    ticker = asyncio.create_task(background()) if interactive else None
    loop = asyncio.get_running_loop()
    speaker, handled = DEFAULT_SPEAKER, 0
    try:
        while True:
            line = await loop.run_in_executor(None, stream.readline)
            if not line:
                break
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            speaker, text = parse_line(line, speaker)
            media: tuple[Media, ...] = ()
            command = next((c for c in ("/photo", "/file")
                            if text == c or text.startswith(c + " ")), None)
            if command is not None:
                source = text.removeprefix(command).strip()
                saved = save_media(source, rt.settings.media_dir)
                if saved is None:
                    out.write(f"(file tidak ditemukan: {source})\n")
                    continue
                media, text = (saved,), ""
            await rt.engine.handle(Inbound(channel=CHANNEL, address=speaker,
                                           external_id=uuid.uuid4().hex, text=text,
                                           media=media))
            handled += 1
            await drain()
    finally:
        if ticker is not None:
            ticker.cancel()
        await drain()
    return handled
