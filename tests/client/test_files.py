"""What the client sends (no service needed): folders walked in a stable order, only the kinds
the service reads taken from them, and batches split under the limits in order."""

from __future__ import annotations

import zipfile

import pytest

from client import files
from tests.client.running import write


def test_folders_are_walked_in_sorted_order_and_named_files_are_sent_whatever_they_are(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for name in ("b.PNG", "a/z.pdf", "a/y/x.tif", "c.txt", ".hidden.png~", "a.jpeg"):
        write(tmp_path / "in" / name, b"x")
    named = write(tmp_path / "notes.txt", b"x")
    selection = files.collect([tmp_path / "in", named, tmp_path / "in" / "b.PNG"])
    assert [p.relative_to(tmp_path).as_posix() for p in selection.files] == [
        "in/a/y/x.tif", "in/a/z.pdf", "in/a.jpeg", "in/b.PNG", "notes.txt"]  # b.PNG taken once
    assert len(selection.notes) == 1 and "c.txt" in selection.notes[0]
    with pytest.raises(FileNotFoundError, match="missing"):
        files.collect([tmp_path / "missing"])


def test_batches_stay_under_the_byte_and_file_limits_in_order(tmp_path) -> None:  # type: ignore[no-untyped-def]
    sizes = {"1.png": 40, "2.png": 50, "3.png": 200, "4.png": 30, "5.png": 30}
    paths = [write(tmp_path / name, bytes(n)) for name, n in sizes.items()]
    plan = files.plan(paths, lambda p: p.stat().st_size, fixed=10, max_bytes=100)
    assert [[p.name for p in b] for b in plan.batches] == [["1.png", "2.png"], ["4.png", "5.png"]]
    assert len(plan.too_large) == 1 and "3.png" in plan.too_large[0]
    archive = tmp_path / "three.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for name in ("a.png", "b.png", "c.png"):
            out.writestr(name, b"x")
    plan = files.plan([paths[0], archive, paths[1]], lambda p: 1, fixed=0, max_files=4)
    assert [[p.name for p in b] for b in plan.batches] == [["1.png", "three.zip"], ["2.png"]]
