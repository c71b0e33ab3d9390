"""Running the service the way `make run` does, feeding it pages, and watching it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import requests

from core.settings import PROJECT_ROOT, Settings
from worker import POOL_READY

HEALTH_TIMEOUT_S = 120


def auth_headers() -> dict[str, str]:
    """The bearer token when the service was started with API_TOKEN (from the environment)."""
    token = os.environ.get("API_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


@contextmanager
def running_service(data_dir: Path, port: int, **env: str) -> Iterator[subprocess.Popen]:
    """`run.py` (migrations, gunicorn, a Celery worker) in its own process group."""
    environment = dict(os.environ, DATA_DIR=str(data_dir), PORT=str(port), **env)
    log = (data_dir / "service.log").open("ab")
    process = subprocess.Popen([sys.executable, "run.py"], cwd=PROJECT_ROOT, env=environment,
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process)
        processes = int(environment.get("WORKER_CONCURRENCY", Settings.worker_concurrency))
        wait_worker_ready(data_dir / "service.log", processes)
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def wait_healthy(url: str, process: subprocess.Popen) -> None:
    deadline = time.time() + HEALTH_TIMEOUT_S
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the service exited during start-up")
        try:
            if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError("the service did not become healthy")


def wait_worker_ready(log: Path, processes: int) -> None:
    """Until the worker and each of its pool processes (with their recogniser loaded) are up:
    a running service, not one still starting."""
    deadline = time.time() + HEALTH_TIMEOUT_S
    while time.time() < deadline:
        text = log.read_bytes()
        if b" ready." in text and text.count(POOL_READY.encode()) >= processes:
            return
        time.sleep(0.5)
    raise RuntimeError("the worker did not get ready")


def worker_pids(service: subprocess.Popen) -> list[int]:
    """The Celery pool processes under the service (they hold the models)."""
    out = subprocess.run(["pgrep", "-f", "celery -A worker.app worker"], capture_output=True, text=True)
    mains = [int(p) for p in out.stdout.split()]
    pool = []
    for main in mains:
        children = subprocess.run(["pgrep", "-P", str(main)], capture_output=True, text=True)
        pool.extend(int(p) for p in children.stdout.split())
    return pool


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def make_pages(count: int, seed: int, dpi: int = 200, distinct: int | None = None) -> list[bytes]:
    """`count` PNG scans at `dpi` (forms, cheques, order forms from MNIST test digits); with
    `distinct`, that many are drawn and repeated."""
    import synth
    from synth.documents import png_bytes
    from synth.pages import make_page
    from synth.scanner import random_style

    digits = synth.test_digits()
    rng = np.random.default_rng(seed)
    drawn = []
    for i in range(min(count, distinct or count)):
        kind = ("form", "order", "cheque")[i % 3]
        drawn.append(png_bytes(make_page(digits, rng, kind, random_style(rng, dpi=dpi)).image, dpi))
    return [drawn[i % len(drawn)] for i in range(count)]


def wait_done(url: str, batch_id: str, headers: dict[str, str], timeout: float,
              on_poll: object = None) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = requests.get(f"{url}/api/batches/{batch_id}", headers=headers or auth_headers(),
                              timeout=10).json()
        if on_poll:
            on_poll(status)  # type: ignore[operator]
        if status["status"] in ("done", "partial", "failed"):
            return status
        time.sleep(0.2)
    raise RuntimeError(f"batch {batch_id} not done after {timeout}s")
