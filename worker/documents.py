"""Reading one document end to end: claim it, read its pages, save the results."""

from __future__ import annotations

import logging
import time

from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import callbacks, models_registry, processing
from core.db import session_scope
from core.files import Limits, UnreadableFile
from core.locks import document_lock
from core.schema import DONE, FAILED, PAGE_LAYOUT, Batch, Document, Field
from core.settings import Settings
from core.storage import Storage
from segmentation.templates import TemplateError, find_template
from worker import metrics, stopping
from worker.recognition import Reader, reader_of

log = logging.getLogger(__name__)
HANDED_BACK = "handed back"  # process_document's answer when the worker stopped mid-document


def process_document(settings: Settings, document_id: int) -> str | None:
    """Read document `document_id` with the readers of the active model version; returns its
    final status, None when there was nothing to do (already finished, or being read by a live
    worker right now), or HANDED_BACK when the worker is stopping (the document is queued again)."""
    with document_lock(settings, document_id) as held:
        if not held:
            log.info("document %s is being read by another worker: skipped", document_id)
            return None
        started = time.perf_counter()
        with session_scope(settings) as session:
            job = processing.start(session, document_id, settings.task_max_retries + 1)
            # Which version reads it is decided here, once: one small query in the claim's own
            # transaction, so a promotion reaches the next document any worker starts, and a
            # document being read is finished by the readers it started with.
            version = (models_registry.active_files(session, settings)
                       if isinstance(job, processing.Job) else None)
        if job == processing.GAVE_UP:
            metrics.document_failed(metrics.GIVEN_UP)
            return FAILED
        if not isinstance(job, processing.Job):
            return None
        try:
            template = find_template(settings.form_templates_dir, job.template) if job.template else None
        except TemplateError as exc:
            return _fail(settings, job, f"{job.name}: {exc}", metrics.TEMPLATE)

        def on_page(total: int | None, done: int) -> None:
            with session_scope(settings) as session:
                processing.progress(session, job.document_id, total, done)

        reader = reader_of(settings, version)
        read_page = reader.read_page if job.layout == PAGE_LAYOUT else _as_field(reader)
        try:
            read_started = time.perf_counter()
            outcomes = processing.read(job, Storage(settings.originals_dir), Limits.of(settings),
                                       read_page, template, on_page, stopping.stop_requested,
                                       stops=(SoftTimeLimitExceeded,))
        except UnreadableFile as exc:
            return _fail(settings, job, f"{job.name}: {exc}", metrics.UNREADABLE_FILE)
        except processing.Interrupted as exc:
            log.info("%s: handed back to the broker", exc)
            with session_scope(settings) as session:
                processing.hand_back(session, job.document_id)
            return HANDED_BACK
        save_started = time.perf_counter()
        with session_scope(settings) as session:
            status = processing.save(session, job, outcomes, reader.version, reader.registered)
            fields = _fields_by_status(session, job.document_id) if status == DONE else {}
        if status == processing.CHANGED:
            log.info("%s: the batch's options changed while it was read: queued again", job.name)
            return HANDED_BACK
        if status == DONE:
            metrics.document_read(outcomes, fields)
        elif all(o.result is None for o in outcomes):  # not when it was deleted while read
            metrics.document_failed(metrics.NO_READABLE_PAGE, outcomes)
        done = time.perf_counter()
        decode_s = sum(o.decode_s for o in outcomes)
        log.info("%s: %s, %d pages in %.2f s (claim %.0f ms, read %.0f ms [decode %.0f ms, "
                 "fields %.0f ms], save %.0f ms)", job.name, status, len(outcomes), done - started,
                 1000 * (read_started - started), 1000 * (save_started - read_started),
                 1000 * decode_s, 1000 * sum(o.read_s for o in outcomes), 1000 * (done - save_started))
        return status


def _as_field(reader: Reader) -> processing.ReadPage:
    """Reading for batches whose every image is one whole field (layout "field")."""
    return lambda image, _template: reader.read_field(image)


def _fields_by_status(session: Session, document_id: int) -> dict[str, int]:
    """How many of the document's fields were given each status, as just saved."""
    return dict(session.execute(select(Field.status, func.count()).where(
        Field.document_id == document_id).group_by(Field.status)).all())


def _fail(settings: Settings, job: processing.Job, message: str, kind: str) -> str:
    log.warning(message)
    with session_scope(settings) as session:
        processing.fail(session, job.document_id, message)
    metrics.document_failed(kind)
    return FAILED


def record_timeout(settings: Settings, document_id: int, limit_s: int) -> None:
    """The document took longer than the time allowed for one: failed, saying so."""
    with session_scope(settings) as session:
        name = session.scalar(select(Document.name).where(Document.id == document_id)) or "document"
        processing.fail(session, document_id,
                        f"{name}: reading took longer than {limit_s} s, the limit for one document "
                        "(DOCUMENT_TIME_LIMIT_S): stopped")
    metrics.document_failed(metrics.TIME_LIMIT)


def record_crash(settings: Settings, document_id: int, error: BaseException) -> None:
    """A bug stopped the reading: record it on the document so its batch can still finish."""
    with session_scope(settings) as session:
        processing.fail(session, document_id,
                        f"internal error while reading: {type(error).__name__}: {error}")
    metrics.document_failed(metrics.INTERNAL_ERROR)


def callback_due(settings: Settings, document_id: int) -> str | None:
    """The document's batch, if it is now finished and its callback is to be sent (claimed)."""
    with session_scope(settings) as session:
        batch_id = session.scalar(select(Document.batch_id).join(Batch).where(
            Document.id == document_id, Batch.callback_status == callbacks.PENDING))
        if batch_id is None:  # no callback waits (most batches): one query per document
            return None
        return batch_id if callbacks.claim_if_finished(session, batch_id) else None
