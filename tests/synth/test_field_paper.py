"""The paper and scanner under synthetic field images."""

from __future__ import annotations

import numpy as np

from synth.field_paper import scan_field, security_paper


def test_a_scanned_field_keeps_its_size_and_its_ink_darker_than_the_paper() -> None:
    ink = np.zeros((48, 160), np.float32)
    ink[12:36, 40:46] = 1.0  # a stroke
    for seed in range(30):
        image = scan_field(ink, baseline=36, top=12, rng=np.random.default_rng(seed))
        assert image.shape == ink.shape and image.dtype == np.uint8
        stroke, paper = image[14:34, 41:45].astype(float), image[14:34, 100:150].astype(float)
        assert stroke.mean() < paper.mean() - 20, seed


def test_security_print_is_a_darkness_between_0_and_1_that_varies() -> None:
    for seed in range(10):
        paper = security_paper(60, 200, np.random.default_rng(seed))
        assert paper.shape == (60, 200) and paper.min() >= 0.0 and paper.max() <= 1.0
        assert paper.std() > 0.005
