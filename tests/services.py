"""Real services for the tests: a PostgreSQL database and a Redis database of their own, and a
Celery worker process on given settings, with a Flask client beside it."""

from __future__ import annotations

import dataclasses
import io
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from core.settings import PROJECT_ROOT, Settings

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
TEST_REDIS_DB = 13  # kept apart from a developer's `make run` on database 0
WORKER_START_TIMEOUT_S = 90
# GET /metrics parsed: (sample name, its labels sorted) -> value.
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def services_required() -> bool:
    """On CI (`.ci/run` sets REQUIRE_SERVICES=1) missing servers fail the run; elsewhere the
    tests that need them are skipped with the reason."""
    return os.environ.get("REQUIRE_SERVICES") == "1"


def _unavailable(what: str, exc: BaseException) -> None:
    message = f"{what} is not reachable on loopback ({exc}); start it or run `bash .ci/run`"
    if services_required():
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for this test session, dropped afterwards."""
    import psycopg

    name = f"digits_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True)
    except psycopg.OperationalError as exc:
        _unavailable("PostgreSQL", exc)
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        from core.db import dispose_all

        dispose_all()
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


@contextmanager
def redis_url() -> Iterator[str]:
    """A Redis database for this session, emptied before and after."""
    import redis

    client = redis.Redis(REDIS_HOST, REDIS_PORT, db=TEST_REDIS_DB, socket_connect_timeout=3)
    try:
        client.flushdb()
    except redis.RedisError as exc:
        _unavailable("Redis", exc)
    try:
        yield f"redis://{REDIS_HOST}:{REDIS_PORT}/{TEST_REDIS_DB}"
    finally:
        client.flushdb()
        client.close()


def wait_until(predicate: Callable[[], object], timeout: float, what: str,
               detail: Callable[[], str] | None = None) -> None:
    """Poll `predicate` until it is true; AssertionError naming `what` (and `detail()`, such as
    a worker's log) after `timeout` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"not seen within {timeout} s: {what}" + (f"\n{detail()}" if detail else ""))


def environment(settings: Settings) -> dict[str, str]:
    """Environment variables that make a process see `settings`: every one of them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "BROKER_URL"))}
    for setting in dataclasses.fields(Settings):
        name, value = setting.name.upper(), getattr(settings, setting.name)
        if value is None:
            env.pop(name, None)
        else:
            env[name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    env.update({"PYTHONPATH": str(PROJECT_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"})
    return env


@dataclass
class Worker:
    """A Celery worker process (its own process group, so it can be killed whole)."""

    settings: Settings
    log: Path
    concurrency: int = 1
    process: subprocess.Popen | None = None

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = self.log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "worker.app", "worker", "--loglevel", "INFO",
             "--concurrency", str(self.concurrency), "--queues", "documents", "--without-gossip",
             "--without-mingle", "--hostname", f"test-{uuid.uuid4().hex[:6]}@%h"],
            cwd=PROJECT_ROOT, env=environment(self.settings), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
        mark = self.log.stat().st_size
        deadline = time.time() + WORKER_START_TIMEOUT_S
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the worker exited at start:\n{self.tail()}")
            text = self.log.read_bytes()[mark:].decode(errors="replace")
            if " ready." in text:
                return
            time.sleep(0.3)
        raise RuntimeError(f"the worker did not get ready in {WORKER_START_TIMEOUT_S}s:\n{self.tail()}")

    def pool_pids(self) -> list[int]:
        """Pids of the worker's pool processes (the children of its main process)."""
        out = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def kill(self) -> None:
        """SIGKILL the whole worker: main process and pool, no chance to clean up."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def terminate(self, group: bool) -> float:
        """SIGTERM to the main process (as run.py, Docker and systemd stop it) or to its whole
        process group; returns the seconds it took to exit (it is killed after 60)."""
        started = time.time()
        if group:
            os.killpg(self.process.pid, signal.SIGTERM)
        else:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.kill()
        return time.time() - started

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Service:
    settings: Settings
    worker: Worker
    app: object
    client: object
    created: list[str] = field(default_factory=list)

    def upload(self, files: list[tuple[str, bytes]], **form: str):  # type: ignore[no-untyped-def]
        # Options first, as HTTP clients send a form's fields before its files (tests of
        # options sent after the files: tests/service/test_uploads_streamed.py).
        data: dict[str, object] = dict(form)
        data["files"] = [(io.BytesIO(content), name) for name, content in files]
        response = self.client.post("/api/batches", data=data, content_type="multipart/form-data")
        if response.status_code == 202:
            self.created.append(response.get_json()["id"])
        return response

    def status(self, batch_id: str) -> dict:
        response = self.client.get(f"/api/batches/{batch_id}")
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()

    def wait(self, batch_id: str, timeout: float = 120.0) -> dict:
        """Poll the status API until the batch is finished; returns the final status."""
        deadline = time.time() + timeout
        seen = []
        while time.time() < deadline:
            status = self.status(batch_id)
            if not seen or seen[-1] != status["status"]:
                seen.append(status["status"])
            if status["status"] in ("done", "partial", "failed"):
                status["_seen"] = seen
                return status
            time.sleep(0.25)
        raise AssertionError(f"batch {batch_id} not finished after {timeout}s (seen {seen}):\n"
                             f"{self.worker.tail()}")

    def metrics(self) -> Samples:
        """Every sample of GET /metrics, parsed as Prometheus parses the text format."""
        from prometheus_client.parser import text_string_to_metric_families

        response = self.client.get("/metrics")
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.content_type.startswith("text/plain; version=0.0.4")
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(response.get_data(as_text=True))
                for s in family.samples}

    def csv_rows(self, batch_id: str) -> list[dict[str, str]]:
        import csv

        response = self.client.get(f"/api/batches/{batch_id}/export.csv")
        assert response.status_code == 200
        return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


@contextmanager
def start_service(data_dir: Path, concurrency: int = 1, **overrides: object) -> Iterator[Service]:
    from core.db import dispose_all
    from core.migrate import upgrade
    from web import create_app

    templates = data_dir / "form_templates"  # a copy: tests may add templates of their own
    shutil.copytree(Settings().form_templates_dir, templates, dirs_exist_ok=True)
    # Recovery within seconds, not the minutes of production's defaults: a lost message after
    # 15 s of empty queue, a silent reader's broker message after 20 s.
    base = {"sweep_interval_s": 2.0, "broker_visibility_timeout_s": 20, "task_retry_backoff_s": 1,
            "lost_after_s": 15, "form_templates_dir": templates}
    base.update(overrides)
    settings = Settings.from_env({}, data_dir=data_dir, **base)
    upgrade(settings)
    worker = Worker(settings, data_dir / "worker.log", concurrency)
    worker.start()
    app = create_app(settings)
    app.testing = True
    try:
        yield Service(settings, worker, app, app.test_client())
    finally:
        worker.stop()
        dispose_all()


def sample(samples: Samples, name: str, **labels: str) -> float | None:
    """One sample's value from `Service.metrics()`; None when there is no such sample."""
    return samples.get((name, tuple(sorted(labels.items()))))


HOG_SECONDS = 600  # a busy process ends by itself after this long, whatever happens to the test


@contextmanager
def cpu_hog(processes: int | None = None) -> Iterator[None]:
    """Every core kept busy while the block runs (bounded: each busy process also stops by
    itself): faults must be handled as well on a loaded machine as on an idle one."""
    count = processes or os.cpu_count() or 1
    busy = f"import time\nend = time.time() + {HOG_SECONDS}\nwhile time.time() < end:\n    pass\n"
    hogs = [subprocess.Popen([sys.executable, "-c", busy]) for _ in range(count)]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait(timeout=10)
