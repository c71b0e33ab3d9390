"""Originals, stored by content: `<data>/originals/ab/cd/<sha256>`.

Files are streamed to a temporary file while hashed, fsynced, then moved into place, so an
original is on disk before any database row points at it. The same bytes uploaded twice are
stored once. Paths come from hashes only: nothing a user sends reaches the file system.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 20
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class TooLarge(Exception):
    """The stream went past its size limit."""


@dataclass(frozen=True)
class Stored:
    sha256: str
    size: int
    head: bytes  # the first bytes, for recognising the file type


class Storage:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.tmp = self.root / "tmp"

    def path(self, sha256: str) -> Path:
        if not SHA256.fullmatch(sha256):
            raise ValueError(f"not a SHA-256 content address: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def spool(self) -> Spool:
        """A new file to receive an upload into, hashed as it is written (see Spool)."""
        self.tmp.mkdir(parents=True, exist_ok=True)
        return Spool(self.tmp)

    def put_stream(self, stream: BinaryIO, limit: int | None = None) -> Stored:
        """Store what `stream` yields; raises TooLarge past `limit` bytes (nothing is kept).
        A Spool of this store is moved into place instead of copied."""
        if isinstance(stream, Spool) and stream.hashed and Path(stream.name).parent == self.tmp:
            return self._adopt(stream, limit)
        return self.put_chunks(iter(lambda: stream.read(CHUNK), b""), limit)

    def _adopt(self, spool: Spool, limit: int | None) -> Stored:
        if limit is not None and spool.size > limit:
            spool.close()  # not adopted: the file is deleted
            raise TooLarge(f"more than {limit} bytes")
        spool.flush()
        os.fsync(spool.fileno())
        final = self.path(spool.sha256)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(spool.name, final)
        spool.adopted = True
        fsync_dir(final.parent)
        return Stored(spool.sha256, spool.size, spool.head)

    def put_chunks(self, chunks: Iterable[bytes], limit: int | None = None) -> Stored:
        self.tmp.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        head = b""
        fd, tmp_name = tempfile.mkstemp(dir=self.tmp, prefix="upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    size += len(chunk)
                    if limit is not None and size > limit:
                        raise TooLarge(f"more than {limit} bytes")
                    if len(head) < 4096:
                        head += chunk[: 4096 - len(head)]
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha256 = digest.hexdigest()
            final = self.path(sha256)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp_name, final)
            fsync_dir(final.parent)
            return Stored(sha256, size, head)
        finally:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)

    def put_bytes(self, data: bytes) -> Stored:
        return self.put_chunks([data])


def fsync_dir(path: Path) -> None:
    """Make the renames and new names in folder `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_whole(path: Path, text: str) -> None:
    """Write a small file so that it is either complete or absent after a crash (written
    beside it, synced, then renamed over it)."""
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


class Spool(io.BufferedRandom):
    """A file an upload is written into as it arrives (the web's multipart parser writes each
    file part here), in the store's temporary folder and hashed on the way: storing it is then
    a rename, not a second copy of every byte. Closed without being stored, it is deleted."""

    def __init__(self, folder: Path) -> None:
        fd, path = tempfile.mkstemp(dir=folder, prefix="upload-")
        raw = io.FileIO(fd, "r+")
        raw.name = path  # type: ignore[misc]  # what `name` gives: the path, not the descriptor
        super().__init__(raw, buffer_size=CHUNK)
        self._digest = hashlib.sha256()
        self.size = 0
        self.head = b""
        self.hashed = True  # all bytes were written in order, so the hash is of the file
        self.adopted = False

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if self.hashed and self.tell() != self.size:
            self.hashed = False  # written out of order: Storage copies it the ordinary way
        written = super().write(data)
        if self.hashed:
            view = memoryview(data)[:written]
            self._digest.update(view)
            if len(self.head) < 4096:
                self.head += bytes(view[: 4096 - len(self.head)])
            self.size += written
        return written

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def close(self) -> None:
        try:
            super().close()
        finally:
            if not self.adopted and os.path.exists(self.name):
                os.unlink(self.name)
