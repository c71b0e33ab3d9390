"""A field whose template region has a rule: the most probable reading that keeps it.

When the readers' best value breaks the rule (`reading.rules`), the readers' alternatives
are searched for the most probable value that keeps it: the cut-and-classify reader's values
in decreasing probability (`reading.choose`), and, for a field also read whole, the
candidates every reader scores (`reading.combine`). When no reading keeps the rule, the best
one stays, with a confidence that sends it to review and the reason the rule gives.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from reading.choose import best_valid, valid_values
from reading.combine import Calibration, Opinion, combine
from reading.rules import Rule
from segmentation import vote
from segmentation.results import DigitResult
from segmentation.structure import Structure

# A field no reading of which keeps its rule is right at most this often: its value is
# impossible as read, so the reading is wrong somewhere (as ink no reader reads,
# vote.UNREAD_INK_CONFIDENCE); kept well under any sensible review threshold.
RULE_FAILED_CONFIDENCE = 0.1
# Of the cut reader's values that keep the rule, this many most probable are added to the
# candidates the line readers score (a comb-like number in an open box: the CTC readers' own
# five best rarely reach a valid one when their best is not).
CUT_CANDIDATES = 5
MAX_ALTERNATIVES = vote.MAX_ALTERNATIVES

Ruled = tuple[str, float, tuple[DigitResult, ...], tuple[tuple[str, str], ...], str | None]


def cut_decision(cut: vote.CutReading, rule: Rule) -> Ruled:
    """The cut reader's value, or its most probable value that keeps `rule`.

    The chosen value's confidence is the cut reading's own, moved from its best value to the
    chosen one: confidence × (chosen's share of the valid values, `reading.choose.best_valid`)
    ÷ (best value's probability under the digits). The factor the cut reading holds beyond
    its digits' probabilities (how sure the cut is, marks read as no digit, the trust rules'
    caps) is kept; so a chosen value is never surer than its cut, nor than the evidence for
    it among the values the rule allows."""
    reason = rule.check(cut.value)
    if reason is None:
        return cut.value, cut.confidence, cut.digits, (), None
    choice = best_valid(cut.digit_probs, rule)
    if choice is None:
        return cut.value, min(cut.confidence, RULE_FAILED_CONFIDENCE), cut.digits, (), reason
    rows = cut.digit_probs
    top = float(np.prod(rows.max(axis=1))) if len(rows) else 1.0
    beyond_digits = min(1.0, cut.confidence / max(top, 1e-300))
    return choice.value, beyond_digits * choice.share, rewritten(cut, choice.value), (), None


def rewritten(cut: vote.CutReading, value: str) -> tuple[DigitResult, ...]:
    """The cut reading's digits with `value`'s digits in them (same boxes, same glyphs), each
    with its probability and alternatives from the digit's row."""
    out = []
    for d, row, char in zip(cut.digits, cut.digit_probs, value):
        if char == d.value:
            out.append(d)
            continue
        k = int(char)
        others = [j for j in np.argsort(-row).tolist() if j != k][:MAX_ALTERNATIVES]
        out.append(DigitResult(char, float(row[k]), d.box,
                               tuple((str(j), float(row[j])) for j in others), d.glyph))
    return tuple(out)


def line_decision(s: Structure, cut: vote.CutReading, opinions: Sequence[Opinion], place: vote.Placement,
                  calibration: Calibration, rule: Rule) -> Ruled:
    """Every reader's decision, or, when it breaks `rule`, the combination of the candidates
    that keep it: the readers' own candidates and the cut reader's most probable valid values,
    scored by every reader. Its confidence is the calibrated one of that combination, never
    above the chosen value's posterior among those valid candidates (the calibration was
    fitted on readers' own best values, not on values chosen for them)."""
    combined = combine(opinions, calibration)
    value, confidence, digits, readings = vote.settle(s, cut, opinions, place, combined)
    reason = rule.check(value)
    if reason is None:
        return value, confidence, digits, readings, None
    pool = [v for v, _ in combined.ranked] + [v for o in opinions for v in o.candidates()]
    if len(cut.digit_probs):
        pool += valid_values(cut.digit_probs, rule, CUT_CANDIDATES)
    allowed = [v for v in dict.fromkeys(pool) if rule.check(v) is None]
    if not allowed:
        return value, min(confidence, RULE_FAILED_CONFIDENCE), digits, readings, reason
    valid = combine(opinions, calibration, allowed)
    valid = dataclasses.replace(valid, confidence=min(valid.confidence, valid.posterior))
    value, confidence, digits, readings = vote.settle(s, cut, opinions, place, valid)
    return value, confidence, digits, readings, None
