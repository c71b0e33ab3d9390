"""Field rules: what a template region's field may hold, and why a reading breaks the rule.

A region of a form template may declare its field's content (the `"rule"` object of the
template JSON): `digits` of a length, with a check digit (Luhn or mod 11); a `date` in a
format of digits only; an `amount` or a `number` within a range. `Rule.check(value)` says
why a value cannot be the field's (a short reason a reviewer reads), or None when it can.
The readers' alternatives are then searched for the most probable value that keeps the rule
(`reading.choose`). Pure code: no image, database or web imports.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass

KINDS = ("digits", "date", "amount", "number")
CHECKS = ("luhn", "mod11")
DATE_FORMATS = ("DDMMYY", "DDMMYYYY", "MMDDYY", "MMDDYYYY", "YYMMDD", "YYYYMMDD")
# The options each kind takes (besides "kind" and "optional"); any other key is an error, so
# that a misspelt option ("lenght") is not silently ignored.
OPTIONS = {"digits": ("length", "min_length", "max_length", "check"),
           "date": ("format", "min_year", "max_year"),
           "amount": ("min", "max"), "number": ("min", "max")}
# A two-digit year is read as 20YY for leap years: 29 Feb 00 is a date (2000 was a leap year).
CENTURY = 2000


class RuleError(ValueError):
    """A rule object is malformed; the message says what is wrong with it."""


@dataclass(frozen=True)
class Rule:
    """What one field may hold. `check()` is the whole of its meaning."""

    kind: str  # one of KINDS
    length: int | None = None  # digits: exactly this many
    min_length: int | None = None  # digits: at least
    max_length: int | None = None  # digits: at most
    check_digit: str | None = None  # digits: "luhn" or "mod11", the last digit checks the rest
    format: str | None = None  # date: one of DATE_FORMATS
    min_year: int | None = None  # date (four-digit years): earliest year allowed
    max_year: int | None = None  # date: latest
    min: int | None = None  # amount / number: smallest value allowed
    max: int | None = None  # amount / number: largest
    optional: bool = False  # an empty field keeps the rule (a field that may be left blank)

    def check(self, value: str) -> str | None:
        """None when `value` may be this field's; else why not, in a few words."""
        if value == "":
            return None if self.optional else f"empty: expected {self.describe()}"
        if not value.isdigit() or not value.isascii():
            return "not digits"
        return {"digits": self._digits, "date": self._date, "amount": self._amount,
                "number": self._number}[self.kind](value)

    def describe(self) -> str:
        """The rule in a few words, for the README's reader and the review page."""
        if self.kind == "date":
            return f"a date ({self.format})"
        if self.kind == "digits":
            return f"{self._lengths()} digits" + (f" with a {self.check_digit} check digit"
                                                  if self.check_digit else "")
        bounds = "" if self.min is None and self.max is None else \
            f" from {'' if self.min is None else self.min} to {'' if self.max is None else self.max}"
        return f"an {self.kind}{bounds}" if self.kind == "amount" else f"a number{bounds}"

    def _lengths(self) -> str:
        if self.length is not None:
            return str(self.length)
        low, high = self.min_length, self.max_length
        if low is not None and high is not None:
            return f"{low}-{high}"
        if low is not None or high is not None:
            return f"at least {low}" if low is not None else f"at most {high}"
        return "any number of"

    def _digits(self, value: str) -> str | None:
        n = len(value)
        if (self.length is not None and n != self.length) or \
                (self.min_length is not None and n < self.min_length) or \
                (self.max_length is not None and n > self.max_length):
            return f"length {n}, expected {self._lengths()}"
        if self.check_digit == "luhn" and not luhn_valid(value):
            return "check digit (luhn) fails"
        if self.check_digit == "mod11" and not mod11_valid(value):
            return "check digit (mod11) fails"
        return None

    def _date(self, value: str) -> str | None:
        fmt = self.format or ""
        if len(value) != len(fmt):
            return f"length {len(value)}, expected {len(fmt)}: not a date ({fmt})"
        day = int(value[fmt.index("DD") : fmt.index("DD") + 2])
        month = int(value[fmt.index("MM") : fmt.index("MM") + 2])
        if "YYYY" in fmt:
            year = int(value[fmt.index("YYYY") : fmt.index("YYYY") + 4])
        else:
            year = CENTURY + int(value[fmt.index("YY") : fmt.index("YY") + 2])
        if not (1 <= month <= 12 and year >= 1 and 1 <= day <= calendar.monthrange(year, month)[1]):
            return f"not a date ({fmt})"
        if self.min_year is not None and year < self.min_year:
            return f"year {year} before {self.min_year}"
        if self.max_year is not None and year > self.max_year:
            return f"year {year} after {self.max_year}"
        return None

    def _amount(self, value: str) -> str | None:
        if len(value) > 1 and value.startswith("0"):
            return "an amount has no leading zero"
        return self._number(value)

    def _number(self, value: str) -> str | None:
        number = int(value)
        if self.min is not None and number < self.min:
            return f"below the minimum {self.min}"
        if self.max is not None and number > self.max:
            return f"above the maximum {self.max}"
        return None


