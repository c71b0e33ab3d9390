"""Files written byte by byte, as a careless or hostile client might send them: a PDF object by
object, PNG chunks, a PDF of nested forms that takes its renderer fan^depth drawings. Used by
the file tests and by `make soak`."""

from __future__ import annotations

import struct
import zlib

CATALOG = b"<< /Type /Catalog /Pages 2 0 R >>"
ONE_PAGE_TREE = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def hand_pdf(objects: list[bytes], trailer: bytes = b"") -> bytes:
    """A PDF written object by object, with a correct cross-reference table."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R %s>>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, trailer, xref)
    return bytes(out)


def nested_forms_pdf(fan: int, depth: int) -> bytes:
    """One page drawing a form that draws `fan` copies of a form that draws `fan` copies ... of
    a line, `depth` forms deep: a few kilobytes that take PDFium fan^depth drawings."""
    objects = [CATALOG, ONE_PAGE_TREE,
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] "
               b"/Resources << /XObject << /F0 5 0 R >> >> /Contents 4 0 R >>",
               b"<< /Length 10 >>\nstream\nq /F0 Do Q\nendstream"]
    for level in range(depth):
        last = level == depth - 1
        body = b"0 0 m 10 10 l S" if last else b" ".join([b"q /F0 Do Q"] * fan)
        resources = b"" if last else b"/Resources << /XObject << /F0 %d 0 R >> >>" % (6 + level)
        objects.append(b"<< /Type /XObject /Subtype /Form /BBox [0 0 200 100] %s /Length %d >>\n"
                       b"stream\n%s\nendstream" % (resources, len(body), body))
    return hand_pdf(objects)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def grey_png_header(width: int, height: int) -> bytes:
    """The signature and IHDR chunk of an 8-bit grey PNG of width×height."""
    return PNG_SIGNATURE + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
