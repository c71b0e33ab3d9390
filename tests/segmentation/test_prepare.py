"""Page preparation: grey, the paper's brightness, and the marks darker than their paper."""

from __future__ import annotations

import cv2
import numpy as np

from segmentation.prepare import LINE_SMOOTH, MARK_LEVEL, prepare


def _page() -> np.ndarray:
    """A colour page lit unevenly (darker to the right and the bottom), a box and digits on it."""
    h, w = 600, 800
    light = np.outer(np.linspace(1.0, 0.7, h), np.linspace(1.0, 0.8, w)) * 250
    page = np.dstack([light] * 3).astype(np.uint8)
    cv2.rectangle(page, (100, 100), (500, 200), (90, 90, 90), 2)
    cv2.putText(page, "40917", (130, 180), cv2.FONT_HERSHEY_SIMPLEX, 2.0, (40, 40, 160), 5)
    cv2.putText(page, "3", (600, 500), cv2.FONT_HERSHEY_SIMPLEX, 2.0, (150, 150, 150), 3)
    return page


def test_marks_are_what_is_darker_than_its_share_of_the_paper() -> None:
    prepared = prepare(_page())
    # the rule in plain NumPy: the darker of the row and column averages below MARK_LEVEL of
    # the paper's brightness under it (in 1/256 steps)
    threshold = (prepared.background.astype(np.uint16) * int(MARK_LEVEL * 256)) >> 8
    along_rows = cv2.blur(prepared.grey, (LINE_SMOOTH, 1))
    along_cols = cv2.blur(prepared.grey, (1, LINE_SMOOTH))
    expected = np.minimum(along_rows, along_cols) < threshold
    assert np.array_equal(prepared.marks > 0, expected)
    assert expected[150, 100:103].any() and expected[140:180, 130:400].any()  # the box, the ink
    assert not expected[400:450, 100:300].any()  # uneven paper is no mark
