"""Start the service: apply migrations, then the web server and a Celery worker (`make run`).

Configuration comes from the environment (see the README); with none, everything lives under
`var/` (SQLite database, SQLite-backed broker) and no server is needed. Ctrl-C stops both.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from core import metrics
from core.migrate import upgrade
from core.settings import Settings


def main() -> int:
    settings = Settings.from_env()
    upgrade(settings)
    # The workers' counts of the last run go, before any process of this one writes its own
    # (the workers count in METRICS_DIR themselves: worker.app).
    metrics.wipe(settings.metrics_dir)
    declare_queues(settings)
    from worker.celery_app import TRAINING_POLL_S

    python = sys.executable
    web = subprocess.Popen([
        python, "-m", "gunicorn", "web.wsgi:app", "--bind", f"{settings.host}:{settings.port}",
        "--worker-class", "web.server.TimedThreadWorker",
        "--workers", str(settings.web_processes), "--threads", "4", "--timeout", "300",
        "--graceful-timeout", "30", "--log-level", "info"])
    worker = subprocess.Popen([
        python, "-m", "celery", "-A", "worker.app", "worker", "--loglevel", "INFO",
        "--concurrency", str(settings.worker_concurrency), "--queues", "documents",
        "--without-gossip", "--without-mingle", "--hostname", f"worker-{os.getpid()}@%h"])
    # Improving from corrections (worker.improve) on a queue of its own, one run at a time.
    trainer = subprocess.Popen([
        python, "-m", "celery", "-A", "worker.app", "worker", "--loglevel", "INFO",
        "--pool", "solo", "--queues", "training", "--without-gossip", "--without-mingle",
        "--hostname", f"trainer-{os.getpid()}@%h"],
        env=dict(os.environ, BROKER_POLL_S=str(max(settings.broker_poll_s, TRAINING_POLL_S))))
    children = [web, worker, trainer]
    if settings.watch_dir:  # the hot folder (worker.watch)
        children.append(subprocess.Popen([python, "-m", "worker.watch"]))
    url = f"http://{settings.host}:{settings.port}"
    print(f"\n  Digits is starting on {url}  (health: {url}/healthz)\n"
          f"  database: {_safe(settings.database_url)}\n  broker:   {_safe(settings.broker_url)}\n"
          f"  data:     {settings.data_dir}\n"
          + (f"  watching: {settings.watch_dir} (results in its done/ and failed/)\n"
             if settings.watch_dir else ""), flush=True)
    if not settings.api_token:
        print("  No API_TOKEN is set: anyone who can reach this port can use it. To require a\n"
              "  token, start with\n"
              "    API_TOKEN=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))') make run\n",
              flush=True)

    def stop(*_: object) -> None:
        for child in children:
            if child.poll() is None:
                child.terminate()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while all(child.poll() is None for child in children):
        time.sleep(0.5)
    stop()
    deadline = time.time() + 30
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            child.kill()
    return next((child.returncode for child in children if child.returncode and child.returncode > 0), 0)


def declare_queues(settings: Settings) -> None:
    """The broker's queues made here, before the worker and the trainer start: on a new embedded
    broker file both would make kombu's tables and queue rows at once, and kombu guards that
    within one process only (IntegrityError or "table already exists": that worker stopped,
    and make run with it: one of two starts from a fresh clone, 2026-12-02). Each process now
    also tries again when it loses that race (`worker.celery_app._retrying_a_race`, for
    workers started by hand); made here first, the children never race at all."""
    from worker.celery_app import QUEUE, TRAINING_QUEUE, make_celery

    with make_celery(settings).connection_for_write() as connection:
        for queue in (QUEUE, TRAINING_QUEUE):
            connection.default_channel.queue_declare(queue=queue)


def _safe(url: str) -> str:
    """The URL without its password, for printing."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        return f"{scheme}://{credentials.split(':')[0]}:***@{host}"
    return url


if __name__ == "__main__":
    sys.exit(main())
