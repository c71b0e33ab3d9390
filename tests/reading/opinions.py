"""Readers' outputs built in code, for the tests of combining their opinions."""

from __future__ import annotations

import numpy as np

from reading.ctc import FILLER


def reads(value: str, sure: float = 0.97, frames_per_digit: int = 1) -> np.ndarray:
    """A CTC matrix that reads `value` with `sure` per frame, each digit `frames_per_digit`
    frames long (filler between digits)."""
    frames = [FILLER]
    for c in value:
        frames += [int(c)] * frames_per_digit + [FILLER]
    folded = np.full((len(frames), 11), (1 - sure) / 10)
    folded[np.arange(len(frames)), frames] = sure
    return folded


def cut_digits(value: str, sure: float = 0.97) -> np.ndarray:
    """The glyph classifier's rows for `value`: each digit at `sure`, the rest shared."""
    probs = np.full((len(value), 10), (1 - sure) / 9)
    probs[np.arange(len(value)), [int(c) for c in value]] = sure
    return probs
