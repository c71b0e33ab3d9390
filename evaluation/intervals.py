"""How far the evaluations' figures could move on another draw of as many pages or fields.

The share straight through at ≤ 0.5% error is decided by the few wrong fields the confidence
ranks highest, so it is far noisier than exact match: on `make eval`'s 150 pages of our style
(seed 20261124) 92.6%, on 150 other pages of the same generator (seed 8) 84.6%. Each figure is
printed with its bootstrap interval: the pages (or, for field sets, the fields) drawn again
with replacement, the figure computed on each draw.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DRAWS = 400  # bootstrap draws: the 5th and 95th percentiles settle to ~0.1 point by then
LEVEL = 0.90  # the interval holds this share of the draws


def lowest_threshold(wrong: np.ndarray, true: np.ndarray, confidence: np.ndarray, true_count: int,
                     target: float) -> tuple[float | None, float]:
    """The lowest threshold that accepts rows with at most `target` of them wrong, and the share
    of the `true_count` true fields it accepts; (None, 0.0) when none does. Rows are the
    detections: `wrong` (an extra detection is wrong), `true` (matches a true field). A threshold
    accepts every row at or above it, so ties go together. (`evaluation.pages.auto_accept`'s
    "best" is this threshold.)"""
    if len(confidence) == 0 or true_count == 0:
        return None, 0.0
    order = np.argsort(-confidence, kind="stable")
    c = confidence[order]
    errors = np.cumsum(wrong[order])
    accepted_true = np.cumsum(true[order])
    n = np.arange(1, len(c) + 1)
    group_ends = np.r_[c[1:] != c[:-1], True]  # a threshold takes the whole tie group
    meets = group_ends & (errors <= target * n)
    if not meets.any():
        return None, 0.0
    last = np.flatnonzero(meets)[-1]
    return float(c[last]), float(accepted_true[last] / true_count)


def straight_through(wrong: np.ndarray, true: np.ndarray, confidence: np.ndarray, true_count: int,
                     target: float) -> float:
    """The largest share of the true fields a threshold accepts within `target` (`lowest_threshold`)."""
    return lowest_threshold(wrong, true, confidence, true_count, target)[1]


def bootstrap(groups: Sequence[Sequence[tuple[bool, bool, float]]], target: float,
              draws: int = DRAWS, seed: int = 0) -> dict[str, tuple[float, float]]:
    """LEVEL intervals of exact match and of the share straight through, `groups` (pages, or one
    field each) drawn again with replacement. A group's rows: (is a true field, read right,
    confidence), with None confidence rows (not detected) given as -inf."""
    if not groups:
        return {"exact": (0.0, 0.0), "straight_through": (0.0, 0.0)}
    rng = np.random.default_rng(seed)
    arrays = [np.array(g, dtype=np.float64).reshape(-1, 3) for g in groups]
    exact, through = [], []
    low, high = (1 - LEVEL) / 2 * 100, (1 + LEVEL) / 2 * 100
    for _ in range(draws):
        rows = np.concatenate([arrays[i] for i in rng.integers(0, len(arrays), len(arrays))])
        true, right, confidence = rows[:, 0] > 0, rows[:, 1] > 0, rows[:, 2]
        true_count = int(true.sum())
        exact.append(float((true & right).sum() / max(1, true_count)))
        detected = np.isfinite(confidence)
        through.append(straight_through(~right[detected], true[detected], confidence[detected],
                                        true_count, target))
    return {"exact": (float(np.percentile(exact, low)), float(np.percentile(exact, high))),
            "straight_through": (float(np.percentile(through, low)), float(np.percentile(through, high)))}


def describe(interval: tuple[float, float]) -> str:
    """An interval as printed beside its figure."""
    return f"{LEVEL:.0%} interval {interval[0]:.2%}–{interval[1]:.2%}"
