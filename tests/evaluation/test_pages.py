"""The evaluation command's own arithmetic."""

from __future__ import annotations

import numpy as np

from evaluation.pages import Scored, Tally, auto_accept, best_segment_ms, most_confident_errors, score_page
from segmentation.results import FieldResult
from synth.pages import TruthField


def test_best_of_repeated_timings_is_one_figure_a_page() -> None:
    pages = [np.full((300, 200), 255, np.uint8), np.full((200, 300, 3), 250, np.uint8)]
    best = best_segment_ms(pages, repeats=2)
    assert len(best) == 2 and all(0 < ms < 10_000 for ms in best)


def test_auto_accept_finds_the_lowest_threshold_within_the_error_target() -> None:
    fields = [Scored("comb", "1", "1", 0.99)] * 100 + [Scored("comb", "2", "3", 0.9)]
    result = auto_accept(fields, [0.5, 0.95])
    assert result["best"]["threshold"] == 0.99  # at 0.9, 1 of 101 accepted would be wrong
    assert result["at_thresholds"][0]["error_among_accepted"] == 1 / 101
    more_right = [Scored("comb", "1", "1", 0.99)] * 300 + [Scored("comb", "2", "3", 0.9)]
    assert auto_accept(more_right, [])["best"]["threshold"] == 0.9  # 1 of 301: within 0.5%


def test_the_most_confident_errors_are_listed_first_with_each_readers_reading() -> None:
    truth = [TruthField("a", "comb", (10, 10, 100, 30), "451029"),
             TruthField("b", "box", (10, 60, 100, 30), "17"), TruthField("c", "box", (10, 110, 100, 30), "5")]
    found = [FieldResult("field_1", "comb", (11, 10, 100, 30), (), "457029", 0.98, (),
                         (("crnn", "451029"), ("cut", "457029"))),
             FieldResult("field_2", "box", (10, 61, 100, 30), (), "17", 0.99, ()),
             FieldResult("field_3", "box", (300, 300, 40, 40), (), "8", 0.4, ())]
    rows = score_page(truth, found, page=3)
    errors = most_confident_errors(rows, 10)
    assert [(e["truth"], e["read"]) for e in errors] == [("451029", "457029"), (None, "8"), ("5", None)]
    assert errors[0] == {"page": 3, "kind": "comb", "truth": "451029", "read": "457029",
                         "confidence": 0.98, "readings": {"crnn": "451029", "cut": "457029"}}
    assert most_confident_errors(rows, 1) == errors[:1]


def test_the_report_gives_the_calibration_error_of_every_reading() -> None:
    sure_and_right = [Scored("box", "1", "1", 0.95)] * 19 + [Scored("box", "2", "3", 0.95)]
    assert Tally(sure_and_right).report([0.5])["calibration_error"] < 1e-9  # 95% right at 0.95
    overconfident = [Scored("box", "1", "1", 0.99)] * 8 + [Scored("box", "2", "3", 0.99)] * 2 \
        + [Scored("extra", None, "4", 0.99)] + [Scored("box", "5", None)]  # extra: wrong; missed: no row
    assert abs(Tally(overconfident).report([0.5])["calibration_error"] - (0.99 - 8 / 11)) < 1e-9
