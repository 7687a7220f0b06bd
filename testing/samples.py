"""Sample files and taxpayer messages shared by the tests."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image
from pypdf import PdfWriter

REQUEST = {
    "hans": "3月我需要更正所属期为2019年12月的增值税申报表",
    "hant": "3月我需要更正所屬期為2019年12月的增值稅申報表",
}
BAD_ID = "91650100MA78ABCD1B"
GOOD_ID = "91650100MA78ABCD1A"


def make_pdf(pages: int = 1, *, password: str | None = None) -> bytes:
    """A real PDF (pypdf), optionally encrypted."""
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    if password is not None:
        writer.encrypt(user_password=password, owner_password="owner", algorithm="RC4-128")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def make_scanned_pdf(width: int = 600, height: int = 800) -> bytes:
    """A one-page PDF made of one image, as a phone's scanner app makes it."""
    buf = io.BytesIO()
    Image.open(io.BytesIO(make_jpeg(width, height))).save(buf, "PDF", resolution=72)
    return buf.getvalue()


def make_jpeg(width: int = 800, height: int = 600) -> bytes:
    """A JPEG photo with some content."""
    im = Image.new("RGB", (width, height), (200, 180, 160))
    for x in range(0, width, 40):
        for y in range(0, height, 40):
            im.putpixel((x, y), (x % 255, y % 255, 90))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def png_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A PNG that claims 900 megapixels and holds almost nothing."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
