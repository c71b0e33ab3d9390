"""The struck-fields measurement: how a line or an X is drawn, and what is counted."""

from __future__ import annotations

import numpy as np

from evaluation.struck import StruckTally, strike_out
from segmentation.results import FieldResult
from synth.pages import Canvas, TruthField
from synth.scanner import Style


def test_the_tally_counts_sure_wrong_and_marked_fields_apart() -> None:
    truth = TruthField("amount", "box", (10, 10, 100, 40), "4087")

    def read(value: str, confidence: float, struck: bool) -> FieldResult:
        return FieldResult("field_1", "box", (10, 10, 100, 40), (), value, confidence, (), struck=struck)

    tally = StruckTally()
    tally.add(truth, read("4087", 0.99, False), struck=True, threshold=0.95)  # sure, right
    tally.add(truth, read("4037", 0.97, False), struck=True, threshold=0.95)  # sure, wrong
    tally.add(truth, read("4087", 0.1, True), struck=True, threshold=0.95)  # marked
    tally.add(truth, None, struck=True, threshold=0.95)  # not found
    tally.add(truth, read("4087", 0.99, False), struck=False, threshold=0.95)
    tally.add(truth, read("4087", 0.1, True), struck=False, threshold=0.95)  # marked wrongly
    assert (tally.struck, tally.struck_sure, tally.struck_sure_wrong, tally.struck_marked) == (4, 2, 1, 1)
    assert (tally.untouched, tally.untouched_sure, tally.untouched_marked) == (2, 1, 1)


def test_a_line_runs_through_the_middle_of_the_box_and_an_x_from_corner_to_corner() -> None:
    canvas = Canvas(100, 40, Style(dpi=200), None, np.random.default_rng(0))  # type: ignore[arg-type]
    field = TruthField("amount", "box", (100, 60, 400, 100), "4087")
    strike_out(canvas, field, "line", np.random.default_rng(1))
    rows = np.flatnonzero(canvas.ink.any(axis=1))
    cols = np.flatnonzero(canvas.ink.any(axis=0))
    assert 60 + 100 // 4 < rows.mean() < 60 + 3 * 100 // 4  # at the height of the writing
    assert cols.min() < 100 + 400 // 10 and cols.max() > 500 - 400 // 10  # across the box
    canvas.ink[:] = 0
    strike_out(canvas, field, "x", np.random.default_rng(1))
    assert canvas.ink[62:68, 102:110].any() and canvas.ink[62:68, 490:498].any()  # both top corners
    assert canvas.ink[152:158, 102:110].any() and canvas.ink[152:158, 490:498].any()
