"""A worker told to stop after reading a batch stops by itself, every time.

Its pool used to be told with SIGTERM: a pool process killed that way while it passed a message
to the main process died holding the pool's queue lock, and the main process then waited on it
for ever (four stops in six after a batch, 2026-12-02). Now the pool is told with a marker file
(worker.stopping). Real worker processes on the embedded backend, stopped as run.py and Docker
stop them: SIGTERM to the main process."""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np

from synth import documents
from tests.services import Worker, start_service

STOPS = 3  # the old way hung in two stops of three: three catch it nearly always
FIELDS = 20  # documents read by both pool processes before each stop


def test_a_worker_stopped_after_a_batch_stops_by_itself(tmp_path: Path) -> None:
    ink = np.full((40, 120), 255, np.uint8)
    ink[10:30, 20:30] = 0
    png = documents.png_bytes(ink)
    with start_service(tmp_path / "data") as service:
        service.worker.stop()
        for stop in range(STOPS):
            worker = Worker(service.settings, tmp_path / f"worker-{stop}.log", concurrency=2)
            worker.start()
            response = service.upload([(f"f{i}.png", png) for i in range(FIELDS)], layout="field")
            assert service.wait(response.get_json()["id"], timeout=240)["status"] == "done"
            worker.terminate(group=False)  # killed after a minute if it has not stopped
            assert worker.process.returncode != -signal.SIGKILL, \
                f"stop {stop + 1}: the worker did not stop by itself\n{worker.tail()}"
            assert worker.process.returncode == 0, worker.tail()
        service.worker.start()  # as start_service left it, for its own stop
