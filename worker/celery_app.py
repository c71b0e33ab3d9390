"""The Celery application, configured from the service's settings (the same object as the web)."""

from __future__ import annotations

import functools
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any, TypeVar

from celery import Celery

from core.settings import Settings

T = TypeVar("T")
QUEUE = "documents"
PROCESS_DOCUMENT = "worker.tasks.process_document"
DELIVER_CALLBACK = "worker.tasks.deliver_callback"
# Improving the readers from corrections (worker.improve) takes both cores for minutes: it has a
# queue of its own, read by one process (`make run` starts it), so documents never wait behind it.
TRAINING_QUEUE = "training"
IMPROVE_MODELS = "worker.tasks.improve_models"
# The training queue's process looks at the embedded broker's table this often (the document
# workers: BROKER_POLL_S). Measured on 2026-12-06, `make run` idle for 30 s: the prefork parent
# and the training process took 1.4 s of CPU each at 0.05 s, under 0.1 s each at 1 s.
TRAINING_POLL_S = 1.0
POOL_START_TIMEOUT_S = 180.0  # how long a new pool process may take to load its readers
# An embedded-broker consumer with nothing to do polls less and less often: every BROKER_POLL_S
# for IDLE_FAST_S after its last message (or while its pool is busy), then twice as long every
# IDLE_FAST_S more, up to IDLE_POLL_S. A document arriving after a quiet spell waits at most
# that long; a batch's documents flow at the fast pace. Measured on 2026-12-06, `make run` idle
# for 30 s: the document workers' consumer took 0.98 s of CPU polling every 0.05 s, 0.27 s so
# (0.08 s with 1 s at most, but a document after a quiet spell could then wait a second);
# `make bench` read as fast either way (mixed 8.47 / 8.81 pages/s, noisy 7.89 / 7.65, in turn).
IDLE_FAST_S = 5.0
IDLE_POLL_S = 0.25
# kombu's SQLAlchemy transport makes its tables, and each queue's row, by looking first and then
# creating, under a lock of its own process only: processes starting at once on a new broker
# file could all find nothing, and all but one failed ("table kombu_queue already exists",
# "UNIQUE constraint failed: kombu_queue.name"; 1 of 30 starts of three processes at once, and
# `make run` starts three). The one that lost tries again: the other has made them by then.
# Nothing is held across processes (a file lock around it, tried on 2026-12-02, hung once in CI).
EMBEDDED_SETUP_TRIES = 5
EMBEDDED_SETUP_WAIT_S = 0.05  # × the attempt's number, between attempts


def make_celery(settings: Settings) -> Celery:
    """A Celery app on the settings' broker. Results are never kept in Celery: the database is
    the record of every document's state."""
    app = Celery("digits", broker=settings.broker_url, set_as_current=False)
    embedded = settings.broker_url.startswith("sqla+")
    if embedded:
        _tune_embedded_broker(settings.broker_url, settings.broker_poll_s)
    app.conf.update(
        task_ignore_result=True,
        task_store_errors_even_if_ignored=False,
        task_acks_late=True,  # a task is acknowledged when done: a dead worker's task comes back
        task_reject_on_worker_lost=True,  # ... at once when a pool process is killed
        # Each pool process has its next document at hand: no wait on the broker between
        # documents. A crash hands them back (acks_late).
        worker_prefetch_multiplier=2,
        # A new pool process loads its readers (three ONNX Runtime sessions) before it reports
        # up: ~0.2 s idle since 2026-12-02 (3-8 s, ~25 s on loaded cores, with TensorFlow).
        # Celery's default wait of 4 s killed every replacement of a dead pool process, for
        # ever, then; the margin stays for a machine loaded far beyond that.
        worker_proc_alive_timeout=POOL_START_TIMEOUT_S,
        task_default_queue=QUEUE,
        task_create_missing_queues=True,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=settings.broker_timeout_s,
        broker_transport_options=_transport_options(settings, embedded),
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0.2,
                                   "interval_step": 0.5, "interval_max": 1.0},
        # The embedded broker (a SQLite table) has no broadcast: no remote control there.
        worker_enable_remote_control=not embedded,
        worker_send_task_events=False,
        worker_hijack_root_logger=False,
    )
    return app


def _transport_options(settings: Settings, embedded: bool) -> dict[str, object]:
    if embedded:  # these go to SQLAlchemy's create_engine
        path = _sqlite_path(settings.broker_url)
        if path is None:  # in memory: SQLAlchemy's own connections
            return {"connect_args": {"timeout": 30}}
        return {"creator": functools.partial(_broker_connection, str(path))}
    return {
        # Redis hands an unacknowledged task to another worker after this long.
        "visibility_timeout": settings.broker_visibility_timeout_s,
        "socket_connect_timeout": settings.broker_timeout_s,
        "socket_timeout": max(settings.broker_timeout_s, 5.0),
    }


MESSAGE_TABLE = "kombu_message"  # kombu's SQLAlchemy transport's table of messages


