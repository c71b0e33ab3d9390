"""The hot folder: files dropped into WATCH_DIR become batches, and come back out with results.

One sub-folder is one batch; loose files are grouped into one batch by a quiet period. A file
is taken only once it has stopped changing (its size and change time the same on two scans,
and nothing changed for `quiet_s`). What happens to a batch, step by step, each step one that
a crash (a kill, a power cut) can interrupt without a file read twice or lost:

1. **Claim**: the sub-folder (or each loose file) is renamed into `.digits/claims/<batch id>/`
   of WATCH_DIR, after `claim.json` is written there: a rename is atomic, so a file is either
   still in the inbox or claimed, never both. The batch id is chosen here.
2. **Ingest**: the claimed files are uploaded as one batch with that id (core.receiving: each
   document is queued as soon as it is stored). A batch found half made (a crash during this
   step) is deleted first and made again, under the same id. When it is complete a marker file,
   `ingested.json`, says so and which documents each file gave.
3. **Deliver**: once the batch has finished, each file is moved to `done/<name>/` (read) or
   `failed/<name>/` (not read, with `<file>.error.txt` saying why), the batch's CSV export
   beside them; then the claim is removed. Run again after a crash, it moves what is left.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.batches import Publish, UploadRejected, summaries
from core.export import CSV_COLUMNS, csv_lines
from core.receiving import OPTIONS, Receiver
from core.schema import DONE, Batch, Document, new_id
from core.settings import Settings
from core.storage import fsync_dir, write_whole

log = logging.getLogger(__name__)

STATE_DIR = ".digits"  # inside WATCH_DIR, so that claiming is a rename on one file system
DONE_DIR, FAILED_DIR = "done", "failed"
OPTIONS_FILE = "batch.json"  # in a sub-folder: that batch's options (template, layout, ...)
OWNER_FILE = ".digits-batch"  # in an output folder: the batch whose files it holds
# Names that copying programs give a file still on its way, and the litter of desktops: never
# claimed on their own (a sub-folder holding a file still on its way is not ready either).
PARTIAL_SUFFIXES = (".part", ".partial", ".tmp", ".crdownload", ".download", "~")
# Loose files arriving without a pause (a scanner writing a page every few seconds) would never
# be quiet for long: after this long the ones waiting go as a batch anyway.
LOOSE_MAX_WAIT_S = 60.0


@dataclass(frozen=True)
class Ready:
    """What a scan found complete: a sub-folder, or loose files, to claim as one batch."""

    name: str
    folder: Path | None  # the sub-folder; None for loose files
    files: tuple[Path, ...]


@dataclass
class Inbox:
    """Scans WATCH_DIR; remembers what it saw, to tell a file still growing from a complete one."""

    root: Path
    quiet_s: float
    max_files: int = 1000
    seen: dict[Path, tuple[int, int, int]] = field(default_factory=dict)
    loose_since: float | None = None  # when the oldest waiting loose file was first seen

    def scan(self, now: float | None = None) -> list[Ready]:
        """The sub-folders and the group of loose files that are complete now."""
        now = time.time() if now is None else now
        previous, self.seen = self.seen, {}
        ready: list[Ready] = []
        loose: dict[Path, bool] = {}  # each loose file: settled?
        for entry in sorted(self.root.iterdir()):
            if _skipped(entry.name) or (entry.is_dir() and entry.name in (DONE_DIR, FAILED_DIR)):
                continue
            if entry.is_dir() and not entry.is_symlink():
                files = [p for p in sorted(entry.rglob("*")) if p.is_file()]
                settled = [self._settled(p, previous, now) for p in [entry, *files]]
                on_way = any(p.name.endswith(PARTIAL_SUFFIXES) for p in files)
                if files and all(settled) and not on_way:
                    ready.append(Ready(entry.name, entry, tuple(files)))
            elif entry.is_file():
                loose[entry] = self._settled(entry, previous, now)
        if not loose:
            self.loose_since = None
        elif self.loose_since is None:
            self.loose_since = now
        waited = self.loose_since is not None and now - self.loose_since >= LOOSE_MAX_WAIT_S
        stable = [p for p, settled in loose.items() if settled]
        if loose and (len(stable) == len(loose) or waited or len(stable) >= self.max_files):
            group = stable[: self.max_files]
            if group:
                stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
                ready.append(Ready(f"loose-{stamp}", None, tuple(group)))
                self.loose_since = None
        return ready

    def _settled(self, path: Path, previous: dict[Path, tuple[int, int, int]], now: float) -> bool:
        """Unchanged since the last scan, and for `quiet_s`; the change time (ctime) counts,
        which a copy that keeps the original's modification time still moves."""
        try:
            info = path.stat()
        except FileNotFoundError:
            return False
        signature = (info.st_size, info.st_mtime_ns, info.st_ctime_ns)
        self.seen[path] = signature
        last_change = max(info.st_mtime_ns, info.st_ctime_ns) / 1e9
        return previous.get(path) == signature and now - last_change >= self.quiet_s


def _skipped(name: str) -> bool:
    return name.startswith(".") or name.endswith(PARTIAL_SUFFIXES) or name.startswith("~$")


@dataclass(frozen=True)
class Claim:
    """A batch on its way through the hot folder: `.digits/claims/<batch id>/`."""

    path: Path

    @property
    def batch_id(self) -> str:
        return self.path.name

    @property
    def files_dir(self) -> Path:
        return self.path / "files"

    def info(self) -> dict:
        return json.loads((self.path / "claim.json").read_text())

    def ingested(self) -> dict | None:
        marker = self.path / "ingested.json"
        return json.loads(marker.read_text()) if marker.exists() else None

    def files(self) -> list[Path]:
        """The claimed files, in upload order (their paths below the claim's `files/`)."""
        if not self.files_dir.exists():
            return []
        return sorted(p.relative_to(self.files_dir) for p in self.files_dir.rglob("*") if p.is_file())


def claims_dir(root: Path) -> Path:
    return root / STATE_DIR / "claims"


def pending(root: Path) -> list[Claim]:
    """Claims not yet delivered (left by a crash, or waiting for their batch), oldest first."""
    found = claims_dir(root)
    if not found.exists():
        return []
    claims = [Claim(p) for p in found.iterdir() if p.is_dir() and (p / "claim.json").exists()]
    for stray in found.iterdir():  # a crash before claim.json was written: nothing was moved
        if stray.is_dir() and not (stray / "claim.json").exists():
            shutil.rmtree(stray, ignore_errors=True)
    return sorted(claims, key=lambda c: c.info()["claimed_at"])


def claim(root: Path, ready: Ready) -> Claim:
    """Move what `ready` found out of the inbox into a new claim (step 1)."""
    batch_id = new_id()
    path = claims_dir(root) / batch_id
    path.mkdir(parents=True)
    write_whole(path / "claim.json", json.dumps({"name": ready.name, "claimed_at": time.time(),
                                            "folder": ready.folder is not None}))
    if ready.folder is not None:
        os.replace(ready.folder, path / "files")
    else:
        (path / "files").mkdir()
        for source in ready.files:
            try:
                os.replace(source, path / "files" / source.name)
            except FileNotFoundError:  # taken away since the scan
                continue
    fsync_dir(path)
    log.info("hot folder: %s claimed as batch %s", ready.name, batch_id)
    return Claim(path)


def ingest(session: Session, settings: Settings, item: Claim, publish: Publish | None,
           notify: Callable[[str], None] | None = None) -> dict:
    """Upload the claim's files as its batch (step 2), unless done already; returns the marker."""
    done = item.ingested()
    if done is not None:
        return done
    files = item.files()
    if not files:  # a crash between writing claim.json and moving the files: nothing to read
        shutil.rmtree(item.path)
        return {"empty": True}
    # A batch half made by a process that died here: made again from the start.
    session.execute(delete(Batch).where(Batch.id == item.batch_id))
    session.commit()
    receiver = Receiver(session, settings, publish, notify, batch_id=item.batch_id)
    positions: dict[str, list[int]] = {}
    documents = [f for f in files if not (item.info()["folder"] and str(f) == OPTIONS_FILE)]
    rejected: str | None = None
    try:
        for name, value in _options(settings, item).items():
            receiver.option(name, value)
        for number, relative in enumerate(documents, start=1):
            first = receiver.entries
            with (item.files_dir / relative).open("rb") as stream:
                receiver.file(relative.name, stream)
            positions[str(relative)] = list(range(first, receiver.entries))
            log.info("hot folder: batch %s: file %d/%d stored (%s)", item.batch_id, number,
                     len(documents), relative)
        receiver.finish()
    except UploadRejected as exc:
        receiver.discard()
        rejected = exc.message
    except BaseException:
        receiver.discard()
        raise
    marker = {"batch_id": item.batch_id, "positions": positions, "rejected": rejected,
              "reasons": {i.name: i.error for i in receiver.rejected}}
    write_whole(item.path / "ingested.json", json.dumps(marker))
    log.info("hot folder: batch %s: %s", item.batch_id,
             f"refused: {rejected}" if rejected else f"{len(documents)} file(s) queued")
    return marker


def default_options(settings: Settings) -> dict[str, str]:
    """The options of the hot folder's batches, from the WATCH_* settings."""
    return {"template": settings.watch_template, "layout": settings.watch_layout,
            "review_threshold": "" if settings.watch_review_threshold is None
            else str(settings.watch_review_threshold)}


def _options(settings: Settings, item: Claim) -> dict[str, str]:
    """The batch's options: the WATCH_* settings, then the sub-folder's batch.json."""
    options = default_options(settings)
    path = item.files_dir / OPTIONS_FILE
    if item.info()["folder"] and path.exists():
        try:
            given = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise UploadRejected(400, f"{OPTIONS_FILE}: not valid JSON ({exc})") from None
        if not isinstance(given, dict) or set(given) - set(OPTIONS):
            raise UploadRejected(400, f"{OPTIONS_FILE}: expected an object with some of "
                                      f"{', '.join(OPTIONS)}")
        options.update({k: "" if v is None else str(v) for k, v in given.items()})
    return options


def finished(session: Session, item: Claim) -> dict | None:
    """The batch's summary once it has finished (or was never made); None while it is read."""
    marker = item.ingested()
    if marker is None:
        return None
    if marker.get("rejected"):
        return {"status": "failed"}
    batch = session.get(Batch, item.batch_id)
    if batch is None:
        return {"status": "failed", "gone": True}
    summary = summaries(session, [batch])[0]
    return summary if summary["status"] in ("done", "partial", "failed") else None


def deliver(session: Session, root: Path, item: Claim) -> dict[str, Path]:
    """Move the finished batch's files out with its CSV and reasons (step 3); returns the
    output folders used ("done", "failed")."""
    marker = item.ingested() or {}
    name = item.info()["name"]
    docs = {d.position: d for d in session.scalars(
        select(Document).where(Document.batch_id == item.batch_id))}
    outcomes: dict[Path, tuple[str, str | None]] = {}
    for relative in item.files():
        outcomes[relative] = _outcome(str(relative), marker, docs)
    used: dict[str, Path] = {}
    for relative, (kind, reason) in outcomes.items():
        if kind not in used:
            used[kind] = _output(root / kind, name, item.batch_id)
            _write_csv(session, used[kind] / f"{name}.csv", item.batch_id, marker)
        target = used[kind] / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if reason:
            write_whole(target.with_name(target.name + ".error.txt"), reason + "\n")
        os.replace(item.files_dir / relative, target)
    shutil.rmtree(item.path)
    log.info("hot folder: batch %s delivered to %s", item.batch_id,
             ", ".join(str(p.relative_to(root)) for p in used.values()))
    return used


def _outcome(relative: str, marker: dict, docs: dict[int, Document]) -> tuple[str, str | None]:
    """Where a claimed file goes, and why, from its documents."""
    if marker.get("rejected"):
        return FAILED_DIR, marker["reasons"].get(Path(relative).name) or marker["rejected"]
    positions = marker.get("positions", {}).get(relative)
    if positions is None:  # batch.json, or litter that travelled with its sub-folder
        return DONE_DIR, None
    mine = [docs[p] for p in positions if p in docs]
    if not mine:
        return FAILED_DIR, "the batch was deleted before it was read"
    errors = [d.error for d in mine if d.error]
    read = any(d.status == DONE for d in mine)
    return (DONE_DIR if read else FAILED_DIR), "\n".join(errors) or None


def _output(parent: Path, name: str, batch_id: str) -> Path:
    """`<parent>/<name>`, or `<name>-<id>` when a folder of that name holds another batch."""
    for candidate in (parent / name, parent / f"{name}-{batch_id[:8]}", parent / f"{name}-{batch_id}"):
        owner = candidate / OWNER_FILE
        if not candidate.exists() or (owner.exists() and owner.read_text().strip() == batch_id):
            candidate.mkdir(parents=True, exist_ok=True)
            write_whole(owner, batch_id + "\n")
            return candidate
    raise FileExistsError(f"no free output folder for batch {batch_id} under {parent}")


def _write_csv(session: Session, path: Path, batch_id: str, marker: dict) -> None:
    """The batch's CSV export (its header alone for a batch refused or gone)."""
    if marker.get("rejected") or session.get(Batch, batch_id) is None:
        rows: Iterable[str] = [",".join(CSV_COLUMNS) + "\r\n"]
    else:
        rows = csv_lines(session, batch_id)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as out:
        out.writelines(rows)
    os.replace(tmp, path)


def step(session: Session, settings: Settings, root: Path, item: Claim, publish: Publish | None,
         notify: Callable[[str], None] | None = None) -> bool:
    """Take a claim as far as it can go now; True once it is delivered."""
    marker = ingest(session, settings, item, publish, notify)
    if marker.get("empty"):
        return True
    if finished(session, item) is None:
        return False
    deliver(session, root, item)
    return True

