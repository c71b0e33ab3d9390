"""Where a batch's time went inside the service, from its database rows and the worker's log.

The documents' rows give when each was handed to the broker, taken by a worker and finished;
the worker's log line for each document (worker.documents) gives its claim, decode, read and
save times. Together they show the gaps: reading that starts only after the upload, pool
processes waiting between documents (broker round trips), database writes.
"""

from __future__ import annotations

import re
import statistics
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

LOG_LINE = re.compile(
    r"(?P<name>[^\s:]+): \w+, (?P<pages>\d+) pages in (?P<seconds>[\d.]+) s \(claim (?P<claim>\d+) ms, "
    r"read (?P<read>\d+) ms(?: \[decode (?P<decode>\d+) ms, fields (?P<fields>\d+) ms\])?, "
    r"save (?P<save>\d+) ms\)")  # a log of before 2026-12-02 has no [decode, fields]


def _utc(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def breakdown(data_dir: Path, batch_id: str, started_wall: float, upload_s: float, workers: int) -> dict:
    """Figures of one finished batch; `started_wall` is when its upload began (time.time())."""
    from core.db import session_scope
    from core.schema import Document
    from core.settings import Settings

    settings = Settings.from_env(data_dir=data_dir)
    with session_scope(settings) as session:
        rows = session.execute(select(Document.name, Document.enqueued_at, Document.started_at,
                                      Document.finished_at, Document.page_count)
                               .where(Document.batch_id == batch_id)).all()
    names = {row.name for row in rows}
    logged: dict[str, dict[str, float]] = {}
    for match in LOG_LINE.finditer((data_dir / "service.log").read_text(errors="replace")):
        if match["name"] in names:  # the last line of a name is this batch's (names repeat)
            logged[match["name"]] = {k: float(v) for k, v in match.groupdict().items()
                                     if k != "name" and v is not None}
    pages = sum(row.page_count or 0 for row in rows)
    starts = [_utc(r.started_at) for r in rows if r.started_at]
    finishes = [_utc(r.finished_at) for r in rows if r.finished_at]
    waits = [_utc(r.started_at) - _utc(r.enqueued_at) for r in rows if r.started_at and r.enqueued_at]
    busy = sum(entry["seconds"] for entry in logged.values())
    span = max(finishes) - min(starts) if starts and finishes else 0.0

    def per_page(key: str, names: set[str] | None = None) -> float | None:
        entries = [e for name, e in logged.items() if names is None or name in names]
        if not entries or any(key not in e for e in entries):
            return None
        pages_logged = sum(e["pages"] for e in entries)
        return round(sum(e[key] for e in entries) / max(1, pages_logged), 1)

    # documents a worker took while the upload still ran share the machine with the web process
    # receiving it (and, in `make bench`, with the client sending it)
    upload_ended = started_wall + upload_s
    during = {r.name for r in rows if r.started_at and _utc(r.started_at) < upload_ended}

    return {
        "upload_seconds": round(upload_s, 2),
        "first_read_started_after_s": round(min(starts) - started_wall, 2) if starts else None,
        "last_queued_after_s": round(max(_utc(r.enqueued_at) for r in rows if r.enqueued_at)
                                     - started_wall, 2) if rows else None,
        "queue_wait_median_s": round(statistics.median(waits), 2) if waits else None,
        "ms_per_page": {"claim": per_page("claim"), "decode": per_page("decode"),
                        "read": per_page("fields"), "save": per_page("save"),
                        "decode+read": per_page("read")},
        "decode+read_ms_per_page_during_upload": per_page("read", during),
        "decode+read_ms_per_page_after_upload": per_page("read", names - during),
        "reading_span_s": round(span, 2),
        "workers_busy_share": round(busy / (workers * span), 3) if span else None,
        "pages": pages,
        "documents_logged": len(logged),
    }


def print_breakdown(figures: dict) -> None:
    ms = figures["ms_per_page"]
    print(f"    upload {figures['upload_seconds']} s; first document taken after "
          f"{figures['first_read_started_after_s']} s, last one queued after "
          f"{figures['last_queued_after_s']} s; "
          f"median wait in the queue {figures['queue_wait_median_s']} s")
    inside = (f"decode {ms['decode']} ms, read {ms['read']} ms" if ms["decode"] is not None
              else f"decode + read {ms['decode+read']} ms")
    print(f"    in a worker, per page: claim {ms['claim']} ms, {inside}, save {ms['save']} ms")
    if figures.get("decode+read_ms_per_page_during_upload") is not None:
        print(f"    decode + read per page while the upload ran: "
              f"{figures['decode+read_ms_per_page_during_upload']} ms; after it: "
              f"{figures['decode+read_ms_per_page_after_upload']} ms")
    print(f"    reading from first start to last finish {figures['reading_span_s']} s, workers busy "
          f"{100 * (figures['workers_busy_share'] or 0):.0f}% of it (the rest: waiting between documents "
          f"on the broker and the database)")
