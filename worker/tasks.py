"""Celery tasks: thin wrappers around plain functions (worker.documents, worker.sweep)."""

from __future__ import annotations

import logging

from celery import Task
from celery.exceptions import Reject, SoftTimeLimitExceeded
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from worker import documents, stopping
from worker.app import celery_app, settings
from worker.celery_app import PROCESS_DOCUMENT
from worker.recognition import reader_for

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
    try:
        reader = reader_for(settings)
        with stopping.reading():
            outcome = documents.process_document(settings, document_id, reader)
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
