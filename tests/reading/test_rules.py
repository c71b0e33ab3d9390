"""Field rules: parsing, each check, and the most probable valid value from per-digit
probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from reading.choose import best_valid, ranked
from reading.rules import Rule, RuleError, luhn_digit, luhn_valid, mod11_valid, parse_rule
from tests.reading.opinions import cut_digits


def test_luhn_and_mod11() -> None:
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")
    assert luhn_digit("7992739871") == "3"
    assert not luhn_valid("79927398731")  # two digits swapped: caught
    assert mod11_valid("0306406152") and not mod11_valid("0306406153")  # ISBN-10 0-306-40615-2
    assert not mod11_valid("0306406125")  # adjacent digits swapped: caught


@pytest.mark.parametrize(("rule", "value", "reason"), [
    ({"kind": "digits", "length": 8}, "12345678", None),
    ({"kind": "digits", "length": 8}, "1234567", "length 7, expected 8"),
    ({"kind": "digits", "min_length": 6, "max_length": 10}, "12345", "length 5, expected 6-10"),
    ({"kind": "digits", "min_length": 6, "check": "luhn"}, "79927398713", None),
    ({"kind": "digits", "min_length": 6, "check": "luhn"}, "79927398710", "check digit (luhn) fails"),
    ({"kind": "digits", "length": 10, "check": "mod11"}, "0306406153", "check digit (mod11) fails"),
    ({"kind": "date", "format": "DDMMYYYY"}, "29022024", None),  # a leap year
    ({"kind": "date", "format": "DDMMYYYY"}, "29022023", "not a date (DDMMYYYY)"),
    ({"kind": "date", "format": "DDMMYYYY"}, "29021900", "not a date (DDMMYYYY)"),  # not leap
    ({"kind": "date", "format": "DDMMYY"}, "290200", None),  # 2000 was
    ({"kind": "date", "format": "MMDDYYYY"}, "12312026", None),
    ({"kind": "date", "format": "MMDDYYYY"}, "31122026", "not a date (MMDDYYYY)"),
    ({"kind": "date", "format": "YYYYMMDD"}, "20260431", "not a date (YYYYMMDD)"),
    ({"kind": "date", "format": "DDMMYYYY"}, "0101202", "length 7, expected 8: not a date (DDMMYYYY)"),
    ({"kind": "date", "format": "DDMMYYYY", "min_year": 1900}, "01011899", "year 1899 before 1900"),
    ({"kind": "amount", "min": 1, "max": 1000000}, "1000000", None),
    ({"kind": "amount", "min": 1, "max": 1000000}, "1000001", "above the maximum 1000000"),
    ({"kind": "amount", "min": 1}, "0", "below the minimum 1"),
    ({"kind": "amount"}, "0250", "an amount has no leading zero"),
    ({"kind": "number", "min": 0, "max": 120}, "007", None),
    ({"kind": "number", "min": 18, "max": 120}, "17", "below the minimum 18"),
    ({"kind": "number"}, "", "empty: expected a number"),
    ({"kind": "number", "optional": True}, "", None),
])
def test_checks(rule: dict, value: str, reason: str | None) -> None:
    assert parse_rule(rule).check(value) == reason


@pytest.mark.parametrize(("rule", "says"), [
    ({"length": 8}, "'kind' must be one of"),
    ({"kind": "digits", "lenght": 8}, "not lenght"),
    ({"kind": "digits", "length": 8, "max_length": 9}, "not both"),
    ({"kind": "digits", "min_length": 9, "max_length": 8}, "is above"),
    ({"kind": "digits", "check": "crc"}, "'check' must be one of luhn, mod11"),
    ({"kind": "digits", "length": "8"}, "'length' must be a whole number"),
    ({"kind": "date", "format": "DD/MM/YYYY"}, "'format' must be one of"),
    ({"kind": "date", "format": "DDMMYY", "min_year": 1900}, "four-digit year"),
    ({"kind": "amount", "min": 10, "max": 1}, "'min' (10) is above 'max' (1)"),
    ({"kind": "number", "optional": "yes"}, "'optional' must be true or false"),
    ("digits", "a rule is an object"),
])
def test_malformed_rules_say_what_is_wrong(rule: object, says: str) -> None:
    with pytest.raises(RuleError) as raised:
        parse_rule(rule)
    assert says in str(raised.value)


def test_values_come_most_probable_first() -> None:
    rows = cut_digits("123", 0.98)
    rows[1] = 0.0
    rows[1, 2], rows[1, 7], rows[1, 1] = 0.6, 0.3, 0.1
    values = list(ranked(rows, limit=50))
    assert [v for v, _ in values[:3]] == ["123", "173", "113"]
    probabilities = [p for _, p in values]
    assert probabilities == sorted(probabilities, reverse=True)
    assert len({v for v, _ in values}) == len(values) == 50
    assert abs(values[0][1] - 0.98 * 0.6 * 0.98) < 1e-12


def _luhn_misread() -> tuple[np.ndarray, str]:
    """Rows whose top guess fails the Luhn check: the classifier prefers a wrong digit at one
    position, and gives the true one its second likeliest reading there."""
    truth = "1234567" + luhn_digit("1234567")
    rows = cut_digits(truth, 0.98)
    weak = 3
    wrong = (int(truth[weak]) + 5) % 10
    rows[weak] = 0.01 / 8
    rows[weak, wrong], rows[weak, int(truth[weak])] = 0.6, 0.39
    return rows, truth


def test_the_most_probable_valid_value_is_chosen() -> None:
    """The second likeliest digit at the weakest position makes the value valid: it is chosen
    before any other value, and backed by most of the valid values' probability."""
    rows, truth = _luhn_misread()
    top = "".join(str(int(k)) for k in rows.argmax(axis=1))
    rule = Rule("digits", length=8, check_digit="luhn")
    assert rule.check(top) == "check digit (luhn) fails"
    choice = best_valid(rows, rule)
    assert choice is not None and choice.value == truth and choice.rank == 1
    assert choice.probability <= choice.share <= 1.0  # the rule's evidence raises it, to a probability
    assert choice.share > 0.9  # its valid rivals need two more misread digits


def test_a_search_that_stops_early_claims_little() -> None:
    """The values not visited count as valid rivals: stopped after two values, the chosen one's
    share is p2 / (1 - p1), well under the share a longer search finds."""
    rows, truth = _luhn_misread()
    rule = Rule("digits", length=8, check_digit="luhn")
    (_, p1), (_, p2) = list(ranked(rows, limit=2))
    short, long = best_valid(rows, rule, limit=2), best_valid(rows, rule)
    assert short is not None and long is not None and short.value == long.value == truth
    assert short.share == pytest.approx(p2 / (1 - p1))
    assert short.share < long.share - 0.05


def test_an_impossible_field_has_no_valid_value() -> None:
    """Seven digits for an eight-digit rule: no value of the digits read keeps it."""
    assert best_valid(cut_digits("1234567", 0.98), Rule("digits", length=8)) is None
    assert best_valid(np.zeros((0, 10)), Rule("date", format="DDMMYYYY")) is None