def luhn_valid(value: str) -> bool:
    """The Luhn check (payment cards, many account numbers): from the right, every second
    digit doubled (less 9 when over 9), the sum a multiple of 10."""
    total = 0
    for i, char in enumerate(reversed(value)):
        d = int(char)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def luhn_digit(body: str) -> str:
    """The check digit that makes `body` + digit pass the Luhn check."""
    return str(next(d for d in range(10) if luhn_valid(body + str(d))))


def mod11_valid(value: str) -> bool:
    """Mod-11 with weights 1, 2, 3, ... from the right (the check digit weighs 1, as in
    ISBN-10): the weighted sum a multiple of 11. A body whose check would be 10 has no valid
    digit: such numbers are not issued."""
    return sum(w * int(c) for w, c in enumerate(reversed(value), start=1)) % 11 == 0


def parse_rule(data: object) -> Rule:
    """A rule from a template's `"rule"` object; RuleError says what is wrong."""
    if not isinstance(data, dict):
        raise RuleError("a rule is an object such as {\"kind\": \"digits\", \"length\": 8}")
    kind = data.get("kind")
    if kind not in KINDS:
        raise RuleError(f"'kind' must be one of {', '.join(KINDS)}; got {kind!r}")
    unknown = sorted(set(data) - {"kind", "optional", *OPTIONS[kind]})
    if unknown:
        raise RuleError(f"a {kind} rule takes {', '.join(OPTIONS[kind])} (and optional), "
                        f"not {', '.join(unknown)}")
    optional = data.get("optional", False)
    if not isinstance(optional, bool):
        raise RuleError("'optional' must be true or false")
    ints = {k: _whole(data, k) for k in OPTIONS[kind] if k not in ("check", "format")}
    if kind == "digits":
        if ints["length"] is not None and (ints["min_length"] is not None or ints["max_length"] is not None):
            raise RuleError("give 'length', or 'min_length'/'max_length', not both")
        _ordered(ints, "min_length", "max_length")
        check = data.get("check")
        if check is not None and check not in CHECKS:
            raise RuleError(f"'check' must be one of {', '.join(CHECKS)}; got {check!r}")
        return Rule(kind, ints["length"], ints["min_length"], ints["max_length"], check, optional=optional)
    if kind == "date":
        fmt = data.get("format")
        if fmt not in DATE_FORMATS:
            raise RuleError(f"'format' must be one of {', '.join(DATE_FORMATS)}; got {fmt!r}")
        if "YYYY" not in fmt and (ints["min_year"] is not None or ints["max_year"] is not None):
            raise RuleError("'min_year' and 'max_year' need a four-digit year (YYYY) in the format")
        _ordered(ints, "min_year", "max_year")
        return Rule(kind, format=fmt, min_year=ints["min_year"], max_year=ints["max_year"], optional=optional)
    _ordered(ints, "min", "max")
    return Rule(kind, min=ints["min"], max=ints["max"], optional=optional)


def _whole(data: dict, key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RuleError(f"'{key}' must be a whole number, 0 or more; got {value!r}")
    return value


def _ordered(ints: dict[str, int | None], low: str, high: str) -> None:
    if ints[low] is not None and ints[high] is not None and ints[low] > ints[high]:
        raise RuleError(f"'{low}' ({ints[low]}) is above '{high}' ({ints[high]})")
