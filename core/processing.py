"""Reading one document and recording what was read: the body of the worker's task.

`start` claims the document (counting attempts, so a document that keeps killing its worker is
given up after a bounded number of tries), `read` turns its pages into results, and `save`
writes them in one transaction that first removes any earlier results of the same document: a
redelivered or re-run task replaces, never doubles.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.files import MEDIA_TYPES, Limits, UnreadableFile, count_pages, pages
from core.schema import (
    AUTO,
    DONE,
    FAILED,
    NEEDS_REVIEW,
    PAGE_LAYOUT,
    PROCESSING,
    QUEUED,
    Batch,
    Digit,
    Document,
    Field,
    ModelVersion,
    Page,
    utcnow,
)
from core.storage import Storage
from segmentation.pipeline import PageResult
from segmentation.templates import Template

log = logging.getLogger(__name__)
KINDS = {media: kind for kind, media in MEDIA_TYPES.items()}
ReadPage = Callable[[np.ndarray, Template | None], PageResult]
CHANGED = "options changed"  # save's answer when the batch's options changed during the reading
GAVE_UP = "gave up"  # start's answer when the document has had its last attempt (now failed)


class Interrupted(Exception):
    """The reader is stopping: the document in hand is to be handed back, not finished."""


@dataclass(frozen=True)
class Job:
    """What a worker needs to read a document, taken from the database when it starts."""

    document_id: int
    name: str
    sha256: str
    kind: str
    batch_id: str
    template: str | None  # the review threshold is read when saving: it may come after the files
    attempt: int
    layout: str = PAGE_LAYOUT


@dataclass(frozen=True)
class PageOutcome:
    number: int
    result: PageResult | None
    error: str | None = None
    decode_s: float = 0.0  # decoding (or rendering) the page, for the log and `make bench`
    read_s: float = 0.0  # reading its fields


def start(session: Session, document_id: int, max_attempts: int) -> Job | str | None:
    """Claim a document for reading; None if there is nothing to do (finished already, or
    gone), GAVE_UP if it has been tried `max_attempts` times (it is marked failed now)."""
    doc = session.get(Document, document_id, with_for_update=True)
    if doc is None or doc.status in (DONE, FAILED):
        return None
    if doc.attempts >= max_attempts:
        doc.status, doc.finished_at = FAILED, utcnow()
        doc.error = (f"{doc.name}: given up after {doc.attempts} attempts: the worker reading it "
                     "stopped each time (crash or timeout)")
        log.error(doc.error)
        return GAVE_UP
    batch = session.get(Batch, doc.batch_id)
    doc.status, doc.attempts, doc.pages_done = PROCESSING, doc.attempts + 1, 0
    doc.started_at = doc.heartbeat_at = utcnow()
    return Job(doc.id, doc.name, doc.sha256 or "", KINDS.get(doc.media_type or "", ""), doc.batch_id,
               batch.template, doc.attempts, batch.layout)


def progress(session: Session, document_id: int, page_count: int | None, pages_done: int) -> None:
    session.execute(update(Document).where(Document.id == document_id, Document.status == PROCESSING)
                    .values(page_count=page_count, pages_done=pages_done, heartbeat_at=utcnow()))


def hand_back(session: Session, document_id: int) -> None:
    """Put a document whose reading was interrupted back in the queue, as if never started
    (the attempt is not counted: the reader stopped, the document did not fail)."""
    session.execute(update(Document).where(Document.id == document_id, Document.status == PROCESSING)
                    .values(status=QUEUED, attempts=Document.attempts - 1, pages_done=0,
                            started_at=None, enqueued_at=utcnow()))


def fail(session: Session, document_id: int, message: str) -> None:
    """Record that nothing of the document can be read, and why."""
    session.execute(delete(Page).where(Page.document_id == document_id))
    session.execute(update(Document).where(Document.id == document_id).values(
        status=FAILED, error=message, finished_at=utcnow()))


def read(job: Job, storage: Storage, limits: Limits, read_page: ReadPage,
         template: Template | None, on_page: Callable[[int | None, int], None],
         should_stop: Callable[[], bool] = lambda: False,
         stops: tuple[type[BaseException], ...] = ()) -> list[PageOutcome]:
    """Every page of the document read; a page that fails is recorded with its error and the
    rest goes on, `on_page(total, done)` told as pages finish. Raises UnreadableFile when the
    file as a whole cannot be read, Interrupted when `should_stop()` says so between pages;
    exceptions of the `stops` types (a time limit for the document) are no page's failure:
    they stop the document and are raised again."""
    path = storage.path(job.sha256)
    if not path.is_file():
        raise UnreadableFile("the stored original is missing from the data directory")
    outcomes: list[PageOutcome] = []
    total = count_pages(path, job.kind)
    # Progress is worth a write only for documents of several pages (one-page documents are
    # the bulk of a busy service, and their progress is their result).
    report = total != 1
    if report:
        on_page(total, 0)
    found = pages(path, job.kind, limits, grey=True)
    try:
        while True:
            decode_started = time.perf_counter()
            page = next(found, None)
            if page is None:
                break
            decoded = time.perf_counter()
            if should_stop():
                raise Interrupted(f"{job.name}: stopped after {len(outcomes)} of {total} pages")
            result, problem = None, page.error
            if page.image is not None:
                try:
                    result = read_page(page.image, template)
                except stops:
                    raise
                except Exception as exc:  # noqa: BLE001 - a bad page never stops the document
                    log.exception("%s: page %d could not be read", job.name, page.number)
                    problem = f"page {page.number}: could not be read ({type(exc).__name__}: {exc})"
            outcomes.append(PageOutcome(page.number, result, problem, decoded - decode_started,
                                        time.perf_counter() - decoded))
            if report:
                on_page(total, len(outcomes))
    finally:
        found.close()  # a PDF's renderer process stops with it
    return outcomes


def model_version_id(session: Session, name: str) -> int:
    """The id of the readers recorded under `name` (shipped files), recorded now if new."""
    found = session.scalar(select(ModelVersion.id).where(ModelVersion.name == name))
    if found is not None:
        return found
    try:
        with session.begin_nested():
            version = ModelVersion(name=name)
            session.add(version)
        return version.id
    except IntegrityError:  # another worker added it at the same moment
        return session.scalar(select(ModelVersion.id).where(ModelVersion.name == name))


def save(session: Session, job: Job, outcomes: list[PageOutcome], model_version: str,
         registered: int | None = None) -> str:
    """Replace the document's results with `outcomes` in this transaction; returns its status,
    or CHANGED (nothing saved, the document queued again) when the batch's template or layout
    changed while it was read (options sent after the files: core.receiving). The readers are
    recorded as the registered version `registered`, or without one by their name `model_version`."""
    doc = session.get(Document, job.document_id, with_for_update=True)
    batch = session.get(Batch, job.batch_id)
    if doc is None or batch is None:
        return FAILED
    if (batch.template, batch.layout) != (job.template, job.layout):
        hand_back(session, doc.id)
        return CHANGED
    threshold = batch.review_threshold  # the batch's now: it may have come after the files
    session.execute(delete(Page).where(Page.document_id == doc.id))
    for outcome in outcomes:
        _insert_page(session, job, doc.id, outcome, threshold)
    errors = [o.error for o in outcomes if o.error]
    readable = any(o.result is not None for o in outcomes)
    doc.status = DONE if readable else FAILED
    doc.error = f"{job.name}: " + "; ".join(errors) if errors else None
    if not outcomes:
        doc.status, doc.error = FAILED, f"{job.name}: the document has no pages"
    doc.page_count = doc.pages_done = len(outcomes)
    doc.finished_at = doc.heartbeat_at = utcnow()
    doc.model_version_id = registered if registered is not None else model_version_id(session, model_version)
    return doc.status


def _insert_page(session: Session, job: Job, document_id: int, outcome: PageOutcome,
                 threshold: float) -> None:
    """One page's rows: the page, its fields, their digits, in three bulk INSERTs (a page has
    a hundred rows; one ORM object each made saving a quarter of a page's reading time)."""
    result = outcome.result
    page: dict[str, object] = {"document_id": document_id, "number": outcome.number}
    if result is None:
        page.update(width=0, height=0, error=outcome.error, warnings=[])
    else:
        page.update(width=result.width, height=result.height, skew_deg=result.skew_deg,
                    rotation=result.rotation, warnings=list(result.warnings))
    page_id = session.execute(insert(Page).returning(Page.id), [page]).scalar_one()
    if result is None or not result.fields:
        return
    now = utcnow()
    fields = []
    for position, f in enumerate(result.fields, start=1):
        x, y, w, h = f.box
        fields.append({
            "page_id": page_id, "document_id": document_id, "batch_id": job.batch_id,
            "position": position, "name": f.name, "kind": f.kind, "x": x, "y": y, "width": w,
            "height": h, "cells": [list(c) for c in f.cells], "recognized_value": f.value,
            "value": f.value, "confidence": round(f.confidence, 6),
            # a broken rule or writing struck through waits for a person whatever the threshold
            "status": AUTO if f.confidence >= threshold and not (f.rule_error or f.struck) else NEEDS_REVIEW,
            "unreadable": False, "updated_at": now, "readings": dict(f.readings) or None,
            "rule_error": f.rule_error})
    field_ids = session.execute(insert(Field).returning(Field.id, sort_by_parameter_order=True),
                                fields).scalars().all()
    digits = [{"field_id": field_id, "position": i, "value": d.value,
               "confidence": round(d.confidence, 6), "x": d.box[0], "y": d.box[1],
               "width": d.box[2], "height": d.box[3],
               "alternatives": [[v, round(p, 6)] for v, p in d.alternatives]}
              for field_id, f in zip(field_ids, result.fields)
              for i, d in enumerate(f.digits, start=1)]
    if digits:
        session.execute(insert(Digit), digits)
