"""Finding box candidates: their components, and the quick test that passes over words and digits."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from segmentation.boxes import _crosses_twice, component_boxes


def test_a_box_with_a_digit_touching_its_lines_crosses_twice() -> None:
    box = np.zeros((40, 120), np.uint8)
    cv2.rectangle(box, (0, 0), (119, 39), 1, 2)
    cv2.line(box, (30, 0), (30, 39), 1, 3)  # a 1 written from the top line to the bottom one
    cv2.ellipse(box, (70, 20), (12, 18), 0, 0, 360, 1, 3)  # a 0 touching both lines
    assert _crosses_twice(box.astype(bool))


def test_a_word_and_a_digit_do_not() -> None:
    word = np.zeros((30, 120), np.uint8)
    cv2.putText(word, "Total", (2, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.9, 1, 3)
    one = np.zeros((40, 12), np.uint8)
    cv2.line(one, (6, 2), (6, 37), 1, 4)
    assert not _crosses_twice(word.astype(bool))
    assert not _crosses_twice(one.astype(bool))


@pytest.mark.parametrize("seed", range(5))
def test_component_boxes_are_those_of_opencvs_statistics(seed: int) -> None:
    """Blobs touching the image's edges, nested in one another's holes (rings in rings)."""
    rng = np.random.default_rng(seed)
    marks = (rng.random((90, 120)) < 0.3).astype(np.uint8) * 255
    cv2.rectangle(marks, (20, 20), (100, 70), 0, -1)
    cv2.rectangle(marks, (24, 24), (96, 66), 255, 2)  # a ring, with a ring and a dot inside
    cv2.rectangle(marks, (40, 34), (80, 56), 255, 1)
    marks[45, 60] = 255
    count, labels, stats, _ = cv2.connectedComponentsWithStats(marks, connectivity=8)
    ids, boxes = component_boxes(marks, labels)
    assert ids.tolist() == list(range(1, count))
    assert boxes.tolist() == stats[1:, :4].tolist()
