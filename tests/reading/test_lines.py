"""Line-reader input: the paper's own brightness divided out, a fixed height."""

from __future__ import annotations

import cv2
import numpy as np

from reading.lines import LINE_HEIGHT, MIN_WIDTH, darkness, grey, line_input, same_width_groups


def _written(paper: float, shade: float = 0.0) -> np.ndarray:
    """"407" in dark ink on paper of brightness `paper`, darker by `shade` to the left."""
    ink = np.zeros((48, 160), np.uint8)
    cv2.putText(ink, "407", (10, 38), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 255, 3, cv2.LINE_AA)
    light = 255 * paper * np.linspace(1 - shade, 1, 160, dtype=np.float32)[None, :]
    image = light * (1 - 0.85 * ink.astype(np.float32) / 255)
    return np.clip(image, 0, 255).astype(np.uint8)


def test_tinted_and_unevenly_lit_paper_reads_like_white_paper() -> None:
    white = darkness(_written(1.0))
    tinted = darkness(_written(0.6, shade=0.3))
    assert white.max() == 1.0 and tinted.max() == 1.0
    ink = white > 0.5
    assert np.abs(tinted[~ink]).mean() < 0.05  # paper is paper, however dark and uneven
    assert (tinted[ink] > 0.4).mean() > 0.95


def test_line_input_has_the_reader_height_and_a_width_in_whole_frames() -> None:
    for shape in ((48, 160), (20, 300), (90, 30), (5, 5)):
        out = line_input(np.full(shape, 255, np.uint8))
        assert out.shape[0] == LINE_HEIGHT and out.shape[1] >= MIN_WIDTH and out.shape[1] % 4 == 0
        assert out.dtype == np.float32 and out.max() <= 1.0


def test_colour_and_sixteen_bit_fields_are_read_as_grey() -> None:
    grey = _written(0.9)
    colour = np.dstack([grey, grey, np.full_like(grey, 255)])  # blue ink: dark in red and green
    deep = grey.astype(np.uint16) * 257
    np.testing.assert_allclose(line_input(colour), line_input(grey), atol=1e-6)
    np.testing.assert_allclose(line_input(deep), line_input(grey), atol=2e-2)


def test_a_one_bit_field_is_white_paper_and_black_ink() -> None:
    """A 1-bit scan comes decoded as bool: paper True is white (it had become grey level 1,
    all but black, to PP-OCR, which reads grey levels as they are)."""
    ink = _written(0.9) < 128
    assert grey(~ink).max() == 255 and grey(~ink).min() == 0
    np.testing.assert_array_equal(grey(~ink), np.where(ink, 0, 255).astype(np.uint8))


def test_same_width_groups_keep_each_width_apart_and_every_input_once() -> None:
    widths = [64, 32, 64, 96, 64, 32, 64]
    groups = same_width_groups(widths, 3)
    assert sorted(i for g in groups for i in g) == list(range(len(widths)))
    assert all(len({widths[i] for i in g}) == 1 and len(g) <= 3 for g in groups)
    assert [len(g) for g in groups] == [2, 3, 1, 1]  # 32s; 64s in threes; 96
    assert same_width_groups([], 4) == []


def test_the_paper_smoothed_on_a_small_copy_is_the_full_size_smoothing() -> None:
    # a field on paper darker to one side, with strokes: the paper estimate within 2 grey
    # levels of the Gaussian at full size, ink and paper read alike
    from reading.lines import PAPER_KERNEL, paper

    for shape in ((80, 400), (140, 300), (30, 200)):
        field = cv2.resize(_written(0.7, shade=0.4), shape[::-1]).astype(np.float32)
        k = max(3, int(shape[0] * PAPER_KERNEL) | 1)
        dilated = cv2.dilate(field, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
        full = cv2.GaussianBlur(dilated, (0, 0), k / 2)
        assert np.abs(paper(field) - full).max() < 2.0

