"""Synthetic scans with truth, for tests, evaluation and benchmarks (see `synth.pages`)."""

from __future__ import annotations

from pathlib import Path

from synth.render import DigitSource


def test_digits(mnist_dir: Path | str | None = None) -> DigitSource:
    """Handwriting for synthetic pages: MNIST's test digits, never the training ones."""
    from models import mnist

    data = mnist.load(mnist_dir)
    return DigitSource(data.x_test, data.y_test)
