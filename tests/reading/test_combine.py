"""Readers' opinions combined: agreement is trusted, disagreement is not, weights and the
calibration file round-trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reading.combine import (
    FLOOR_LOG_PROB,
    Calibration,
    Calibrations,
    CtcOpinion,
    DigitsOpinion,
    combine,
)
from tests.reading.opinions import cut_digits, reads

# Fitted-like calibration: confidence grows with the posterior and with agreement.
CALIBRATION = Calibration({"a": 1.0, "b": 1.0, "cut": 0.5}, (0.5, 2.0, 2.0, 0.05), -1.0)


def test_agreeing_readers_give_more_confidence_than_one_alone() -> None:
    both = combine([CtcOpinion("a", reads("1234")), CtcOpinion("b", reads("1234"))], CALIBRATION)
    split = combine([CtcOpinion("a", reads("1234")), CtcOpinion("b", reads("1284"))], CALIBRATION)
    assert both.value == "1234" and both.agreeing == ("a", "b")
    assert split.value in ("1234", "1284") and len(split.agreeing) == 1
    assert both.confidence > split.confidence + 0.2


def test_the_product_picks_the_value_the_readers_together_prefer() -> None:
    # a is torn between 17 and 11; b is sure of 17 though less than a's best: 17 wins
    torn = reads("11", 0.55)
    torn[3, 7], torn[3, 1] = 0.45, 0.5
    combined = combine([CtcOpinion("a", torn), CtcOpinion("b", reads("17", 0.9))], CALIBRATION)
    assert combined.value == "17"
    assert combined.readings == {"a": "11", "b": "17"}


def test_the_cut_reader_has_no_opinion_on_values_of_another_length() -> None:
    cut = DigitsOpinion("cut", cut_digits("123"))
    assert cut.best == "123"
    assert cut.log_prob("123") > cut.log_prob("124") > cut.log_prob("1234")
    combined = combine([cut, CtcOpinion("a", reads("1234")), CtcOpinion("b", reads("1234"))], CALIBRATION)
    assert combined.value == "1234"


def test_a_reader_with_zero_weight_is_not_heard() -> None:
    quiet = Calibration({"a": 1.0, "b": 0.0}, (1.0, 0.0, 0.0, 0.0), 0.0)
    combined = combine([CtcOpinion("a", reads("55")), CtcOpinion("b", reads("66", 0.999))], quiet)
    assert combined.value == "55"


def test_calibrations_round_trip_through_their_file(tmp_path: Path) -> None:
    path = tmp_path / "combination.json"
    saved = Calibrations({"field": CALIBRATION, "box": Calibration({"cut": 1.0}, (1, 0, 0, 0), 0.5, "x")})
    saved.save(path)
    loaded = Calibrations.load(path)
    assert loaded.for_kind("field") == CALIBRATION
    assert loaded.for_kind("box").bias == 0.5
    assert loaded.for_kind("comb").weights == {}  # unknown kinds: the uncalibrated product


def test_a_piece_the_cut_reader_took_for_no_digit_may_still_be_one() -> None:
    # a comb read 8 0 3 by the cut reader, which took a thin stroke between 8 and 0 for no digit
    # (40% a digit; a 1 if a digit); both line readers read 8103
    stroke = np.full(10, 0.02)
    stroke[1] = 0.82
    lines = [CtcOpinion("crnn", reads("8103")), CtcOpinion("ppocr", reads("8103"))]
    comb = Calibration({"cut": 0.3, "crnn": 0.15, "ppocr": 0.15}, (1.0, 0.0, 0.0, 0.0), 0.0)
    sure_of_length = DigitsOpinion("cut", cut_digits("803"))
    assert combine([sure_of_length, *lines], comb).value == "803"  # how it was: outvoted
    unsure = DigitsOpinion("cut", cut_digits("803"), 0.0, ((1, stroke, 0.4),))
    assert unsure.best == "803" and "8103" in unsure.candidates()
    assert unsure.log_prob("8103") > FLOOR_LOG_PROB + 5
    assert unsure.log_prob("803") < sure_of_length.log_prob("803")  # the stroke may be a digit
    assert unsure.log_prob("80103") == FLOOR_LOG_PROB  # one piece: at most one digit more
    combined = combine([unsure, *lines], comb)
    assert combined.value == "8103" and combined.readings["cut"] == "803"
