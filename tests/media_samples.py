"""Small real files for the media tests, made with Pillow once per run: what people may send
(JPEG, PNG, PDF) and what must be refused whatever it claims to be (BMP, GIF, WebP, SVG, HTML,
an ELF binary, a truncated PNG)."""

from __future__ import annotations

import io

from PIL import Image


def picture(fmt: str, size: tuple[int, int] = (48, 32), color: str = "teal") -> bytes:
    """A small picture in Pillow's format `fmt` ("JPEG", "PNG", "BMP", "GIF", "WEBP")."""
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, fmt)
    return out.getvalue()


def padded_jpeg(total: int) -> bytes:
    """A valid JPEG of about `total` bytes (a comment segment of noise would be too regular to
    compress; the bytes after the end marker are ignored by every decoder, as phone cameras'
    trailers are)."""
    head = picture("JPEG", (64, 64))
    return head + bytes(i % 251 for i in range(max(0, total - len(head))))


JPEG = picture("JPEG")
JPEG_2 = picture("JPEG", color="orange")
PNG = picture("PNG")
BMP = picture("BMP")
GIF = picture("GIF")
WEBP = picture("WEBP")
PDF = (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
       b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
SVG = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
       b'<script>alert(1)</script></svg>')
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + bytes(range(256)) * 4
BROKEN_PNG = PNG[: len(PNG) // 2]  # a PNG header, a body cut short

# (what it is, its bytes, the type a client claims): each must be refused
HOSTILE = [("bmp", BMP, "image/bmp"), ("gif", GIF, "image/gif"), ("webp", WEBP, "image/webp"),
           ("svg", SVG, "image/svg+xml"), ("html-as-jpeg", HTML, "image/jpeg"),
           ("elf-as-png", ELF, "image/png"), ("broken-png", BROKEN_PNG, "image/png")]
