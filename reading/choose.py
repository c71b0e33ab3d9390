"""The most probable value that keeps a field's rule, from per-digit probabilities.

A reader that classifies one glyph per digit gives each position its own probabilities of
0-9; its values are then independent digits, and their probabilities products. `ranked`
lists values in decreasing probability (a k-best search over a heap: each value popped
pushes its successors, one position moved to its next likelier digit), and `best_valid`
takes the first that keeps the rule.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from reading.rules import Rule

# Values visited, most probable first, before the search gives up. A Luhn or mod-11 check
# passes one value in ten (eleven): 200 visits reach every single-digit change of a 10-digit
# number at its digits' second and third likeliest readings, and two changes at the weakest
# positions; a few ms of Python a field.
MAX_VALUES = 200
# ... or once the values left are this improbable: such a value, even if valid, would not be
# believed (its share of the valid mass, below, stays far under any review threshold).
MIN_PROBABILITY = 1e-6
LOG_FLOOR = 1e-300  # probabilities are clipped here before their logarithm


@dataclass(frozen=True)
class Choice:
    """The value chosen and how much of the evidence backs it."""

    value: str
    probability: float  # its probability under the digits' probabilities
    share: float  # P(value | the value keeps the rule), a lower bound: see `best_valid`
    rank: int  # 0: the most probable value itself; n: the (n+1)-th most probable


def ranked(rows: np.ndarray, limit: int = MAX_VALUES,
           floor: float = MIN_PROBABILITY) -> Iterator[tuple[str, float]]:
    """Values of the digits whose probabilities are `rows` (N, 10), most probable first, with
    their probabilities: at most `limit` of them, none under `floor` (the first always)."""
    rows = np.asarray(rows, np.float64).reshape(-1, 10)
    if len(rows) == 0:
        yield "", 1.0
        return
    order = np.argsort(-rows, axis=1, kind="stable")
    logs = np.log(np.maximum(np.take_along_axis(rows, order, axis=1), LOG_FLOOR))
    start = (0,) * len(rows)
    heap = [(-float(logs[:, 0].sum()), start)]
    seen = {start}
    for count in range(limit):
        if not heap:
            return
        negative, ranks = heapq.heappop(heap)
        probability = math.exp(-negative)
        if count and probability < floor:
            return
        yield "".join(str(int(order[i, r])) for i, r in enumerate(ranks)), probability
        for i, r in enumerate(ranks):
            if r + 1 < 10:
                nxt = ranks[:i] + (r + 1,) + ranks[i + 1 :]
                if nxt not in seen:
                    seen.add(nxt)
                    heapq.heappush(heap, (negative - float(logs[i, r + 1] - logs[i, r]), nxt))


def best_valid(rows: np.ndarray, rule: Rule, limit: int = MAX_VALUES,
               floor: float = MIN_PROBABILITY) -> Choice | None:
    """The most probable value that keeps `rule`, or None when no value visited does.

    Its `share` is its probability given that the field keeps the rule (the field's true value
    does: that is what the rule says), estimated without believing more than was seen:
    p(value) / (the valid values' probability found + the probability of every value not
    visited). The values not visited are counted as if all were valid, so the share is a lower
    bound of P(value | valid), stays a probability, and is low when the search stopped early.
    The rows must each sum to 1 (all values then sum to 1)."""
    visited = valid_mass = 0.0
    chosen: tuple[str, float, int] | None = None
    for rank, (value, p) in enumerate(ranked(rows, limit, floor)):
        visited += p
        if rule.check(value) is None:
            valid_mass += p
            chosen = chosen or (value, p, rank)
    if chosen is None:
        return None
    value, p, rank = chosen
    unvisited = max(0.0, 1.0 - visited)
    return Choice(value, p, min(1.0, p / max(valid_mass + unvisited, p)), rank)


def valid_values(rows: np.ndarray, rule: Rule, count: int, limit: int = MAX_VALUES) -> list[str]:
    """Up to `count` values keeping `rule`, most probable first (candidates for other readers
    to score)."""
    out = []
    for value, _ in ranked(rows, limit):
        if rule.check(value) is None:
            out.append(value)
            if len(out) == count:
                break
    return out
