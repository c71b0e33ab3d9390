"""From uploaded files to the documents of a batch: stored originals, ZIPs opened, bad files
named with what is wrong with them.

A ZIP is opened in memory-safe steps: member count, total expanded size and compression ratio
are checked from its directory before anything is decompressed, member paths are never used on
the file system (they only name the documents), and ZIPs inside ZIPs are opened to a bounded
depth under the same budget.
"""

from __future__ import annotations

import lzma
import posixpath
import re
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from core.files import MEDIA_TYPES, sniff
from core.storage import Storage, Stored, TooLarge

MAX_NAME_CHARS = 255
MAX_EXTENSION_CHARS = 16  # longer text after the last dot is no extension: cut like the rest
SKIPPED_MEMBERS = ("__MACOSX/", ".DS_Store", "Thumbs.db")  # archivers' litter, not documents
# What zipfile and its decompressors raise on a damaged or unsupported archive or member
# (ValueError: names that are not valid UTF-8; RuntimeError: encrypted).
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, RuntimeError, ValueError,
              NotImplementedError, zlib.error, lzma.LZMAError)


@dataclass(frozen=True)
class ZipLimits:
    max_members: int = 1000
    max_uncompressed_bytes: int = 1 << 30
    max_ratio: int = 200
    max_depth: int = 2


@dataclass(frozen=True)
class Incoming:
    """One document to create: stored and of a known type, or with the reason it cannot be."""

    name: str
    stored: Stored | None = None
    kind: str | None = None
    error: str | None = None

    @property
    def media_type(self) -> str | None:
        return MEDIA_TYPES.get(self.kind or "")


@dataclass
class _Budget:
    """What all ZIPs of one upload, nested ones included, may expand to together."""

    members: int = 0
    expanded: int = 0


def clean_name(raw: str | None, fallback: str = "upload") -> str:
    """A displayable document name: no directories, no control characters, at most 255
    characters (keeping the extension). Non-ASCII is kept."""
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    if not name or name in (".", ".."):
        name = fallback
    if len(name) > MAX_NAME_CHARS:
        stem, dot, ext = name.rpartition(".")
        if not dot or len(ext) > MAX_EXTENSION_CHARS:
            stem, ext = name, ""
        suffix = "." + ext if ext else ""
        name = stem[: MAX_NAME_CHARS - len(suffix) - 1] + "…" + suffix
    return name


def member_name(raw: str) -> str | None:
    """The path of a ZIP member as a document name, or None if it is unsafe (absolute, drive
    letter, or climbing out with '..')."""
    name = raw.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/".join(clean_name(p, "file") for p in parts)


def ingest(name: str, stream: BinaryIO, storage: Storage, limits: ZipLimits,
           max_bytes: int | None = None) -> list[Incoming]:
    """Store one uploaded file; a ZIP becomes one entry per member."""
    try:
        stored = storage.put_stream(stream, limit=max_bytes)
    except TooLarge:
        return [Incoming(name, error=f"larger than the upload limit of {max_bytes} bytes")]
    return _classify(name, stored, storage, limits, depth=0, budget=_Budget())


def _classify(name: str, stored: Stored, storage: Storage, limits: ZipLimits, depth: int,
              budget: _Budget) -> list[Incoming]:
    if stored.size == 0:
        return [Incoming(name, error="the file is empty")]
    kind = sniff(stored.head)
    if kind is None:
        return [Incoming(name, error="not a PNG, JPEG, TIFF, PDF or ZIP file "
                                     "(its content is of another or unknown type)")]
    if kind == "zip":
        if depth >= limits.max_depth:
            return [Incoming(name, error=f"a ZIP nested more than {limits.max_depth} deep is not opened")]
        return _expand(name, storage.path(stored.sha256), storage, limits, depth + 1, budget)
    return [Incoming(name, stored, kind)]


def _expand(name: str, path: Path, storage: Storage, limits: ZipLimits, depth: int,
            budget: _Budget) -> list[Incoming]:
    try:
        archive = zipfile.ZipFile(path)
    except ZIP_ERRORS as exc:
        return [Incoming(name, error=f"not a readable ZIP archive ({exc})")]
    with archive:
        members = [m for m in archive.infolist()
                   if not m.is_dir() and not any(s in m.filename for s in SKIPPED_MEMBERS)
                   and not posixpath.basename(m.filename).startswith("._")]
        if not members:
            return [Incoming(name, error="the ZIP archive holds no files")]
        budget.members += len(members)
        declared = sum(m.file_size for m in members)
        budget.expanded += declared
        if budget.members > limits.max_members:
            return [Incoming(name, error=f"the ZIP holds more than {limits.max_members} files")]
        if budget.expanded > limits.max_uncompressed_bytes:
            return [Incoming(name, error=f"the ZIP would expand to more than "
                                         f"{limits.max_uncompressed_bytes} bytes (a ZIP bomb?)")]
        prefix = name if depth > 1 else ""
        found: list[Incoming] = []
        for member in members:
            inner = member_name(member.filename)
            in_zip = inner if inner is not None else clean_name(member.filename, "file")
            shown = f"{prefix}/{in_zip}" if prefix else in_zip
            found.extend(_member(archive, member, inner is not None, shown, storage, limits,
                                 depth, budget))
        return found


def _member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, safe: bool, shown: str,
            storage: Storage, limits: ZipLimits, depth: int, budget: _Budget) -> list[Incoming]:
    if not safe:
        return [Incoming(shown, error="unsafe path in the ZIP (absolute or with '..'): skipped")]
    if member.flag_bits & 0x1:
        return [Incoming(shown, error="encrypted inside the ZIP: cannot be read")]
    if member.compress_size and member.file_size / member.compress_size > limits.max_ratio:
        ratio = member.file_size // max(1, member.compress_size)
        return [Incoming(shown, error=f"compressed {ratio}:1, beyond the limit of "
                                      f"{limits.max_ratio}:1 (a ZIP bomb?)")]
    try:
        with archive.open(member) as stream:
            stored = storage.put_stream(stream, limit=member.file_size)
    except (*ZIP_ERRORS, TooLarge) as exc:
        return [Incoming(shown, error=f"damaged inside the ZIP ({exc})")]
    return _classify(shown, stored, storage, limits, depth, budget)
