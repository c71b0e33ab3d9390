"""Workers on two hosts share one batch: each host is a network namespace of its own that
reaches PostgreSQL and Redis only over its own link (bench.hosts), as the README's
scaling-out section sets it up. Every document is read once, by one host or the other, and
both take part."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from bench import hosts
from bench.hosts import Forwarder, documents_read, on_host, start_worker, stop, wait_finished
from core.migrate import upgrade
from core.settings import Settings
from synth import documents
from synth.pages import make_page
from synth.scanner import random_style
from tests.services import environment, postgres_database, redis_url

PAGES = 8  # enough that a host holding two prefetched documents leaves work to the other

pytestmark = [pytest.mark.services, pytest.mark.slow,
              pytest.mark.skipif(hosts.available() is not None, reason=str(hosts.available()))]


@pytest.fixture()
def servers() -> tuple[str, str]:
    """A database and a broker of this test's own: no document of another test is in them."""
    with postgres_database() as database, redis_url() as broker:
        yield database, broker


def test_two_worker_hosts_read_one_batch(tmp_path: Path, servers: tuple[str, str], digits) -> None:  # type: ignore[no-untyped-def]
    from web import create_app

    pg_url, redis_broker = servers
    rng = np.random.default_rng(41)
    pages = [documents.png_bytes(make_page(digits, rng, "cheque", random_style(rng, dpi=200)).image)
             for _ in range(PAGES)]
    settings = Settings.from_env({}, data_dir=tmp_path, database_url=pg_url, broker_url=redis_broker)
    upgrade(settings)
    client = create_app(settings).test_client()
    with hosts.hosts(2) as made, Forwarder([h.gateway for h in made]):
        logs = [tmp_path / f"{h.name}.log" for h in made]
        workers = []
        try:
            for host, log in zip(made, logs):
                env = {**environment(settings), **on_host(host, pg_url, redis_broker)}
                assert host.gateway in env["DATABASE_URL"] and "127.0.0.1" not in env["BROKER_URL"]
                workers.append(start_worker(host, env, log))
            files = [(io.BytesIO(page), f"cheque-{i}.png") for i, page in enumerate(pages)]
            response = client.post("/api/batches", data={"files": files}, content_type="multipart/form-data")
            assert response.status_code == 202, response.get_data(as_text=True)
            batch_id = response.get_json()["id"]
            status = wait_finished(client, batch_id, timeout=600)
        finally:
            for process in workers:
                stop(process)
    assert status["status"] == "done" and status["documents"] == {"total": PAGES, "done": PAGES, "failed": 0}
    per_host = [documents_read(log) for log in logs]
    assert sum(per_host) == PAGES and all(n >= 1 for n in per_host), per_host  # each read once
    rows = client.get(f"/api/batches/{batch_id}/export.csv").get_data(as_text=True).splitlines()
    assert len(rows) - 1 == status["fields"]["total"] > 0
