"""Writer sets: trajectories that lost strokes are left out of every part."""

import numpy as np

from synth.hands import StrokeHand, Strokes, lost_strokes, part_indices, writer_part


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
