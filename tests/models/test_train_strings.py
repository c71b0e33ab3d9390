"""The string reader's training command, on a small slice (never a full run in tests), and
the shipped string reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reading import ctc


def test_training_smoke_run_writes_a_model_that_reads(tmp_path: Path, mnist_dir, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A tiny run, page fields included (`--pages`: one task of harvested pages each for
    training and validation)."""
    from models import harvest, train_strings
    from models.strings_reader import CrnnReader

    monkeypatch.setattr(harvest, "CACHE_DIR", tmp_path / "cache")
    output = tmp_path / "strings.keras"
    metrics = train_strings.main(["--samples", "256", "--validation", "64", "--epochs", "1", "--pages", "10",
                                  "--batch-size", "32", "--processes", "1", "--output", str(output),
                                  *(["--mnist-dir", str(mnist_dir)] if mnist_dir else [])])
    assert output.is_file() and output.with_suffix(".json").is_file()
    assert metrics["training"]["samples"] == 256 and metrics["training"]["pages"] == 10
    assert len(metrics["history"]) == 1
    assert 0.0 <= metrics["validation_exact"] <= 1.0
    reader = CrnnReader(output)
    folded = reader.read([np.full((40, 120), 255, np.uint8), np.full((30, 30), 200, np.uint8)])
    assert [f.shape[1] for f in folded] == [11, 11]
    assert all(np.allclose(f.sum(axis=1), 1.0) for f in folded)


# Generous: the pool's two processes start, even on a loaded machine. Before 2026-12-06 the
# call never returned (a Pool restarts a process whose initialiser fails).
FAILS_WITHIN_S = 180


def test_a_missing_mnist_folder_is_an_error_not_a_hang(tmp_path: Path) -> None:
    """The field generator's processes load their writers with their first chunk: a folder
    that is not there reaches the caller as MnistError naming it."""
    import subprocess
    import sys

    missing = tmp_path / "no-mnist"
    code = ("from pathlib import Path\nfrom models.train_strings import generate\n"
            f"generate(20, 1, 'train', 2, Path({str(missing)!r}))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2],
                          capture_output=True, text=True, timeout=FAILS_WITHIN_S)
    assert done.returncode != 0
    assert "MnistError" in done.stderr and str(missing) in done.stderr


def test_the_shipped_string_reader_reads_numbers_of_writers_it_never_saw() -> None:
    """Numbers written by the test writers (UNIPEN's test half, optdigits' other writers,
    MNIST's test digits): most read exactly, separators left out."""
    from models import mnist
    from models.strings_reader import CrnnReader
    from synth.hands import load_writers
    from synth.strings import random_field

    data = mnist.load(None)
    hands = load_writers("test", data.x_test, data.y_test).mixture()
    rng = np.random.default_rng(77)
    fields = [random_field(hands, rng) for _ in range(60)]
    values = [ctc.best_path(f) for f in CrnnReader().read([f.image for f in fields])]
    right = sum(v == f.value for v, f in zip(values, fields))
    assert right >= 45, [(v, f.text) for v, f in zip(values, fields) if v != f.value]
