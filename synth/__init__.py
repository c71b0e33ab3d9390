"""Synthetic scans with truth, for tests, evaluation and benchmarks (see `synth.pages`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from synth.render import DigitSource

if TYPE_CHECKING:
    from synth.strings import Framing


def test_digits(mnist_dir: Path | str | None = None) -> DigitSource:
    """Handwriting for synthetic pages: MNIST's test digits, never the training ones."""
    from models import mnist

    data = mnist.load(mnist_dir)
    return DigitSource(data.x_test, data.y_test)


def writers_of(part: str, mnist_dir: Path | str | None = None):  # type: ignore[no-untyped-def]
    """The mixed hands of `part` (train, calibration or test: `synth.hands.load_writers`), with
    MNIST's digits of the same side: its training digits for "train", its test digits else."""
    from models import mnist
    from synth.hands import load_writers

    data = mnist.load(mnist_dir)
    images, labels = (data.x_train, data.y_train) if part == "train" else (data.x_test, data.y_test)
    return load_writers(part, images, labels).mixture()


class PoolWriters:
    """The writers a pool process draws with: named by its initialiser (`name`), loaded by its
    first task (`get`), once. Loaded in the initialiser, a missing MNIST or writers folder would
    kill the process as it starts, and a Pool answers that by starting another, for ever: the
    caller hung. Loaded by a task, the error reaches the caller."""

    def __init__(self) -> None:
        self._of: tuple[str, str | None] = ("train", None)
        self._hands = None

    def name(self, part: str, mnist_dir: str | None) -> None:
        self._of, self._hands = (part, mnist_dir), None

    def get(self):  # type: ignore[no-untyped-def]
        """The mixed hands named (`writers_of`)."""
        if self._hands is None:
            self._hands = writers_of(*self._of)
        return self._hands


def test_writers_numbers(count: int, seed: int, mnist_dir: Path | str | None = None,
                         framing: Framing | None = None) -> tuple[list[np.ndarray], list[str]]:
    """`count` field images of numbers written by the test writers (UNIPEN's, optdigits' part 2,
    MNIST's test digits; never trained on), and their values: the same for the same seed;
    framed as the readers were trained on unless `framing` says otherwise."""
    from synth.strings import CAPTURED, random_field

    hands = writers_of("test", mnist_dir)
    rng = np.random.default_rng(seed)
    fields = [random_field(hands, rng, framing or CAPTURED) for _ in range(count)]
    return [f.image for f in fields], [f.value for f in fields]
