"""The hot folder's steps on a real database (SQLite in a temporary folder), without a worker:
what a scan takes and leaves, claiming, ingesting once (also after a crash half way), and a
batch refused as a whole delivered to failed/ with its reasons. Reading and delivering read
batches, and kills of the real process: tests/worker/test_watch.py."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from core import hotfolder
from core.db import dispose_all, session_scope
from core.migrate import upgrade
from core.receiving import Receiver
from core.schema import Batch, Document
from core.settings import Settings
from synth import documents

QUIET_S = 5.0
LATER = 60.0  # seconds added to the clock a scan is given: every change is long past


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    settings = Settings.from_env({}, data_dir=tmp_path / "data", watch_dir=tmp_path / "inbox",
                                 watch_quiet_s=QUIET_S)
    settings.watch_dir.mkdir()
    upgrade(settings)
    yield settings
    dispose_all()


def png(seed: int = 0) -> bytes:
    ink = np.full((40, 120), 255, np.uint8)
    ink[10:30, 10 + 10 * seed % 80 : 20 + 10 * seed % 80] = 0
    return documents.png_bytes(ink)


def put(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def later() -> float:
    return time.time() + LATER


def test_a_file_is_taken_only_once_it_stops_changing(settings: Settings) -> None:
    inbox = hotfolder.Inbox(settings.watch_dir, QUIET_S)
    growing = put(settings.watch_dir / "a.png", png()[:100])
    assert inbox.scan(later()) == []  # first sight: not known to be still
    with growing.open("ab") as out:
        out.write(b"more")
    assert inbox.scan(later()) == []  # it grew since the last scan
    ready = inbox.scan(later())
    assert [r.files for r in ready] == [(growing,)]


def test_a_file_changed_within_the_quiet_period_waits(settings: Settings) -> None:
    inbox = hotfolder.Inbox(settings.watch_dir, QUIET_S)
    path = put(settings.watch_dir / "a.png", png())
    # A copy that kept the original's modification time: the change time still says "now".
    os.utime(path, (time.time() - 3600, time.time() - 3600))
    assert inbox.scan() == [] and inbox.scan() == []
    assert len(inbox.scan(later())) == 1


def test_sub_folders_are_batches_and_partial_files_hold_them_back(settings: Settings) -> None:
    root = settings.watch_dir
    put(root / "monday" / "a.png", png(1))
    put(root / "monday" / "inner" / "b.png", png(2))
    put(root / "tuesday" / "c.png", png(3))
    part = put(root / "tuesday" / "d.png.part", b"on its way")
    for skipped in ("done/x.png", "failed/y.png", ".digits/z.png", ".hidden.png", "e.png.crdownload"):
        put(root / skipped, png())
    inbox = hotfolder.Inbox(root, QUIET_S)
    inbox.scan(later())
    ready = inbox.scan(later())
    assert [(r.name, [p.name for p in r.files]) for r in ready] == [("monday", ["a.png", "b.png"])]
    hotfolder.claim(root, ready[0])
    part.rename(root / "tuesday" / "d.png")
    inbox.scan(later())
    assert [r.name for r in inbox.scan(later())] == ["tuesday"]


def test_loose_files_go_as_one_batch(settings: Settings) -> None:
    root = settings.watch_dir
    for name in ("1.png", "2.png", "3.png"):
        put(root / name, png())
    inbox = hotfolder.Inbox(root, QUIET_S)
    inbox.scan(later())
    ready = inbox.scan(later())
    assert len(ready) == 1 and ready[0].folder is None
    assert [p.name for p in ready[0].files] == ["1.png", "2.png", "3.png"]
    assert ready[0].name.startswith("loose-")


def claimed(settings: Settings, names: dict[str, bytes], folder: str = "box") -> hotfolder.Claim:
    for name, content in names.items():
        put(settings.watch_dir / folder / name, content)
    inbox = hotfolder.Inbox(settings.watch_dir, QUIET_S)
    inbox.scan(later())
    (ready,) = inbox.scan(later())
    return hotfolder.claim(settings.watch_dir, ready)


def batch_documents(settings: Settings, batch_id: str) -> list[tuple[int, str]]:
    with session_scope(settings) as session:
        return [tuple(row) for row in session.execute(
            select(Document.position, Document.name).where(Document.batch_id == batch_id)
            .order_by(Document.position))]


def test_a_claim_leaves_the_inbox_and_is_ingested_once(settings: Settings) -> None:
    item = claimed(settings, {"a.png": png(1), "b.png": png(2)})
    assert not (settings.watch_dir / "box").exists()
    assert [str(p) for p in item.files()] == ["a.png", "b.png"]
    with session_scope(settings) as session:
        marker = hotfolder.ingest(session, settings, item, publish=None)
        again = hotfolder.ingest(session, settings, item, publish=None)
    assert marker == again and marker["positions"] == {"a.png": [0], "b.png": [1]}
    assert batch_documents(settings, item.batch_id) == [(0, "a.png"), (1, "b.png")]
    with session_scope(settings) as session:
        assert hotfolder.finished(session, item) is None  # nobody has read it
        assert session.scalar(select(func.count()).select_from(Batch)) == 1


def test_a_batch_half_made_by_a_dead_process_is_made_again_whole(settings: Settings) -> None:
    item = claimed(settings, {"a.png": png(1), "b.png": png(2), "c.png": png(3)})
    with session_scope(settings) as session:  # what a process killed after one file left
        receiver = Receiver(session, settings, None, batch_id=item.batch_id)
        with (item.files_dir / "a.png").open("rb") as stream:
            receiver.file("a.png", stream)
    assert batch_documents(settings, item.batch_id) == [(0, "a.png")]
    assert item.ingested() is None
    with session_scope(settings) as session:
        hotfolder.ingest(session, settings, item, publish=None)
    assert batch_documents(settings, item.batch_id) == [(0, "a.png"), (1, "b.png"), (2, "c.png")]


def test_a_refused_batch_goes_to_failed_with_its_reasons(settings: Settings) -> None:
    item = claimed(settings, {"notes.txt": b"not a scan", "batch.json": b'{"layout": "field"}'})
    with session_scope(settings) as session:
        assert hotfolder.step(session, settings, settings.watch_dir, item, publish=None)
    out = settings.watch_dir / "failed" / "box"
    assert (out / "notes.txt").read_bytes() == b"not a scan"
    assert "not a PNG, JPEG, TIFF, PDF or ZIP" in (out / "notes.txt.error.txt").read_text()
    assert (out / "box.csv").read_text().startswith("batch_id,document,page,field")
    assert not item.path.exists()


def test_bad_options_refuse_the_batch_and_say_why(settings: Settings) -> None:
    item = claimed(settings, {"a.png": png(), "batch.json": b'{"layout": "sideways"}'})
    with session_scope(settings) as session:
        hotfolder.step(session, settings, settings.watch_dir, item, publish=None)
        assert session.scalar(select(func.count()).select_from(Batch)) == 0
    reason = (settings.watch_dir / "failed" / "box" / "a.png.error.txt").read_text()
    assert "layout must be one of" in reason


def test_a_claim_that_lost_its_files_before_the_move_is_dropped(settings: Settings) -> None:
    stray = hotfolder.claims_dir(settings.watch_dir) / "0123"
    stray.mkdir(parents=True)
    (stray / "claim.json").write_text(json.dumps({"name": "x", "claimed_at": 0, "folder": True}))
    (item,) = hotfolder.pending(settings.watch_dir)
    with session_scope(settings) as session:
        assert hotfolder.step(session, settings, settings.watch_dir, item, publish=None)
    assert not stray.exists()
