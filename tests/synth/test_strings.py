"""The synthetic amount fields the string readers train on."""

from __future__ import annotations

import numpy as np

from synth.strings import EDGE_CUT, StringField, cut_edge


def _field(text: str) -> StringField:
    image = np.full((40, 200), 230, np.uint8)
    boxes = []
    x = 20
    for char in text:
        if char.isdigit():
            image[8:32, x : x + 16] = 30
            boxes.append((x, 8, 16, 24))
        x += 24
    return StringField(image, "".join(c for c in text if c.isdigit()), text, tuple(boxes))


def test_a_cut_edge_runs_through_the_first_digit_and_keeps_the_value() -> None:
    field = _field("123")
    for seed in range(20):
        cut = cut_edge(field, np.random.default_rng(seed))
        assert cut.value == "123" and cut.text == "123"
        lost = field.image.shape[1] - cut.image.shape[1]
        first = cut.digit_boxes[0]
        if first[0] < 0:  # cut on the left: into the first digit, by at most EDGE_CUT of it
            assert 20 + EDGE_CUT[0] * 16 - 1 <= lost <= 20 + EDGE_CUT[1] * 16
            assert cut.digit_boxes[1][0] == field.digit_boxes[1][0] - lost
            assert (cut.image[:, 0] < 128).any()  # the digit's ink reaches the new edge
        else:  # cut on the right, into the last digit
            assert cut.digit_boxes == field.digit_boxes
            assert (cut.image[:, -1] < 128).any()


def test_a_field_ending_in_a_tail_is_cut_on_the_left() -> None:
    field = _field("45.-")
    for seed in range(10):
        cut = cut_edge(field, np.random.default_rng(seed))
        assert cut.digit_boxes[0][0] < 0 and cut.value == "45"


def test_a_flicked_dash_rises_to_the_right_at_its_angle() -> None:
    import math

    from synth.strings import FLICK_DEGREES, _flick

    for seed in range(30):
        layer, top = _flick(40.0, 2, np.random.default_rng(seed))
        ys, xs = np.nonzero(layer > 0.5)
        left, right = xs.min(), xs.max()
        # ink at the left end sits low, at the right end high: a stroke rising to the right
        assert ys[xs <= left + 1].mean() > ys[xs >= right - 1].mean()
        rise = math.degrees(math.atan2(ys.max() - ys.min(), right - left))
        assert FLICK_DEGREES[0] - 12 <= rise <= FLICK_DEGREES[1] + 12, rise
        assert 0.0 <= top <= 1.0
