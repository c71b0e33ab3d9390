"""A worker that is asked to stop hands its documents back instead of being cut off mid-way.

When the worker is told to stop (SIGTERM to the main process, as `run.py`, Docker and systemd
do, or to the whole process group), each pool process is told too; the document it is reading
stops after the page in hand, is marked queued again (the interrupted attempt is not counted)
and its message goes back to the broker, so another worker takes it at once. A stop then ends
within about a page's reading time, never at a graceful timeout's SIGKILL. A pool process with
no document in hand stops as Celery's own shutdown has it.

The main process tells its pool with a marker file, which a reader looks at after each page,
not with a signal: a pool process killed by a signal while it passes a message to the main
process dies holding the pool's queue lock, and the shutdown then waits on it for ever
(billiard says so in `Worker._do_exit`). Signalled that way, four stops in six hung after a
batch (2026-12-02); told by the marker, none did. A SIGTERM sent to a pool process from
outside (to the whole group) still asks a reader to stop after its page.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
    """Whether this reader should hand its document back: told by a signal, or by the marker
    of the main process it belongs to."""
    return _stop.is_set() or marker(os.getppid()).exists()


@functools.lru_cache(maxsize=8)
def _started(pid: int) -> str:
    """When process `pid` started (clock ticks since boot, /proc): with the pid, a name no
    later process shares."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "0"


def marker(main_pid: int) -> Path:
    """The file that says the main process `main_pid` is stopping."""
    return Path(tempfile.gettempdir()) / f"digits-stopping-{main_pid}-{_started(main_pid)}"


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


def tell_pool() -> None:
    """From the main process, as its shutdown begins: every pool process is asked to stop."""
    marker(os.getpid()).touch()


def forget() -> None:
    """From the main process, once its pool has stopped: the marker goes."""
    marker(os.getpid()).unlink(missing_ok=True)
