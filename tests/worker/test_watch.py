"""The hot folder end to end: `python -m worker.watch` as its own process beside a real
Celery worker, on both backends. A sub-folder and loose files dropped in come out in done/
and failed/ with the batch's CSV and reasons; a watcher killed while it stores a batch, and
again while it waits for the batch to be read, leaves one batch with every file, read once."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from core.db import session_scope
from core.hotfolder import claims_dir
from core.schema import Batch, Document
from core.settings import PROJECT_ROOT, Settings
from synth import documents
from synth.pages import make_page
from synth.scanner import random_style
from tests.conftest import BACKENDS
from tests.services import Service, environment, start_service, wait_until

QUIET_S = 0.5  # the watcher's quiet period here: files are written whole, at once
READ_TIMEOUT_S = 240  # a batch read on a busy 2-core machine
MANY = 200  # files of the batch killed while stored: storing them takes a while on any machine
KILL_AFTER = 3  # files stored when the watcher is killed


@pytest.fixture(scope="module", params=BACKENDS)
def service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    data_dir = tmp_path_factory.mktemp("watch-" + request.param.replace("+", "-"))
    overrides: dict[str, object] = {}
    if request.param == "postgres+redis":
        overrides.update(database_url=request.getfixturevalue("pg_url"),
                         broker_url=request.getfixturevalue("redis_broker"))
    with start_service(data_dir, **overrides) as running:
        yield running


class Watcher:
    """`python -m worker.watch` on the service's settings and a folder of its own."""

    def __init__(self, settings: Settings, log: Path) -> None:
        self.settings, self.log = settings, log
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.mark = self.log.stat().st_size if self.log.exists() else 0
        self.process = subprocess.Popen(
            [sys.executable, "-m", "worker.watch"], cwd=PROJECT_ROOT,
            env=environment(self.settings), stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
            start_new_session=True)

    def said(self, text: str) -> bool:
        return text in self.log.read_bytes()[self.mark:].decode(errors="replace")

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])


@pytest.fixture()
def watched(service: Service, tmp_path: Path) -> Iterator[tuple[Path, Watcher]]:
    settings = dataclasses.replace(service.settings, watch_dir=tmp_path / "inbox",
                                   watch_quiet_s=QUIET_S, watch_interval_s=0.2)
    settings.watch_dir.mkdir()
    watcher = Watcher(settings, tmp_path / "watch.log")
    yield settings.watch_dir, watcher
    watcher.stop()


@pytest.fixture(scope="module")
def cheques(digits) -> list[bytes]:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(61)
    pages = [make_page(digits, rng, "cheque", random_style(rng, dpi=200, clean=True)) for _ in range(2)]
    return [documents.png_bytes(page.image) for page in pages]


def field_image(seed: int) -> bytes:
    """A small field image (a few dark strokes on white): quick to store and to read."""
    ink = np.full((32, 96), 255, np.uint8)
    ink[8:24, 8 + seed % 60 : 14 + seed % 60] = 0
    return documents.png_bytes(ink)


def delivered(root: Path) -> list[str]:
    """Every file under done/ and failed/, as paths below the inbox."""
    return sorted(str(p.relative_to(root)) for kind in ("done", "failed")
                  for p in (root / kind).rglob("*") if p.is_file())