def _tune_embedded_broker(broker_url: str, poll_s: float) -> None:
    """The embedded broker's table is polled every `poll_s` (Redis pushes instead; see
    `Settings.broker_poll_s`). The interval is the transport's class attribute (its options all
    go to create_engine), so one process polls at one pace; so
    is its channel's database session, made one per thread (`_thread_session`); its making of
    tables and queue rows is tried again when another process did it first (`_retrying_a_race`,
    wrapped once however many apps are made). Its SQLite file
    goes in write-ahead-log mode (a setting the file keeps): every message taken or acknowledged
    is a commit, and in WAL mode readers do not wait on it and a commit costs one sync instead
    of several."""
    from kombu.transport import sqlalchemy as embedded_transport

    embedded_transport.Transport.polling_interval = poll_s
    embedded_transport.Transport.drain_events = _drain_events
    embedded_transport.Channel.session = property(_thread_session)
    for name, in_session in (("_open", False), ("_get_or_create", True)):
        method = getattr(embedded_transport.Channel, name)
        if not getattr(method, "retries_a_race", False):
            setattr(embedded_transport.Channel, name, _retrying_a_race(method, in_session))
    path = _sqlite_path(broker_url)
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path, timeout=30)) as connection:
        connection.execute("PRAGMA journal_mode=WAL")


def idle_poll_interval(idle_s: float, poll_s: float) -> float:
    """How long an embedded-broker consumer waits between polls after `idle_s` with nothing to
    do (IDLE_FAST_S, IDLE_POLL_S); never less than its own `poll_s`."""
    doublings = min(int(idle_s // IDLE_FAST_S), 30)
    return max(poll_s, min(IDLE_POLL_S, poll_s * 2.0**doublings))


def _drain_events(self: Any, connection: Any, timeout: float | None = None) -> None:
    """kombu's virtual `Transport.drain_events` (deliver one message, polling until one comes
    or `timeout` passes), its pause between polls `idle_poll_interval`: the consumer is idle
    from its last message on, unless a channel is full (its pool busy with what it took)."""
    from queue import Empty

    started = time.monotonic()
    if getattr(self, "_busy_at", None) is None:
        self._busy_at = started
    while True:
        try:
            self.cycle.get(self._deliver, timeout=timeout)
        except Empty:
            now = time.monotonic()
            if timeout is not None and now - started >= timeout:
                raise TimeoutError() from None
            if any(not channel.qos.can_consume() for channel in self.channels):
                self._busy_at = now
            pause = idle_poll_interval(now - self._busy_at, self.polling_interval)
            time.sleep(min(pause, timeout) if timeout else pause)
        else:
            self._busy_at = time.monotonic()
            return


def _retrying_a_race(method: Callable[..., T], in_session: bool) -> Callable[..., T]:
    """`method` of kombu's channel, tried again when another process made the same tables
    ("already exists") or queue row (an IntegrityError: a queue's name is its only constraint)
    first; `in_session`: it works in the channel's session, which is rolled back after a
    failure. A failed `_open` leaves its engine unused (one pooled SQLite connection)."""
    from sqlalchemy.exc import IntegrityError, OperationalError

    def lost_a_race(exc: Exception) -> bool:
        return isinstance(exc, IntegrityError) or "already exists" in str(getattr(exc, "orig", exc))

    @functools.wraps(method)
    def retrying(channel: Any, *args: Any, **kwargs: Any) -> T:
        for attempt in range(1, EMBEDDED_SETUP_TRIES + 1):
            try:
                return method(channel, *args, **kwargs)
            except (IntegrityError, OperationalError) as exc:
                if in_session:
                    channel.session.rollback()
                if attempt == EMBEDDED_SETUP_TRIES or not lost_a_race(exc):
                    raise
                time.sleep(EMBEDDED_SETUP_WAIT_S * attempt)
        raise AssertionError("unreachable")

    retrying.retries_a_race = True  # type: ignore[attr-defined]
    return retrying


def _thread_session(channel: object) -> object:
    """kombu's SQLAlchemy channel shares one session between the consumer's thread and the one
    that requeues a rejected task; a requeue racing a fetch failed ("This session is in
    'prepared' state", about one kill in eight) and the message came back only at the next
    shutdown. Each thread gets a session of its own."""
    sessions = channel.__dict__.setdefault("_thread_sessions", threading.local())
    session = getattr(sessions, "session", None)
    if session is None:
        _, factory = channel._open()  # type: ignore[attr-defined]
        session = sessions.session = factory()
    return session


def _sqlite_path(broker_url: str) -> Path | None:
    """The file of a `sqla+sqlite:///...` broker; None for another broker or one in memory."""
    sqlite_url = broker_url.removeprefix("sqla+")
    prefix = "sqlite:///"
    if not sqlite_url.startswith(prefix) or sqlite_url == prefix + ":memory:":
        return None
    return Path(sqlite_url.removeprefix(prefix))


def forget_delivered(broker_url: str) -> int:
    """Delete the messages the embedded broker has delivered: kombu's SQLAlchemy transport
    keeps each one, hidden, for ever (an acknowledged one is done with; an unacknowledged one
    is never read again, a requeue or the recovery sweep sends a new message). Returns how
    many went; 0 for any other broker."""
    path = _sqlite_path(broker_url) if broker_url.startswith("sqla+") else None
    if path is None or not path.exists():
        return 0
    with closing(_broker_connection(str(path))) as connection:
        try:
            with connection:
                return connection.execute(f"DELETE FROM {MESSAGE_TABLE} WHERE visible = 0").rowcount
        except sqlite3.OperationalError as exc:  # no such table yet: nothing was ever sent
            if "no such table" in str(exc):
                return 0
            raise


def _broker_connection(path: str) -> sqlite3.Connection:
    """A connection to the embedded broker's file: it waits for SQLite's lock rather than fail,
    and commits without waiting for the disk (synchronous=NORMAL, safe in WAL mode: a crash
    of the machine can lose the last messages, never corrupt the file). Every message sent,
    taken and acknowledged is a commit, and a message lost that way is not lost work: its
    document stays queued in the database, and the recovery sweep sends it again."""
    connection = sqlite3.connect(path, timeout=30, check_same_thread=False)
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection
