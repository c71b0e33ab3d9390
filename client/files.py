"""What to send: the files named or found in folders, and how they are split into batches.

A folder is walked recursively in a stable order (names sorted, folders and files alike), so
the same folder gives the same batches and the same CSV order every time. Only the kinds the
service reads are taken from folders; a file named on the command line is sent whatever it
is, and the service says what is wrong with it.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# The file kinds the service reads, by extension (the service itself tells them from content).
KINDS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF",
         ".pdf": "PDF", ".zip": "ZIP"}
# The service's defaults (core/settings.py, README "Configuration"): the largest request
# (MAX_UPLOAD_BYTES, 413 beyond it) and the files of one batch, ZIPs opened (MAX_FILES_PER_BATCH).
DEFAULT_MAX_BATCH_BYTES = 256 * 1024 * 1024
DEFAULT_MAX_BATCH_FILES = 1000


@dataclass
class Selection:
    """The files to send, in order, and notes on what was left out of folders (not failures)."""

    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Plan:
    """Files in batches, each under the limits; files that cannot fit any batch."""

    batches: list[list[Path]] = field(default_factory=list)
    too_large: list[str] = field(default_factory=list)


def readable_kind(path: Path) -> bool:
    return path.suffix.lower() in KINDS


def collect(paths: Sequence[str | Path]) -> Selection:
    """The files named and those under the folders named. FileNotFoundError for a name that
    is neither (a usage error: nothing is sent)."""
    selection = Selection()
    seen: set[Path] = set()

    def take(path: Path) -> None:
        key = path.resolve()
        if key not in seen:  # a file named twice, or named and inside a folder named, once
            seen.add(key)
            selection.files.append(path)

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for found in _walk(path):
                if readable_kind(found):
                    take(found)
                elif not found.name.startswith("."):
                    selection.notes.append(f"skipped {found}: not a PNG, JPEG, TIFF, PDF or ZIP file")
        elif path.is_file():
            take(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    return selection


def _walk(folder: Path) -> list[Path]:
    """Every file under `folder`, sorted by path, folders walked in sorted order."""
    found: list[Path] = []
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        found.extend(Path(root) / n for n in sorted(names) if (Path(root) / n).is_file())
    return sorted(found, key=lambda p: p.relative_to(folder).parts)


def members(path: Path) -> list[str]:
    """The files inside a ZIP, by their paths in it ([] for anything else or a damaged ZIP)."""
    if path.suffix.lower() != ".zip":
        return []
    try:
        with zipfile.ZipFile(path) as archive:
            return [info.filename for info in archive.infolist() if not info.is_dir()]
    except (OSError, zipfile.BadZipFile):
        return []


def entries(path: Path) -> int:
    """How many files the service will count for `path`: a ZIP's members (a damaged ZIP, as
    anything else, is one)."""
    return max(1, len(members(path)))


def document_names(batch: Sequence[Path]) -> set[str]:
    """The names the service gives the batch's documents: file names, and paths in ZIPs."""
    return {p.name for p in batch} | {m for p in batch for m in members(p)}


def plan(files: Sequence[Path], size: Callable[[Path], int], fixed: int,
         max_bytes: int = DEFAULT_MAX_BATCH_BYTES, max_files: int = DEFAULT_MAX_BATCH_FILES) -> Plan:
    """Split `files`, in order, into batches whose bodies (`fixed` bytes plus each file's
    `size`) stay within `max_bytes` and whose files (ZIPs opened) within `max_files`. A file
    that cannot fit even alone is left out and reported."""
    result = Plan()
    current: list[Path] = []
    used, counted = fixed, 0
    for path in files:
        nbytes, count = size(path), entries(path)
        if fixed + nbytes > max_bytes:
            result.too_large.append(f"{path}: {path.stat().st_size} bytes, more than one upload may carry "
                                    f"({max_bytes} bytes with the form): not sent")
            continue
        if current and (used + nbytes > max_bytes or counted + count > max_files):
            result.batches.append(current)
            current, used, counted = [], fixed, 0
        current.append(path)
        used, counted = used + nbytes, counted + count
    if current:
        result.batches.append(current)
    return result