def test_a_folder_and_loose_files_come_back_with_their_results(
        service: Service, watched: tuple[Path, Watcher], cheques: list[bytes]) -> None:
    root, watcher = watched
    (root / "monday").mkdir()
    for i, content in enumerate(cheques):
        (root / "monday" / f"cheque-{i}.png").write_bytes(content)
    (root / "monday" / "notes.txt").write_bytes(b"not a scan")
    (root / "loose-a.png").write_bytes(cheques[0])
    (root / "loose-b.png").write_bytes(cheques[1])
    watcher.start()
    wait_until(lambda: not any(root.glob("*.png")) and (root / "done" / "monday" / "monday.csv").exists()
               and len(list((root / "done").glob("loose-*/*.csv"))) == 1, READ_TIMEOUT_S,
               "both batches delivered", watcher.tail)
    wait_until(lambda: not any(claims_dir(root).iterdir()), 30, "claims removed", watcher.tail)
    (loose,) = (root / "done").glob("loose-*")
    assert delivered(root) == sorted([
        "done/monday/.digits-batch", "done/monday/cheque-0.png", "done/monday/cheque-1.png",
        "done/monday/monday.csv", "failed/monday/.digits-batch", "failed/monday/monday.csv",
        "failed/monday/notes.txt", "failed/monday/notes.txt.error.txt",
        f"done/{loose.name}/.digits-batch", f"done/{loose.name}/loose-a.png",
        f"done/{loose.name}/loose-b.png", f"done/{loose.name}/{loose.name}.csv"])
    assert (root / "done" / "monday" / "cheque-0.png").read_bytes() == cheques[0]
    assert "not a PNG, JPEG, TIFF, PDF or ZIP" in (root / "failed/monday/notes.txt.error.txt").read_text()
    rows = list(csv.DictReader(io.StringIO((root / "done/monday/monday.csv").read_text())))
    batch_id = (root / "done/monday/.digits-batch").read_text().strip()
    assert rows and {r["batch_id"] for r in rows} == {batch_id}
    assert {r["document"] for r in rows} == {"cheque-0.png", "cheque-1.png"}
    assert rows == service.csv_rows(batch_id)  # the CSV beside the files is the batch's export
    status = service.status(batch_id)
    assert status["status"] == "partial" and status["documents"] == {"total": 3, "done": 2, "failed": 1}


def batch_state(settings: Settings, batch_id: str) -> tuple[int, int]:
    """(batches with that id, its documents)."""
    with session_scope(settings) as session:
        return (session.scalar(select(func.count()).select_from(Batch).where(Batch.id == batch_id)),
                session.scalar(select(func.count()).select_from(Document)
                               .where(Document.batch_id == batch_id)))


def test_killed_while_storing_and_while_waiting_it_reads_every_file_once(
        service: Service, watched: tuple[Path, Watcher]) -> None:
    root, watcher = watched
    folder = root / "many"
    folder.mkdir()
    names = [f"field-{i:03d}.png" for i in range(MANY)]
    for i, name in enumerate(names):
        (folder / name).write_bytes(field_image(i))
    (folder / "batch.json").write_text(json.dumps({"layout": "field"}))
    service.worker.kill()  # nothing is read until the watcher has been killed twice
    try:
        watcher.start()
        wait_until(lambda: watcher.said(f"file {KILL_AFTER}/{MANY} stored"), 120,
                   "the watcher storing the batch", watcher.tail)
        watcher.kill()
        (claim,) = claims_dir(root).iterdir()
        batch_id = claim.name
        assert not (claim / "ingested.json").exists(), "killed after the batch was stored whole"
        assert batch_state(service.settings, batch_id)[1] < MANY
        assert not folder.exists()  # claimed: it will not be taken again from the inbox

        watcher.start()  # takes up the claim: the half-made batch is made again, whole
        wait_until(lambda: (claim / "ingested.json").exists(), 120, "the batch stored", watcher.tail)
        assert batch_state(service.settings, batch_id) == (1, MANY)
        watcher.kill()  # while it waits for the batch to be read
    finally:
        service.worker.start()
    watcher.start()
    wait_until(lambda: not claim.exists(), READ_TIMEOUT_S, "the batch delivered", watcher.tail)
    assert batch_state(service.settings, batch_id) == (1, MANY)
    assert delivered(root) == sorted(
        [f"done/many/{n}" for n in [*names, "batch.json", "many.csv", ".digits-batch"]])
    rows = list(csv.DictReader(io.StringIO((root / "done/many/many.csv").read_text())))
    assert sorted(r["document"] for r in rows) == names  # one field per image, each once
    status = service.status(batch_id)
    assert status["status"] == "done" and status["documents"]["done"] == MANY
    with session_scope(service.settings) as session:
        total = session.scalar(select(func.count()).select_from(Batch).where(Batch.id.in_(
            select(Document.batch_id).where(Document.name == names[0]))))
    assert total == 1  # no second batch of these files, under any id
    time.sleep(1.0)
    assert not any(p for p in root.iterdir() if p.name not in ("done", "failed", ".digits"))
