"""The recovery sweep: no document is forgotten, whatever happened to the broker or a worker.

Hands to the broker again:
- documents never handed over (the broker was down at upload, or the web died before it),
- queued documents whose messages are gone (the broker restarted empty) — judged by the queue
  being empty while they wait,
- documents being read by nobody: their reader died (killed, out of memory, its machine
  stopped) and nothing holds their lock — found within orphan_after_s(), whatever the broker;
- documents whose reader stopped giving signs of life (its message lost with it).
Duplicates are harmless: a document is read under a lock and finished ones are skipped.
It also deletes the messages the embedded broker has delivered (it would keep them for ever).
Every worker runs it in a background thread; `python -m worker.sweep` runs it once.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from celery import Celery
from kombu.exceptions import ChannelError
from sqlalchemy import or_, select, update

from core import callbacks
from core.db import session_scope
from core.locks import document_lock
from core.schema import PROCESSING, QUEUED, Batch, Document, utcnow
from core.settings import Settings
from worker.celery_app import DELIVER_CALLBACK, PROCESS_DOCUMENT, QUEUE, forget_delivered

log = logging.getLogger(__name__)
# A document being read whose lock nobody holds has lost its reader. Its lock is only tried once
# it has been silent for this many times the longest retry back-off (8 s by default: 20 s),
# during which a live task holds no lock.
ORPHAN_BACKOFFS = 2.5
ORPHAN_AFTER_MIN_S = 5.0  # and never sooner than this


def orphan_after_s(settings: Settings) -> float:
    """How long a document being read stays silent before its lock is tried."""
    longest = settings.task_retry_backoff_s * 2 ** max(0, settings.task_max_retries - 1)
    return max(ORPHAN_AFTER_MIN_S, ORPHAN_BACKOFFS * longest)
_stop = threading.Event()
_thread: threading.Thread | None = None


def queue_length(celery_app: Celery) -> int | None:
    """Messages waiting in the broker's queue, or None if the broker does not answer."""
    try:
        with celery_app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1)
            try:
                return connection.default_channel.queue_declare(queue=QUEUE, passive=True).message_count
            except ChannelError:
                return 0  # no such queue: a broker that restarted empty
    except Exception:  # noqa: BLE001 - the broker is down
        return None


def publish(celery_app: Celery, document_id: int) -> None:
    celery_app.send_task(PROCESS_DOCUMENT, args=[document_id], queue=QUEUE)


def notify(celery_app: Celery, batch_id: str) -> None:
    """Hand a finished batch's callback delivery to the workers (core.callbacks)."""
    celery_app.send_task(DELIVER_CALLBACK, args=[batch_id], queue=QUEUE)


def resend_callbacks(settings: Settings, celery_app: Celery) -> int:
    """Callbacks claimed long ago and never tried since: their task was lost. Sent again
    (the claim time is renewed first, so two sweeping workers do not both send one)."""
    with session_scope(settings) as session:
        overdue = callbacks.overdue(session, settings)
    sent = 0
    for batch_id in overdue:
        with session_scope(settings) as session:
            session.execute(update(Batch).where(Batch.id == batch_id).values(callback_at=utcnow()))
        try:
            notify(celery_app, batch_id)
            sent += 1
        except Exception:  # noqa: BLE001 - the broker is down: the next sweep tries again
            break
    return sent


def sweep(settings: Settings, celery_app: Celery) -> int:
    """One pass; returns how many documents were handed to the broker."""
    now = utcnow()
    waiting = queue_length(celery_app)
    if waiting is None:
        return 0  # the broker is down: nothing can be handed over now
    stale = now - timedelta(seconds=settings.stale_after_s)
    lost = now - timedelta(seconds=settings.lost_after_s)
    conditions = [(Document.status == QUEUED) & Document.enqueued_at.is_(None),
                  (Document.status == PROCESSING) & (Document.heartbeat_at < stale)]
    if waiting == 0:
        conditions.append((Document.status == QUEUED) & (Document.enqueued_at < lost))
    with session_scope(settings) as session:
        ids = session.scalars(select(Document.id).where(or_(*conditions)).order_by(Document.id)
                              .limit(1000)).all()
        silent = session.scalars(select(Document.id).where(
            Document.status == PROCESSING,
            Document.heartbeat_at < now - timedelta(seconds=orphan_after_s(settings)),
            Document.heartbeat_at >= stale).order_by(Document.id).limit(1000)).all()
    ids = [*ids, *(i for i in silent if _orphaned(settings, i))]
    handed = 0
    for document_id in ids:
        with session_scope(settings) as session:
            # Claim it, so that two workers sweeping at once do not both hand it over.
            claimed = session.execute(
                update(Document).where(Document.id == document_id,
                                       or_(Document.enqueued_at.is_(None), Document.enqueued_at < lost))
                .values(enqueued_at=now)).rowcount
        if not claimed:
            continue
        try:
            publish(celery_app, document_id)
            handed += 1
        except Exception:  # noqa: BLE001 - the broker went away mid-sweep: un-claim, stop
            with session_scope(settings) as session:
                session.execute(update(Document).where(Document.id == document_id)
                                .values(enqueued_at=None))
            break
    if handed:
        log.info("recovery sweep handed %d document(s) to the broker", handed)
    if resend_callbacks(settings, celery_app):
        log.info("recovery sweep sent lost batch callbacks again")
    forget_delivered(settings.broker_url)
    return handed


def _orphaned(settings: Settings, document_id: int) -> bool:
    """Whether nobody is reading the document: its lock is free (taken and let go at once)."""
    with document_lock(settings, document_id) as held:
        return held


def _loop(settings: Settings, celery_app: Celery) -> None:
    while not _stop.is_set():
        try:
            sweep(settings, celery_app)
        except Exception:  # noqa: BLE001 - the database may be restarting: try again later
            log.warning("recovery sweep failed; will try again", exc_info=True)
        _stop.wait(settings.sweep_interval_s)


def start_background(settings: Settings, celery_app: Celery) -> None:
    global _thread
    if settings.sweep_interval_s <= 0 or (_thread and _thread.is_alive()):
        return
    _stop.clear()
    _thread = threading.Thread(target=_loop, args=(settings, celery_app), name="recovery-sweep",
                               daemon=True)
    _thread.start()


def stop_background() -> None:
    _stop.set()


if __name__ == "__main__":
    from worker.celery_app import make_celery

    logging.basicConfig(level=logging.INFO)
    config = Settings.from_env()
    print(f"{sweep(config, make_celery(config))} document(s) handed to the broker")
