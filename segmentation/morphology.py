"""An opening along rows by a long line, from runs of marks: what cv2.morphologyEx gives.

OpenCV opens with a 1×L kernel in time proportional to L; the horizontal lines of a box are
looked for with kernels half a box wide (200 px and more), which made these openings ~2 ms of
a page. From the runs of marks the same image costs the same whatever L.
"""

from __future__ import annotations

import cv2
import numpy as np

# Kernels shorter than this are OpenCV's own: faster there than the runs' dozen NumPy passes
# (measured on the openings of the eval's pages: 3.1 ms a page all by OpenCV, 2.3 all by runs,
# 1.9 split at 40-80 px).
RUNS_FROM = 50


def open_along_rows(marks: np.ndarray, length: int) -> np.ndarray:
    """cv2.morphologyEx(marks, cv2.MORPH_OPEN, np.ones((1, length), np.uint8)), pixel for
    pixel, for a 0/255 uint8 image: the runs of marks at least `length` long, with OpenCV's
    rules at the image's edges (erosion sees marks beyond them, dilation paper) and its anchor
    (the kernel's middle: for an even length, the runs come out a pixel to the right)."""
    if length < RUNS_FROM:
        return cv2.morphologyEx(marks, cv2.MORPH_OPEN, np.ones((1, length), np.uint8))
    h, w = marks.shape
    before = length // 2  # the kernel's pixels left of its anchor...
    after = length - 1 - before  # ...and right of it
    shift = before - after  # 1 for an even length: erosion and dilation windows differ by it
    padded = np.zeros((h, w + 2), np.int8)
    padded[:, 1:-1] = marks != 0
    edges = np.diff(padded.ravel())
    starts = np.flatnonzero(edges == 1)  # in padded coordinates, minus one: the first mark
    ends = np.flatnonzero(edges == -1)  # the last mark, likewise
    first = starts % (w + 2)  # column of the first mark
    last = ends % (w + 2) - 1  # column of the last mark
    rows = starts // (w + 2)
    size = last - first + 1
    at_left, at_right = first == 0, last == w - 1
    kept = ((at_left & at_right) | (at_left & (size >= after + 1))
            | (at_right & (size >= before + 1)) | (size >= length))
    begin = np.where(at_left, 0, first + shift)[kept]
    end = np.minimum(np.where(at_right, w - 1, last + shift), w - 1)[kept]  # inclusive
    steps = np.zeros(h * (w + 1) + 1, np.int32)
    rows = rows[kept]
    steps[rows * (w + 1) + begin] += 1
    steps[rows * (w + 1) + end + 1] -= 1  # (ends are distinct, as are starts)
    out = np.cumsum(steps[:-1]).reshape(h, w + 1)[:, :w]
    return (out > 0).view(np.uint8) * np.uint8(255)
