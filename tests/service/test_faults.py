"""Nothing lost: a worker killed mid-document, the broker gone at upload, the database restarted
under load, a document that kills its worker every time. Real Redis, PostgreSQL and Celery
worker processes; the faults are real signals and real server stops."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from sqlalchemy import select

from core.db import session_scope
from core.schema import Document, Field
from synth import documents
from synth.pages import make_page
from synth.scanner import random_style
from tests.services import Service, Worker, cpu_hog, sample, start_service, wait_until
from worker.metrics import GIVEN_UP, TIME_LIMIT

pytestmark = [pytest.mark.services, pytest.mark.slow]
# A stopping worker finishes the page in hand (a second or two on loaded cores), hands its
# document back and exits; Celery's own shutdown adds a few seconds.
STOP_WITHIN_S = 20
LONG_PAGES = 12  # the long document: several seconds of reading, faults strike after page 2 or 3


@pytest.fixture(scope="module")
def long_tiff(digits) -> tuple[bytes, int]:  # type: ignore[no-untyped-def]
    """A LONG_PAGES-page TIFF (several seconds of reading) and its number of fields."""
    rng = np.random.default_rng(21)
    pages = [make_page(digits, rng, "order", random_style(rng, dpi=200, clean=True)) for _ in range(4)]
    images = [pages[i % len(pages)].image for i in range(LONG_PAGES)]
    return documents.tiff_bytes(images), sum(len(pages[i % len(pages)].fields) for i in range(LONG_PAGES))


@pytest.fixture(scope="module")
def short_png(digits) -> bytes:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(22)
    return documents.png_bytes(make_page(digits, rng, "cheque", random_style(rng, dpi=200, clean=True)).image)


def _document(service: Service, batch_id: str, name: str) -> Document:
    with session_scope(service.settings) as session:
        return session.scalars(select(Document).where(Document.batch_id == batch_id,
                                                      Document.name == name)).one()


def _field_count(service: Service, document_id: int) -> int:
    with session_scope(service.settings) as session:
        return len(session.scalars(select(Field.id).where(Field.document_id == document_id)).all())


# Each fault happens on an idle machine and with every core kept busy, on Redis and on the
# embedded broker, and in each of its own ways (a whole worker or its pool process killed...).
# Not every combination: for three two-way conditions that took 15 of the suite's 20 minutes.
# A covering set instead, in which every pair of conditions meets in some run (the four runs
# of an orthogonal array L4(2^3)); a fault that fails only under one pair of conditions is
# still caught.
def covering(way: tuple[str, str]) -> list[Any]:
    """The four runs of L4(2^3) for one two-way condition of the test's own, load and broker."""
    a, b = way
    runs = [(a, "idle", "redis"), (a, "loaded", "embedded"), (b, "idle", "embedded"), (b, "loaded", "redis")]
    return [pytest.param(*run, id="-".join(run)) for run in runs]


