"""A field with a rule: the most probable valid reading chosen, an impossible field sent to
review with the reason; and rules in templates."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

from reading.combine import Calibration, CtcOpinion
from reading.rules import Rule, luhn_digit
from segmentation.fields import MARGIN, field_structure
from segmentation.results import DigitResult
from segmentation.ruled import RULE_FAILED_CONFIDENCE, cut_decision, line_decision
from segmentation.templates import TemplateError, load_template, parse_template
from segmentation.vote import CutReading, Placement, cut_opinion
from tests.reading.opinions import cut_digits, reads

_reads = functools.partial(reads, frames_per_digit=3)  # a CRNN's frames: a digit spans several
ACCOUNT = Rule("digits", length=8, check_digit="luhn")
TRUTH = "1234567" + luhn_digit("1234567")
WEAK, WRONG = 3, (int(TRUTH[3]) + 5) % 10


def _cut(rows: np.ndarray, segmentation: float = 1.0) -> CutReading:
    """A cut reading of these per-digit probabilities (each digit's confidence its row's top)."""
    digits = tuple(DigitResult(str(int(r.argmax())), float(r.max()), (10 * i, 0, 10, 20),
                               (), np.zeros((28, 28), np.float32)) for i, r in enumerate(rows))
    confidence = segmentation * float(np.prod(rows.max(axis=1)))
    return CutReading(digits, rows, confidence, segmentation, False, True)


def _misread() -> np.ndarray:
    """The classifier prefers a wrong digit at one position, the true one second."""
    rows = cut_digits(TRUTH, 0.98)
    rows[WEAK] = 0.01 / 8
    rows[WEAK, WRONG], rows[WEAK, int(TRUTH[WEAK])] = 0.6, 0.39
    return rows


def test_the_cut_reading_takes_the_most_probable_valid_value() -> None:
    cut = _cut(_misread(), segmentation=0.9)
    assert cut.value != TRUTH and ACCOUNT.check(cut.value) is not None
    value, confidence, digits, _, error = cut_decision(cut, ACCOUNT)
    assert value == TRUTH and error is None
    assert "".join(d.value for d in digits) == TRUTH
    assert digits[WEAK].confidence == pytest.approx(0.39)  # its row's probability of the new digit
    assert digits[WEAK].alternatives[0][0] == str(WRONG)  # the old guess is its first rival
    assert [d.box for d in digits] == [d.box for d in cut.digits]
    # A probability, never above the cut's own certainty (0.9) nor the evidence's share.
    assert 0.5 < confidence <= 0.9


def test_a_valid_reading_is_left_alone() -> None:
    cut = _cut(cut_digits(TRUTH, 0.98))
    assert cut_decision(cut, ACCOUNT) == (TRUTH, cut.confidence, cut.digits, (), None)


def test_an_impossible_field_goes_to_review_with_the_reason() -> None:
    """Seven digits read for an eight-digit account: no reading of them fits. The best one
    stays, sure of itself as it was, but its confidence is capped and the reason recorded."""
    cut = _cut(cut_digits("1234567", 0.999))
    value, confidence, _, _, error = cut_decision(cut, ACCOUNT)
    assert value == "1234567" and error == "length 7, expected 8"
    assert confidence <= RULE_FAILED_CONFIDENCE < cut.confidence


def test_a_field_read_whole_takes_the_most_probable_valid_candidate() -> None:
    """Every reader prefers an amount with a leading zero, which the rule forbids: the valid
    candidate they score best wins, its confidence no higher than its posterior among the
    valid candidates."""
    s = field_structure(np.full((40, 120), 255, np.uint8))
    place = Placement(MARGIN, MARGIN, 120, 40)
    rows = cut_digits("0250", 0.98)
    rows[0] = 0.01 / 8
    rows[0, 0], rows[0, 8] = 0.6, 0.39  # the cut reader's second guess for the first digit: 8
    cut = _cut(rows)
    opinions = [cut_opinion(cut), CtcOpinion("a", _reads("0250")), CtcOpinion("b", _reads("0250"))]
    calibration = Calibration({"cut": 1.0, "a": 1.0, "b": 1.0}, (0.5, 2.0, 2.0, 0.05), -1.0)
    amount = Rule("amount", min=1)
    value, confidence, digits, readings, error = line_decision(s, cut, opinions, place, calibration, amount)
    assert error is None and amount.check(value) is None and value != "0250"
    assert len(digits) == len(value) and dict(readings) == {"cut": "0250", "a": "0250", "b": "0250"}
    assert 0.0 < confidence < 0.95  # no reader read it on its own: it is not a sure result
    # No valid candidate at all (an amount of at most 10 is none of theirs): review, and why.
    tiny = Rule("amount", min=1, max=10)
    value, confidence, _, _, error = line_decision(s, cut, opinions, place, calibration, tiny)
    assert value == "0250" and error == "an amount has no leading zero"
    assert confidence <= RULE_FAILED_CONFIDENCE


def test_templates_carry_rules_and_name_the_region_of_a_bad_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    region = {"name": "account", "x": 0, "y": 0.5, "width": 0.6, "height": 0.4,
              "rule": {"kind": "digits", "length": 8, "check": "luhn"}}
    free = {**region, "name": "free", "rule": None}
    template = parse_template({"name": "t", "regions": [region, free]}, "t.json")
    assert template.regions[0].rule == ACCOUNT and template.regions[1].rule is None
    path = tmp_path / "bad.json"
    bad = {**region, "rule": {"kind": "digits", "check": "md5"}}
    path.write_text(json.dumps({"name": "bad", "regions": [bad]}))
    with pytest.raises(TemplateError) as raised:
        load_template(path)
    message = str(raised.value)
    assert str(path) in message and "regions[0]" in message and "'account'" in message and "md5" in message


def test_the_shipped_cheque_template_has_its_rules() -> None:
    from core.settings import Settings

    template = load_template(Settings().form_templates_dir / "cheque.json")
    rules = {r.name: r.rule for r in template.regions}
    assert rules["date"] is not None and rules["date"].check("29022024") is None
    assert rules["account"] is not None and rules["account"].check(TRUTH) is None
    assert rules["account"].check(TRUTH[:-1] + str((int(TRUTH[-1]) + 1) % 10)) is None  # banks differ
    assert rules["account"].check(TRUTH[:5]) is not None
