"""Shared fixtures: MNIST, the shipped recogniser, synthetic scans, and running services.

Tests that involve the database, the broker or the worker use real servers over real
connections: PostgreSQL and Redis on loopback (a database of their own, a Redis database of
their own), and the embedded default (SQLite and Celery's SQLAlchemy transport). The worker is
a real Celery worker process started by the `service` fixture.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tests.services import Service, postgres_database, redis_url, services_required, start_service

ROOT = Path(__file__).resolve().parent.parent
MNIST_CANDIDATES = [os.environ.get("MNIST_DIR"), ROOT.parent / "shared" / "data" / "mnist"]


@pytest.fixture(scope="session")
def mnist_dir() -> Path | None:
    """The local MNIST folder, or None (then `models.mnist` says where it looked)."""
    for candidate in MNIST_CANDIDATES:
        if candidate and (Path(candidate) / "t10k-images-idx3-ubyte.gz").exists():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def mnist(mnist_dir: Path | None):  # type: ignore[no-untyped-def]
    from models import mnist as loader

    try:
        return loader.load(mnist_dir)
    except Exception as exc:  # noqa: BLE001 - no local copy
        pytest.fail(f"MNIST is needed: set MNIST_DIR to a folder of its IDX files ({exc})")


@pytest.fixture(scope="session")
def digits(mnist):  # type: ignore[no-untyped-def]
    """Handwriting for synthetic pages: MNIST's test digits only."""
    from synth.render import DigitSource

    return DigitSource(mnist.x_test, mnist.y_test)


@pytest.fixture(scope="session")
def recognizer():  # type: ignore[no-untyped-def]
    from worker.recognition import get_reader

    return get_reader()


@pytest.fixture(scope="session")
def classify(recognizer):  # type: ignore[no-untyped-def]
    return recognizer._classify


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def pg_url() -> str:
    with postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def redis_broker() -> str:
    with redis_url() as url:
        yield url


BACKENDS = ["postgres+redis", "embedded"]


@pytest.fixture(scope="module", params=BACKENDS)
def service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Service:
    """The service on one backend: migrated database, a running Celery worker process, and a
    Flask test client on the same settings."""
    backend = request.param
    data_dir = tmp_path_factory.mktemp(backend.replace("+", "-"))
    overrides: dict[str, object] = {}
    if backend == "postgres+redis":
        overrides["database_url"] = request.getfixturevalue("pg_url")
        overrides["broker_url"] = request.getfixturevalue("redis_broker")
    with start_service(data_dir, **overrides) as running:
        yield running


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "services: needs PostgreSQL and Redis on loopback")
    config.addinivalue_line("markers", "browser: drives Chromium with Playwright")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")


__all__ = ["services_required"]