@pytest.fixture(params=["idle", "loaded"])
def load(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fault test's machine: idle, or with every core kept busy."""
    if request.param == "idle":
        yield request.param
        return
    with cpu_hog():
        yield request.param


@pytest.fixture(params=["redis", "embedded"])
def broker(request: pytest.FixtureRequest) -> str:
    """The broker of a fault test: Redis, or the embedded SQLite transport ("" = default)."""
    return request.getfixturevalue("redis_broker") if request.param == "redis" else ""


@pytest.mark.parametrize(("kill", "load", "broker"), covering(("whole worker", "pool process")),
                         indirect=["load", "broker"])
def test_a_worker_killed_mid_document_is_redone_exactly_once(
        kill, load, broker, long_tiff, short_png, pg_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    content, fields = long_tiff
    backend = {"database_url": pg_url, "broker_url": broker} if broker else {}
    with start_service(tmp_path, broker_visibility_timeout_s=10, **backend) as service:
        batch = service.upload([("long.tif", content), ("short.png", short_png)]).get_json()["id"]
        wait_until(lambda: (_document(service, batch, "long.tif").pages_done or 0) >= 3, 120,
                  "the long document to be half read")
        if kill == "whole worker":
            service.worker.kill()  # main process and pool: nothing is acknowledged
            service.worker = Worker(service.settings, tmp_path / "worker2.log")
            service.worker.start()
        else:
            for pid in service.worker.pool_pids():
                os.kill(pid, signal.SIGKILL)  # the pool process: Celery requeues its task
        status = service.wait(batch, timeout=240)
        assert status["status"] == "done", status
        doc = _document(service, batch, "long.tif")
        assert doc.attempts == 2 and doc.page_count == LONG_PAGES
        assert _field_count(service, doc.id) == fields  # exactly once: no doubled fields
        rows = service.csv_rows(batch)
        assert sum(r["document"] == "long.tif" for r in rows) == fields
        service.worker.stop()


@contextmanager
def private_redis(port: int) -> Iterator[subprocess.Popen]:
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed")
    process = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no"], stdout=subprocess.DEVNULL)
    wait_until(lambda: _port_open(port), 10, "redis-server to listen")
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("load", ["loaded"], indirect=True)  # the stricter of the two, alone
def test_the_broker_down_at_upload_loses_nothing(load, short_png, pg_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    port = _free_port()
    broker = f"redis://127.0.0.1:{port}/0"
    with private_redis(port) as redis_server:
        with start_service(tmp_path, database_url=pg_url, broker_url=broker) as service:
            redis_server.terminate()
            redis_server.wait(timeout=10)
            response = service.upload([("a.png", short_png), ("b.png", short_png)])
            assert response.status_code == 202  # the upload is kept...
            body = response.get_json()
            assert "broker" in body["warning"]  # ...and answered clearly
            with session_scope(service.settings) as session:
                waiting = session.scalars(select(Document).where(Document.batch_id == body["id"])).all()
                # Kept and waiting. (The worker's recovery sweep may be trying them right now,
                # so whether each is marked as handed over is not checked here: a failed
                # hand-over is unmarked again, and the end of this test shows none is lost.)
                assert [d.status for d in waiting] == ["queued", "queued"], \
                    [(d.name, d.status, d.enqueued_at, d.error) for d in waiting]
            assert service.client.get("/healthz").status_code == 503
            with private_redis(port):  # the broker returns (empty): the sweep hands them over
                status = service.wait(body["id"], timeout=120)
                assert status["status"] == "done"
                assert status["documents"] == {"total": 2, "done": 2, "failed": 0}


@pytest.mark.parametrize(("load", "broker"), [("idle", "redis"), ("loaded", "embedded")],
                         ids=["idle-redis", "loaded-embedded"], indirect=True)
def test_a_document_that_keeps_killing_its_worker_is_given_up(load, broker, short_png, long_tiff, pg_url,
                                                               tmp_path) -> None:  # type: ignore[no-untyped-def]
    content, _ = long_tiff
    backend = {"database_url": pg_url, "broker_url": broker} if broker else {}
    with start_service(tmp_path, task_max_retries=1, **backend) as service:
        batch = service.upload([("good.png", short_png), ("deadly.tif", content),
                                ("also-good.png", short_png)]).get_json()["id"]
        kills = 0
        deadline = time.time() + 240
        while time.time() < deadline:
            doc = _document(service, batch, "deadly.tif")
            if doc.status in ("done", "failed"):
                break
            if doc.status == "processing" and doc.attempts > kills:
                for pid in service.worker.pool_pids():
                    os.kill(pid, signal.SIGKILL)  # it "crashes" the worker every time it is read
                kills += 1
            time.sleep(0.05)
        status = service.wait(batch, timeout=120)
        doc = _document(service, batch, "deadly.tif")
        assert doc.status == "failed" and "given up after 2 attempts" in doc.error
        assert status["status"] == "partial"
        assert status["documents"] == {"total": 3, "done": 2, "failed": 1}
        assert any("deadly.tif" in e["error"] for e in status["errors"])
        wait_until(lambda: sample(service.metrics(), "digits_documents_failed_total", kind=GIVEN_UP) == 1,
                   30, "the document given up counted", service.worker.tail)
        assert sample(service.metrics(), "digits_documents_read_total") == 2
        service.worker.stop()


def _restart_postgres() -> None:
    versions = sorted(os.listdir("/etc/postgresql"))
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "restart"],
                   check=True, capture_output=True, timeout=120)


def _postgres_up() -> bool:
    try:
        with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres connect_timeout=2"):
            return True
    except psycopg.OperationalError:
        return False


@pytest.mark.skipif(not Path("/etc/postgresql").is_dir() or shutil.which("pg_ctlcluster") is None,
                    reason="needs a local PostgreSQL cluster managed by pg_ctlcluster")
@pytest.mark.parametrize("load", ["loaded"], indirect=True)
def test_the_database_restarted_under_load(load, long_tiff, short_png, pg_url, redis_broker,
                                           tmp_path) -> None:  # type: ignore[no-untyped-def]
    content, fields = long_tiff
    with start_service(tmp_path, database_url=pg_url, broker_url=redis_broker) as service:
        batch = service.upload([("long.tif", content), ("short.png", short_png)]).get_json()["id"]
        wait_until(lambda: (_document(service, batch, "long.tif").pages_done or 0) >= 2, 120,
                  "reading to start")
        _restart_postgres()
        wait_until(_postgres_up, 60, "PostgreSQL to come back")
        # Web requests: at most one retry each, once the database answers again.
        for _ in range(3):
            response = service.client.get(f"/api/batches/{batch}")
            if response.status_code == 503:
                assert "try again" in response.get_json()["error"]
                time.sleep(1)
                response = service.client.get(f"/api/batches/{batch}")
            assert response.status_code == 200
        upload = service.upload([("after.png", short_png)])
        if upload.status_code == 503:
            time.sleep(1)
            upload = service.upload([("after.png", short_png)])
        assert upload.status_code == 202
        status = service.wait(batch, timeout=240)
        assert status["status"] == "done", status
        assert _field_count(service, _document(service, batch, "long.tif").id) == fields
        assert service.wait(upload.get_json()["id"], timeout=120)["status"] == "done"
        service.worker.stop()


@pytest.mark.parametrize(("target", "load", "broker"), covering(("main process", "process group")),
                         indirect=["load", "broker"])
def test_a_stopped_worker_hands_its_document_back_at_once(target, load, broker, long_tiff, short_png,
                                                          pg_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """SIGTERM mid-document: the worker ends within seconds (not at a graceful timeout), the
    document is queued again, its interrupted attempt not counted; the next worker reads it,
    exactly once."""
    content, fields = long_tiff
    backend = {"database_url": pg_url, "broker_url": broker} if broker else {}
    with start_service(tmp_path, **backend) as service:
        batch = service.upload([("long.tif", content)]).get_json()["id"]
        wait_until(lambda: (_document(service, batch, "long.tif").pages_done or 0) >= 3, 120,
                  "the long document to be half read")
        seconds = service.worker.terminate(group=target == "process group")
        assert seconds < STOP_WITHIN_S, f"the worker took {seconds:.1f} s to stop"
        doc = _document(service, batch, "long.tif")
        assert (doc.status, doc.attempts) == ("queued", 0), (doc.status, doc.attempts, doc.error)
        service.worker = Worker(service.settings, tmp_path / "worker2.log")
        service.worker.start()
        status = service.wait(batch, timeout=240)
        assert status["status"] == "done", status
        doc = _document(service, batch, "long.tif")
        assert doc.attempts == 1 and _field_count(service, doc.id) == fields
        service.worker.stop()


def test_a_document_over_the_time_limit_is_stopped_and_the_batch_goes_on(long_tiff, short_png,
                                                                        tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A document read for longer than DOCUMENT_TIME_LIMIT_S is stopped and failed with the
    reason; the other documents of the batch are read."""
    content, _ = long_tiff  # several seconds of reading, far over one
    with start_service(tmp_path, document_time_limit_s=1) as service:
        batch = service.upload([("long.tif", content), ("short.png", short_png)]).get_json()["id"]
        status = service.wait(batch, timeout=180)
        assert status["documents"] == {"total": 2, "done": 1, "failed": 1}, status
        errors = {e["document"]: e["error"] for e in status["errors"]}
        assert "longer than 1 s" in errors["long.tif"] and "DOCUMENT_TIME_LIMIT_S" in errors["long.tif"]
        wait_until(lambda: sample(service.metrics(), "digits_documents_failed_total", kind=TIME_LIMIT) == 1,
                   30, "the document stopped counted", service.worker.tail)
        service.worker.stop()
