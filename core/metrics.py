"""Prometheus's multiprocess mode, set up once for every process of the service.

A Celery worker reads documents in several pool processes (and a service in several worker
containers), so a counter kept in one process's memory would be a fraction of the truth. In
prometheus_client's multiprocess mode each process writes its counts to files of its own in
one directory (METRICS_DIR, PROMETHEUS_MULTIPROC_DIR to the library) and GET /metrics adds
them up. Files are named by host and pid, not by pid alone: worker containers sharing the
directory have pids of their own that repeat from one container to the next.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

from prometheus_client import multiprocess, values

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # where prometheus_client writes and reads the files
METRIC_FILES = "*.db"  # what prometheus_client writes there (one set per process)
# The host part of a file's name: letters, digits and dashes only, as prometheus_client splits
# file names at underscores.
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"


def process_identifier() -> str:
    """This process's name in the file names: host and pid (a forked child gets its own)."""
    return f"{_HOST}-{os.getpid()}"


def use_directory(directory: Path) -> None:
    """Count this process's metrics, and its children's, in `directory`. Metrics created before
    this call stay in memory, uncounted: call it before the first one is made."""
    directory.mkdir(parents=True, exist_ok=True)
    os.environ[MULTIPROC_ENV] = str(directory)  # read by prometheus_client, inherited by children
    values.ValueClass = values.MultiProcessValue(process_identifier)


def wipe(directory: Path) -> int:
    """Remove the counts of earlier runs (before any process of this one starts, as
    prometheus_client requires); returns how many files went."""
    removed = 0
    for path in directory.glob(METRIC_FILES):
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def mark_dead(directory: Path, identifier: str | None = None) -> None:
    """A process ends: its live gauges go (its counters stay, they are part of the totals)."""
    multiprocess.mark_process_dead(identifier or process_identifier(), str(directory))
