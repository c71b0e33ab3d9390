"""Fitting the combination: weights kept on request, and refused when there are none to keep."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evaluation.calibrate_fields import Sample, fit_kind, main
from reading.combine import Calibration, Calibrations, CtcOpinion, DigitsOpinion, combine
from tests.reading.opinions import cut_digits, reads


def _samples(count: int = 80) -> list[Sample]:
    """Fields where the readers agree on the truth, where the line readers agree on a wrong
    value (a third), and where the cut reading is wrong (a fifth)."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(count):
        truth = "".join(str(d) for d in rng.integers(0, 10, 4))
        wrong = truth[:-1] + str((int(truth[-1]) + 1) % 10)
        line_value = truth if i % 3 else wrong
        cut_value = truth if i % 5 else wrong
        sure = float(rng.uniform(0.6, 0.99))
        out.append(Sample([DigitsOpinion("cut", cut_digits(cut_value, sure)),
                           CtcOpinion("crnn", reads(line_value, sure)),
                           CtcOpinion("ppocr", reads(line_value, sure))], truth))
    return out


def test_kept_weights_leave_the_values_and_fit_the_confidence() -> None:
    samples = _samples()
    weights = {"cut": 0.15, "crnn": 0.5, "ppocr": 0.5}
    kept = fit_kind(samples, "box", "test", weights)
    assert kept.weights == weights
    assert [combine(s.opinions, kept).value for s in samples] == \
        [combine(s.opinions, Calibration(weights, (1.0, 0.0, 0.0, 0.0), 0.0)).value for s in samples]
    right = [combine(s.opinions, kept) for s in samples if combine(s.opinions, kept).value == s.truth]
    wrong = [combine(s.opinions, kept) for s in samples if combine(s.opinions, kept).value != s.truth]
    assert right and wrong
    assert np.mean([c.confidence for c in right]) > np.mean([c.confidence for c in wrong])
    fitted = fit_kind(samples, "box", "test")  # weights chosen for the most fields right
    assert fitted.weights["cut"] > fitted.weights["crnn"]


def test_keeping_weights_that_are_not_there_is_refused_before_any_reading(tmp_path: Path) -> None:
    path = tmp_path / "combination.json"
    Calibrations({"field": Calibration({"crnn": 0.3}, (1.0, 0.0, 0.0, 0.0), 0.0)}).save(path)
    with pytest.raises(SystemExit, match="no weights for box, comb"):
        main(["--kinds", "box,comb", "--keep-weights", "--output", str(path)])
