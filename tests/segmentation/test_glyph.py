"""Glyphs are made as MNIST's digits were: ink 1, fitted into 20 × 20, centred by mass."""

from __future__ import annotations

import numpy as np
import pytest

from segmentation.glyph import FIT_SIZE, GLYPH_SIZE, to_mnist


def _ink_box(glyph: np.ndarray) -> tuple[int, int]:
    rows, cols = np.flatnonzero(glyph.any(axis=1)), np.flatnonzero(glyph.any(axis=0))
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def _centre_of_mass(glyph: np.ndarray) -> tuple[float, float]:
    total = glyph.sum()
    ys, xs = np.indices(glyph.shape)
    return float((ys * glyph).sum() / total), float((xs * glyph).sum() / total)


@pytest.mark.parametrize("shape", [(90, 30), (40, 40), (12, 60), (7, 5)])
def test_the_longer_side_fills_twenty_pixels_keeping_the_aspect_ratio(shape: tuple[int, int]) -> None:
    h, w = shape
    ink = np.zeros((h + 10, w + 10), bool)
    ink[5 : 5 + h, 5 : 5 + w] = True  # a solid block, with paper around it to be cropped
    glyph = to_mnist(ink)
    assert glyph.shape == (GLYPH_SIZE, GLYPH_SIZE) and glyph.dtype == np.float32
    assert glyph.max() == pytest.approx(1.0) and glyph.min() == 0.0
    rows, cols = _ink_box(glyph > 0)
    assert max(rows, cols) == FIT_SIZE
    assert min(rows, cols) == pytest.approx(FIT_SIZE * min(h, w) / max(h, w), abs=1)


def test_the_centre_of_mass_is_put_at_the_centre() -> None:
    """An L has its mass low and left of its box's middle: the mass, not the box, is centred."""
    ink = np.zeros((60, 40), np.uint8)
    ink[:, :8] = 255
    ink[-8:, :] = 255
    cy, cx = _centre_of_mass(to_mnist(ink))
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5


def test_grey_levels_are_kept_as_ink_strength_and_no_ink_gives_a_blank() -> None:
    ink = np.zeros((20, 20), np.float32)
    ink[:, 8:12] = 1.0
    ink[:, 12:13] = 0.4  # an anti-aliased edge
    glyph = to_mnist(ink)
    assert 0.0 < glyph[glyph > 0].min() < 1.0
    assert not to_mnist(np.zeros((10, 10), bool)).any()
    with pytest.raises(ValueError):
        to_mnist(np.zeros((3, 3, 3)))
