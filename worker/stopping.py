"""A worker that is asked to stop hands its documents back instead of being cut off mid-way.

When the worker is told to stop (SIGTERM to the main process, as `run.py`, Docker and systemd
do, or to the whole process group), each pool process is told too; the document it is reading
stops after the page in hand, is marked queued again (the interrupted attempt is not counted)
and its message goes back to the broker, so another worker takes it at once. A stop then ends
within about a page's reading time, never at a graceful timeout's SIGKILL. A pool process with
no document in hand stops as Celery's own handler has it.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)
_stop = threading.Event()
_busy = threading.Event()
_previous: object = None  # Celery's (billiard's) SIGTERM handler, called when we do not stop softly


def request_stop() -> None:
    """Ask this process to stop after the page in hand."""
    if not _stop.is_set():
        log.info("stop requested: the document in hand goes back to the broker after this page")
    _stop.set()


def stop_requested() -> bool:
    return _stop.is_set()


def _on_sigterm(signum: int, frame: object) -> None:
    if _busy.is_set():  # told again (group and main both signal): it stops after this page anyway
        request_stop()
        return
    previous = _previous if callable(_previous) else signal.SIG_DFL
    signal.signal(signal.SIGTERM, previous)  # type: ignore[arg-type]
    if callable(previous):
        previous(signum, frame)
    else:
        os.kill(os.getpid(), signal.SIGTERM)


@contextmanager
def reading() -> Iterator[None]:
    """While a pool process reads a document: a SIGTERM asks it to hand the document back.
    Installed here, at the task, because billiard resets a pool process's signal handlers
    after Celery's process initialisation."""
    global _previous
    current = signal.getsignal(signal.SIGTERM)
    if current is not _on_sigterm:
        _previous = current
        signal.signal(signal.SIGTERM, _on_sigterm)
    _busy.set()
    try:
        yield
    finally:
        _busy.clear()


def child_pids() -> list[int]:
    """This process's children (the pool processes of a Celery main process), from /proc."""
    pids: list[int] = []
    for task in os.listdir("/proc/self/task") if os.path.isdir("/proc/self/task") else []:
        try:
            with open(f"/proc/self/task/{task}/children") as f:
                pids.extend(int(p) for p in f.read().split())
        except OSError:
            continue
    return sorted(set(pids))


def tell_pool(pids: list[int]) -> None:
    """From the main process, as its shutdown begins: every pool process is asked to stop."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
