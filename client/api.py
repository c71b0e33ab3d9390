"""The service's API as a library: upload files in batches under the limits, follow the
batches, export their results as one CSV or one JSON."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from client import files
from client.http import DEFAULT_TIMEOUT_S, ClientError, Connection, HttpError
from client.multipart import Body
from client.progress import Progress, Silent

FINISHED = ("done", "partial", "failed")  # a batch in one of these states changes no more
POLL_S = 1.0  # how often a batch being read is asked for its status
LISTED_FILES = 3  # a refused batch's message names this many of its files
# How the service's 413 names its limit (web/api.py): "... larger than the limit of N bytes".
LIMIT_PATTERN = re.compile(r"limit of (\d+) bytes")
HEADER_END = b"\r\n"  # the CSV export's lines end so (core/export.py); its header is one line


@dataclass
class UploadResult:
    """What an upload made: the service's answer for each batch accepted, in order, and
    what was not sent or was refused whole (each naming the file or files)."""

    created: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # files left out of folders: not problems

    @property
    def ids(self) -> list[str]:
        return [answer["id"] for answer in self.created]


class Client:
    """A Digits service at `base_url`, with its API token when it has one."""

    def __init__(self, base_url: str, token: str | None = None, timeout: float = DEFAULT_TIMEOUT_S,
                 max_batch_bytes: int = files.DEFAULT_MAX_BATCH_BYTES,
                 max_batch_files: int = files.DEFAULT_MAX_BATCH_FILES) -> None:
        self.http = Connection(base_url, token, timeout)
        self.max_batch_bytes, self.max_batch_files = max_batch_bytes, max_batch_files

    @property
    def base_url(self) -> str:
        return self.http.base_url

    def templates(self) -> list[str]:
        """The names of the service's form templates."""
        return list(self.http.get_json("/api/templates")["templates"])

    def status(self, batch_id: str) -> dict:
        """The batch's status as GET /api/batches/<id> gives it."""
        return self.http.get_json(f"/api/batches/{quote(batch_id, safe='')}")

    def upload(self, paths: Sequence[str | Path], template: str | None = None, layout: str | None = None,
               threshold: float | None = None, callback_url: str | None = None,
               progress: Progress | None = None) -> UploadResult:
        """Send the files and the folders' readable files, in as many batches as the limits
        need, each with the same options. FileNotFoundError for a path that does not exist;
        ClientError when the service cannot be reached or refuses the request itself."""
        progress = progress or Silent()
        options = [(name, value) for name, value in (
            ("template", template), ("layout", layout),
            ("review_threshold", None if threshold is None else repr(float(threshold))),
            ("callback_url", callback_url)) if value]
        selection = files.collect(paths)
        result = UploadResult(notes=list(selection.notes))
        for note in selection.notes:
            progress.note(note)
        probe = Body.make(options, [])  # boundaries all have one length: sizes hold for every body
        limit = self.max_batch_bytes

        def split(paths: Sequence[Path]) -> list[list[Path]]:
            plan = files.plan(paths, probe.file_length, probe.fixed_length(), limit, self.max_batch_files)
            for problem in plan.too_large:
                result.problems.append(problem)
                progress.note(problem)
            return plan.batches

        pending, sent = split(selection.files), 0
        while pending:
            batch = pending.pop(0)
            sent += 1
            body = Body.make(options, batch)
            count = sent + len(pending)
            label = f"uploading batch {sent}/{count}" if count > 1 else "uploading"
            progress.start(label, body.length(), "bytes")
            try:
                status, answer = self.http.post_form("/api/batches", body, progress.advance)
            finally:
                progress.finish()
            if status == 202:
                result.created.append(answer)
                progress.note(f"batch {answer['id']}: {answer['documents']} document(s) queued")
                continue
            error = str(answer.get("error", f"HTTP {status}"))
            smaller = _limit_in(error) if status == 413 else None
            if smaller is not None and smaller < limit:  # the service's limit is lower: split again
                limit = smaller
                progress.note(f"{self.base_url} takes at most {limit} bytes a request: sending the rest "
                              "in smaller batches")
                pending = split([p for b in [batch, *pending] for p in b])
                continue
            if status in (413, 415) or (status == 400 and _names_a_file(error, batch)):
                refused = f"batch {sent} ({_listed(batch)}) refused: HTTP {status}: {error}"
                result.problems.append(refused)
                progress.note(refused)
                continue
            raise HttpError(self.http.url("/api/batches"), status, error)  # the options, for every batch
        return result

    def wait(self, ids: str | Sequence[str], progress: Progress | None = None, poll_s: float = POLL_S,
             timeout: float | None = None) -> list[dict]:
        """Poll until every batch is finished (done, partial or failed); their final statuses,
        in the order of `ids`. `progress` shows documents finished over documents in all."""
        ids = [ids] if isinstance(ids, str) else list(ids)
        statuses: dict[str, dict] = {}
        deadline = None if timeout is None else time.monotonic() + timeout
        started, progress = False, progress or Silent()
        try:
            while True:
                for batch_id in ids:
                    if statuses.get(batch_id, {}).get("status") not in FINISHED:
                        statuses[batch_id] = self.status(batch_id)
                counts = [statuses[i]["documents"] for i in ids]
                total = sum(c["total"] for c in counts)
                if not started:  # once the total is known
                    progress.start("reading", total, "documents")
                    started = True
                progress.update(sum(c["done"] + c["failed"] for c in counts), total)
                if all(statuses[i]["status"] in FINISHED for i in ids):
                    return [statuses[i] for i in ids]
                if deadline is not None and time.monotonic() > deadline:
                    raise ClientError(f"{self.base_url}: batches not finished after {timeout} s: "
                                      + ", ".join(i for i in ids if statuses[i]["status"] not in FINISHED))
                time.sleep(poll_s)
        finally:
            progress.finish()

    def export_csv(self, ids: str | Sequence[str], out: BinaryIO) -> None:
        """The batches' CSV exports written to `out` as one CSV: one header, then every row."""
        ids = [ids] if isinstance(ids, str) else list(ids)
        for number, batch_id in enumerate(ids):
            chunks = self.http.download(f"/api/batches/{quote(batch_id, safe='')}/export.csv")
            for chunk in (chunks if number == 0 else _after_header(chunks)):
                out.write(chunk)

    def export_json(self, ids: str | Sequence[str]) -> list[dict]:
        """Each batch's status with its fields (as export.json gives them), in the order of `ids`."""
        ids = [ids] if isinstance(ids, str) else list(ids)
        exported = []
        for batch_id in ids:
            status = self.status(batch_id)
            data = b"".join(self.http.download(f"/api/batches/{quote(batch_id, safe='')}/export.json"))
            status["fields"] = json.loads(data)["fields"]
            exported.append(status)
        return exported


def _limit_in(error: str) -> int | None:
    """The limit a 413 names ("larger than the limit of N bytes"), if it names one."""
    found = LIMIT_PATTERN.search(error)
    return int(found.group(1)) if found else None


def _listed(batch: Sequence[Path]) -> str:
    """The batch's files for a message: the first few names, and how many more."""
    names = ", ".join(p.name for p in batch[:LISTED_FILES])
    return names + (f" and {len(batch) - LISTED_FILES} more" if len(batch) > LISTED_FILES else "")


def _names_a_file(error: str, batch: Sequence[Path]) -> bool:
    """Whether a refusal is about the batch's files (they are all unreadable), not its options:
    the service's errors about a file begin with the file's name (a ZIP member's: its path)."""
    return any(error.startswith(f"{name}:") for name in files.document_names(batch))


def _after_header(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """A CSV export without its header line."""
    head = b""
    for chunk in chunks:
        head += chunk
        end = head.find(HEADER_END)
        if end >= 0:
            yield head[end + len(HEADER_END):]
            yield from chunks
            return
