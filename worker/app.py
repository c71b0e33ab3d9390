"""The worker's Celery app: `celery -A worker.app worker`.

Each pool process gets its own database connections and a recogniser loaded on first use, and
counts its metrics in METRICS_DIR (core.metrics, worker.metrics); each worker runs the recovery
sweep in the background (worker.sweep).
"""

from __future__ import annotations

import logging

from celery.signals import (
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
    worker_shutting_down,
)

from core.db import dispose_all
from core.metrics import mark_dead, use_directory
from core.settings import Settings
from worker import POOL_READY, metrics, stopping
from worker.celery_app import make_celery

settings = Settings.from_env()
use_directory(settings.metrics_dir)  # before any metric is made (they are, in the pool processes)
celery_app = make_celery(settings)
celery_app.conf.include = ["worker.tasks"]
log = logging.getLogger("worker")


@worker_process_init.connect
def _init_process(**_: object) -> None:
    dispose_all()  # connections inherited through fork are the parent's: never share them
    from worker.recognition import reader_for

    metrics.prepare()  # a scrape shows this process's counters from now on, at 0
    reader = reader_for(settings)  # now, not in the first task
    log.info("%s: readers %s loaded", POOL_READY, reader.version)


@worker_process_shutdown.connect
def _process_ends(**_: object) -> None:
    """A pool process ends: prometheus_client's bookkeeping for a dead process."""
    mark_dead(settings.metrics_dir)


@worker_ready.connect
def _start_sweep(**_: object) -> None:
    from worker import sweep

    sweep.start_background(settings, celery_app)


@worker_shutting_down.connect
def _hand_back(**_: object) -> None:
    """The worker begins to stop: its pool processes hand their documents back (stopping)."""
    stopping.tell_pool()


@worker_shutdown.connect
def _stop_sweep(**_: object) -> None:
    from worker import sweep

    sweep.stop_background()
    stopping.forget()
