"""Celery tasks: thin wrappers around plain functions (worker.documents, worker.sweep)."""

from __future__ import annotations

import logging

from celery import Task
from celery.exceptions import Reject, SoftTimeLimitExceeded
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from core import callbacks
from core.batches import summaries
from core.db import session_scope
from core.schema import Batch
from worker import documents, stopping
from worker.app import celery_app, settings
from worker.celery_app import DELIVER_CALLBACK, IMPROVE_MODELS, PROCESS_DOCUMENT, QUEUE

log = logging.getLogger(__name__)
# Errors that pass: the database restarting, the network hiccuping. Worth trying again.
TRANSIENT = (OperationalError, InterfaceError, ConnectionError, TimeoutError)
HARD_LIMIT_GRACE_S = 60  # after the soft limit, this long to record the failure before a kill


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, TRANSIENT)


@celery_app.task(name=PROCESS_DOCUMENT, bind=True, max_retries=settings.task_max_retries,
                 acks_late=True, reject_on_worker_lost=True, ignore_result=True,
                 soft_time_limit=settings.document_time_limit_s,
                 time_limit=settings.document_time_limit_s + HARD_LIMIT_GRACE_S)
def process_document(self: Task, document_id: int) -> None:
    _read(self, document_id)
    try:
        batch_id = documents.callback_due(settings, document_id)
        if batch_id:
            deliver_callback.apply_async((batch_id,), queue=QUEUE)
    except Exception:  # noqa: BLE001 - the database or broker went away: the sweep sends it later
        log.warning("document %s: its batch's callback could not be queued now", document_id, exc_info=True)


def _read(self: Task, document_id: int) -> None:
    try:
        with stopping.reading():
            outcome = documents.process_document(settings, document_id)
        if outcome == documents.HANDED_BACK:
            raise Reject("the worker is stopping: handed back", requeue=True)
    except Reject:
        raise
    except SoftTimeLimitExceeded:
        log.error("document %s: stopped at the time limit", document_id)
        documents.record_timeout(settings, document_id, settings.document_time_limit_s)
    except Exception as exc:
        if _transient(exc) and self.request.retries < self.max_retries:
            delay = settings.task_retry_backoff_s * 2 ** self.request.retries
            log.warning("document %s: %s; retrying in %ss", document_id, exc, delay)
            raise self.retry(exc=exc, countdown=delay) from None
        log.exception("document %s could not be read", document_id)
        try:
            documents.record_crash(settings, document_id, exc)
        except Exception:  # noqa: BLE001 - the database is gone too: the sweep will retry it
            log.exception("document %s: the failure could not be recorded", document_id)


@celery_app.task(name=DELIVER_CALLBACK, bind=True, max_retries=settings.callback_retries,
                 acks_late=True, ignore_result=True)
def deliver_callback(self: Task, batch_id: str) -> None:
    """POST a finished batch's summary to its callback URL; tried again with back-off."""
    with session_scope(settings) as session:
        batch = session.get(Batch, batch_id)
        if batch is None or batch.callback_status != callbacks.SENDING or not batch.callback_url:
            return  # delivered already (a second copy of this task), or the batch was deleted
        body, url = callbacks.body_of(summaries(session, [batch])[0]), batch.callback_url
    error = None
    try:
        callbacks.post(settings, url, body)
    except (OSError, callbacks.CallbackRefused) as exc:
        error = str(exc) or type(exc).__name__
    final = error is None or self.request.retries >= self.max_retries
    with session_scope(settings) as session:
        callbacks.record(session, batch_id, error, final)
    if error is None:
        log.info("batch %s: callback delivered to %s", batch_id, url)
    elif final:
        log.error("batch %s: callback to %s failed for good after %d attempts: %s", batch_id, url,
                  self.request.retries + 1, error)
    else:
        delay = settings.callback_backoff_s * 2 ** self.request.retries
        log.warning("batch %s: callback to %s failed (%s); trying again in %.0f s", batch_id, url,
                    error, delay)
        raise self.retry(countdown=delay)


@celery_app.task(name=IMPROVE_MODELS, acks_late=False, ignore_result=True)
def improve_models() -> None:
    """Train, judge and maybe promote a candidate from the reviewed fields (worker.improve);
    its progress and outcome are recorded for GET /api/models/improve."""
    from core.improve_runs import Busy
    from worker import improve

    try:
        improve.run_recorded(settings)
    except Busy:
        log.warning("improve: a run is going on already; this request is dropped")
    except improve.NotEnough as exc:
        log.warning("improve: %s", exc)
