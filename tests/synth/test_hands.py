"""Writer sets: trajectories that lost strokes are left out of every part; a 1 given a flag
stays a 1."""

import cv2
import numpy as np

from segmentation.glyph import to_mnist
from synth.hands import StrokeHand, Strokes, continental, lost_strokes, part_indices, writer_part


def _strokes(digits: list[tuple[int, list[list[tuple[float, float]]]]], writer: str) -> Strokes:
    """A tiny UNIPEN-like set: each digit a label and its strokes' points, all by `writer`."""
    pts, stroke_off, digit_off, labels = [], [0], [0], []
    for label, strokes in digits:
        for stroke in strokes:
            pts.extend(stroke)
            stroke_off.append(len(pts))
        digit_off.append(len(stroke_off) - 1)
        labels.append(label)
    return Strokes(np.asarray(pts, np.float64), np.asarray(stroke_off), np.asarray(digit_off),
                   np.asarray(labels), tuple(writer for _ in labels))


FOUR = [[(30, 0), (0, 60), (45, 60)], [(35, 20), (33, 100)]]  # a 4 in two strokes
BAR = [[(30, 0), (31, 50), (33, 100)]]  # what is left of a 4 that lost its first stroke
SLANTED = [[(60, 0), (30, 50), (0, 100)]]
ZERO = [[(20, 0), (0, 50), (20, 100), (40, 50), (20, 0)]]


def test_a_digit_left_as_one_straight_stroke_has_lost_strokes_but_a_one_has_not() -> None:
    data = _strokes([(4, FOUR), (4, BAR), (0, SLANTED), (1, BAR), (0, ZERO), (7, [[(5, 5)]]), (5, [])],
                    "ibm/x")
    assert lost_strokes(data).tolist() == [False, True, True, False, False, True, True]


def test_a_parts_writers_come_without_the_lost_trajectories() -> None:
    writer = next(f"ibm/w{i}" for i in range(1000) if writer_part(f"ibm/w{i}") == "test")
    digits = [(d, ZERO if d == 0 else FOUR) for d in range(10)] + [(4, BAR)]
    data = _strokes(digits, writer)
    assert part_indices(data, "test").tolist() == list(range(10))
    assert part_indices(data, "train").size == 0
    hand = StrokeHand(data, part_indices(data, "test"))
    assert hand.by_label[4].tolist() == [4]  # the bar labelled 4 is never drawn


def _upright_one(rng: np.random.Generator) -> np.ndarray:
    """A plain 1 drawn 40 px tall (ink 1.0 on 0.0), leaning a little either way."""
    alpha = np.zeros((40, 40), np.uint8)
    x, lean = rng.uniform(18, 22), rng.uniform(-4, 4)
    cv2.line(alpha, (round((x + lean) * 4), 16), (round((x - lean) * 4), 144), 255, 3, cv2.LINE_AA, shift=2)
    return alpha.astype(np.float32) / 255


def test_a_one_given_a_flag_is_still_read_as_a_one(classify) -> None:  # type: ignore[no-untyped-def]
    # Flags flatter than synth.hands.FLAG_ANGLE_DEG are a 7's bar: with flags to 70 degrees,
    # 7% of these were read as 7s (and looked it).
    rng = np.random.default_rng(5)
    ones = [continental(_upright_one(rng), 1, 3.0, rng, p_one=1.0) for _ in range(300)]
    assert all(one.shape[1] > 40 for one in ones)  # every one was given its flag
    read = np.asarray(classify(np.stack([to_mnist(one) for one in ones]).astype(np.float32)))
    assert (read[:, :10].argmax(axis=1) == 1).mean() >= 0.99
