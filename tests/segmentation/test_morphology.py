"""The opening along rows from runs is OpenCV's, pixel for pixel: at the image's edges, with
even and odd kernels, kernels longer than the image."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from segmentation.morphology import RUNS_FROM, open_along_rows


@pytest.mark.parametrize("seed", range(4))
def test_the_same_image_as_opencvs_opening(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(300):
        h, w = int(rng.integers(1, 30)), int(rng.integers(1, 3 * RUNS_FROM))
        marks = ((rng.random((h, w)) < rng.random()) * 255).astype(np.uint8)
        short = rng.random() < 0.2  # OpenCV's own below RUNS_FROM
        length = int(rng.integers(1, RUNS_FROM) if short else rng.integers(RUNS_FROM, 4 * RUNS_FROM))
        expected = cv2.morphologyEx(marks, cv2.MORPH_OPEN, np.ones((1, length), np.uint8))
        assert np.array_equal(open_along_rows(marks, length), expected), (marks.tolist(), length)


def test_a_line_is_kept_and_strokes_are_not() -> None:
    marks = np.zeros((20, 300), np.uint8)
    marks[5, 10:290] = 255  # a box's line
    marks[8:18, 40] = 255  # a stroke across it
    marks[12, 100:160] = 255  # a bar shorter than the kernel
    opened = open_along_rows(marks, 121)
    assert opened[5, 10:290].all() and np.count_nonzero(opened) == 280
