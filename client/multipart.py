"""A multipart/form-data body streamed from files on disk, with its exact length known first.

The length is needed up front: it goes in Content-Length (the server refuses a request over
its limit from that header), and it is what the batches are split by. The body is produced a
chunk at a time, so a large upload is never held in memory and progress can be counted per
byte sent.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

CHUNK_BYTES = 256 << 10  # a file is read and sent 256 KiB at a time
CRLF = b"\r\n"


class FileChanged(OSError):
    """A file is shorter than it was when the body's length was taken."""


def new_boundary() -> str:
    """A boundary no scan will contain by chance (random, 128 bits)."""
    return f"digits-client-{secrets.token_hex(16)}"


def _quoted(name: str) -> str:
    """A name as browsers put it in a Content-Disposition header: quote and line breaks escaped."""
    return name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def field_part(boundary: str, name: str, value: str) -> bytes:
    """One form field, whole (options are small)."""
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="{_quoted(name)}"\r\n\r\n'
    return head.encode() + value.encode() + CRLF


def file_head(boundary: str, name: str, filename: str) -> bytes:
    """The head of one file part; the file's bytes and a CRLF follow it."""
    return (f'--{boundary}\r\nContent-Disposition: form-data; name="{_quoted(name)}"; '
            f'filename="{_quoted(filename)}"\r\nContent-Type: application/octet-stream\r\n\r\n').encode()


def closing(boundary: str) -> bytes:
    return f"--{boundary}--\r\n".encode()


@dataclass(frozen=True)
class Body:
    """Form fields first (the server reads options before the files), then the files."""

    boundary: str
    fields: Sequence[tuple[str, str]]
    files: Sequence[Path]
    file_field: str = "files"
    sizes: tuple[int, ...] = ()  # the files' sizes when the body was made (see `make`)

    @classmethod
    def make(cls, fields: Sequence[tuple[str, str]], files: Sequence[Path]) -> Body:
        """A body with a new boundary; each file's size is taken now and must not change."""
        return cls(new_boundary(), tuple(fields), tuple(files), sizes=tuple(p.stat().st_size for p in files))

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def fixed_length(self) -> int:
        """Bytes of the body that are not files: the fields and the closing boundary."""
        return sum(len(field_part(self.boundary, k, v)) for k, v in self.fields) + len(closing(self.boundary))

    def file_length(self, path: Path, size: int | None = None) -> int:
        """Bytes one file adds to the body: its part's head, its content, a CRLF."""
        size = path.stat().st_size if size is None else size
        return len(file_head(self.boundary, self.file_field, path.name)) + size + len(CRLF)

    def length(self) -> int:
        return self.fixed_length() + sum(self.file_length(p, n) for p, n in zip(self.files, self.sizes))

    def chunks(self) -> Iterator[bytes]:
        """The body, a piece at a time; files are read as they are sent."""
        for name, value in self.fields:
            yield field_part(self.boundary, name, value)
        for path, size in zip(self.files, self.sizes):
            yield file_head(self.boundary, self.file_field, path.name)
            left = size
            with path.open("rb") as stream:
                while left and (chunk := stream.read(min(CHUNK_BYTES, left))):
                    left -= len(chunk)
                    yield chunk
            if left:  # the promised Content-Length can no longer be kept
                raise FileChanged(f"{path}: it became shorter while it was being sent")
            yield CRLF
        yield closing(self.boundary)
