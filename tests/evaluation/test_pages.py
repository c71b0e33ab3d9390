"""The evaluation command's own arithmetic."""

from __future__ import annotations

import numpy as np

from evaluation.pages import Scored, auto_accept, best_segment_ms


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
