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
