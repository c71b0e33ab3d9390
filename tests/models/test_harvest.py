"""What the line readers read of a page's fields, harvested for training (`models.harvest`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reading import ctc
from reading.lines import LINE_HEIGHT

# Share of harvested fields the shipped CRNN must read as labelled: the fifth-stage CRNN read
# 125 of these 159 (0.79); labels paired with the wrong images would leave next to none right.
READ_AS_LABELLED = 0.5


def test_page_fields_come_as_line_inputs_with_their_own_values(tmp_path: Path, mnist_dir,  # type: ignore[no-untyped-def]
                                                              monkeypatch) -> None:
    """Each harvested field is a line input labelled with the value written in it: the shipped
    string reader reads most of them as labelled (labels paired with the wrong images would
    read almost none), and a second call reads the same from the cache."""
    from models import harvest
    from models.strings_reader import DIGIT_COLUMNS, CrnnReader, batch_of

    monkeypatch.setattr(harvest, "CACHE_DIR", tmp_path)
    fields = harvest.harvest_lines(10, seed=5, part="train", mnist_dir=mnist_dir, processes=1)
    assert len(fields) >= 50  # some 12 combs and open boxes a page
    assert all(a.dtype == np.uint8 and a.shape[0] == LINE_HEIGHT and a.shape[1] % 4 == 0 for a, _ in fields)
    assert all(v.isdigit() for _, v in fields)
    reader = CrnnReader()
    right = 0
    for line, value in fields:  # one at a time: the inputs are ready, not images to prepare
        x, frames = batch_of([line.astype(np.float32) / 255])
        right += ctc.best_path(ctc.fold(reader.runner(x)[0, : frames[0]], DIGIT_COLUMNS)) == value
    assert right >= READ_AS_LABELLED * len(fields), (right, len(fields))
    again = harvest.harvest_lines(10, seed=5, part="train", mnist_dir=mnist_dir, processes=1)
    assert [v for _, v in again] == [v for _, v in fields]
    assert all(np.array_equal(a, b) for (a, _), (b, _) in zip(again, fields))
    assert len(list(tmp_path.glob("pipeline-lines-*.npz"))) == 1


# Generous: the pool's two processes start and import NumPy and OpenCV, even on a loaded machine.
# Before 2026-12-06 the call never returned (a Pool restarts a process whose initialiser fails).
FAILS_WITHIN_S = 180


def test_a_missing_mnist_folder_is_an_error_not_a_hang(tmp_path: Path) -> None:
    """The harvest's pool processes load their writers in their first task: a folder that is
    not there reaches the caller as MnistError naming it."""
    import subprocess
    import sys

    missing = tmp_path / "no-mnist"
    code = ("from pathlib import Path\nfrom models import harvest\n"
            f"harvest.CACHE_DIR = Path({str(tmp_path / 'cache')!r})\n"
            f"harvest.harvest_lines(2, 1, 'train', Path({str(missing)!r}), processes=2)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2],
                          capture_output=True, text=True, timeout=FAILS_WITHIN_S)
    assert done.returncode != 0
    assert "MnistError" in done.stderr and str(missing) in done.stderr
