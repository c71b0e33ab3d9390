"""A worker that is asked to stop hands its documents back instead of being cut off mid-way.

When the worker is told to stop (SIGTERM to the main process, as `run.py`, Docker and systemd
do, or to the whole process group), each pool process is told too; the document it is reading
stops after the page in hand, is marked queued again (the interrupted attempt is not counted)
and its message goes back to the broker, so another worker takes it at once. A stop then ends
within about a page's reading time, never at a graceful timeout's SIGKILL.
"""

from __future__ import annotations

import logging
import os
import signal
import threading

log = logging.getLogger(__name__)
_stop = threading.Event()


def request_stop(*_: object) -> None:
    """Ask this process to stop after the page in hand (a signal handler, or called)."""
    if not _stop.is_set():
        log.info("stop requested: the document in hand goes back to the broker after this page")
    _stop.set()


def stop_requested() -> bool:
    return _stop.is_set()


def in_pool_process() -> None:
    """In a pool process: SIGTERM asks for a cooperative stop instead of killing the process
    (a SIGTERM sent to the whole group used to kill the pool, which Celery then replaced
    during its own shutdown)."""
    _stop.clear()
    signal.signal(signal.SIGTERM, request_stop)


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
