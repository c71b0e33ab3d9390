"""Bootstrap intervals of the evaluations' figures: the fast straight-through share agrees with
the evaluation's own, and the intervals hold the figure and narrow with more data."""

from __future__ import annotations

import math

import numpy as np

from evaluation.intervals import bootstrap, straight_through
from evaluation.pages import TARGET_ERROR, Scored, auto_accept, interval_rows


def _fields(rng: np.random.Generator, n: int) -> list[Scored]:
    out = []
    for _ in range(n):
        kind = "extra" if rng.random() < 0.01 else "box"
        truth = None if kind == "extra" else str(rng.integers(0, 10))
        confidence = float(rng.beta(8, 1))  # as the service gives them; ties now and then
        if rng.random() < 0.3:
            confidence = round(confidence, 2)
        if rng.random() < 0.02:
            out.append(Scored(kind, truth, None))  # not detected
            continue
        if kind == "extra":
            read = str(rng.integers(0, 10))
        else:  # the less sure, the more often wrong
            read = truth + "1" if rng.random() < 0.6 * (1 - confidence) else truth
        out.append(Scored(kind, truth, read, confidence))
    return out


def test_the_fast_share_straight_through_is_the_evaluations_own() -> None:
    for seed in range(20):
        fields = _fields(np.random.default_rng(seed), 400)
        rows = np.array(interval_rows(fields), dtype=np.float64)
        detected = np.isfinite(rows[:, 2])
        true, right = rows[:, 0] > 0, rows[:, 1] > 0
        best = auto_accept(fields, [])["best"]
        fast = straight_through(~right[detected], true[detected], rows[detected, 2], int(true.sum()),
                                TARGET_ERROR)
        assert math.isclose(fast, best["accepted_share"] if best else 0.0), seed


def test_intervals_hold_the_figure_and_narrow_with_more_pages() -> None:
    rng = np.random.default_rng(7)
    fields = [_fields(rng, 12) for _ in range(400)]
    pages = [interval_rows(f) for f in fields]
    few, many = bootstrap(pages[:50], TARGET_ERROR), bootstrap(pages, TARGET_ERROR)
    rows = np.array([r for p in pages for r in p])
    exact = (rows[:, 0] * rows[:, 1]).sum() / rows[:, 0].sum()
    assert many["exact"][0] <= exact <= many["exact"][1]
    best = auto_accept([f for p in fields for f in p], [])["best"]
    assert many["straight_through"][0] <= best["accepted_share"] <= many["straight_through"][1]
    assert bootstrap([], TARGET_ERROR)["exact"] == (0.0, 0.0)  # nothing read: no interval
    width = {k: (v[1] - v[0], many[k][1] - many[k][0]) for k, v in few.items()}
    assert all(narrow < wide for wide, narrow in width.values()), width
