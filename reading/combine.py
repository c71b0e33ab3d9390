"""Several readers' opinions of one field, combined into one value and a calibrated confidence.

Each reader gives an `Opinion`: its own best value, and the probability it gives to ANY
candidate value (a CTC reader sums every alignment; the cut-and-classify reader multiplies
its digits' probabilities, and has no opinion on values of another length). The candidates
are the readers' few best values; each is scored by every reader, the scores are added in
log space with a weight per reader (a product of experts), and the best candidate wins.

Its confidence is not that product, which trusts readers as if their mistakes were
independent: it is a logistic model (`Calibration`) of the product's posterior and of how
many readers read that very value on their own, fitted on held-out fields. Two independent
readers agreeing is the strongest evidence there is; disagreement sends a field to review.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from reading import ctc

FLOOR_LOG_PROB = math.log(1e-6)  # a reader's score for a value it has no opinion on
MIN_LOG_PROB = -30.0  # scores are clipped here: past it, "impossible" carries no more meaning
CANDIDATES_PER_READER = 5
# Pieces the cut reader took for no digit but as tall as one may be digits after all (a thin 1
# against a comb's wall, a blotted 3): its opinion weighs each as a digit or not. On hard-style
# pages (seeds 7 and 8, 80 each) 16 comb fields lost a digit; in 10 of them one line reader or
# both read the whole value, outvoted by the cut reader's certainty about the length. Weighed
# so, 9 of the 16 are read right, and no field on those pages or on 230 of our style is read
# worse. Past this many such pieces in a field the choices are not enumerated (the rest stay
# no digit).
MAX_OPTIONAL = 3


class LineReader(Protocol):
    """A reader of whole fields (a CTC sequence recogniser): each image in, its folded
    per-frame probabilities out (`reading.ctc.fold`: digits 0-9, then filler)."""

    name: str
    version: str

    def read(self, images: Sequence[np.ndarray]) -> list[np.ndarray]: ...

    # A reader that knows letters may also have `read_words(images)`: `read`'s result and, for
    # each image, whether it holds words rather than a number (`models.ppocr`), and
    # `are_words(images)`: that alone, more cheaply, for fields no reading is wanted of.


PAGE_KINDS = ("box", "comb")  # fields found on a page, read whole when the cut reading is unsure


@dataclass(frozen=True)
class LineReaders:
    """Which line readers read which kind of field: field images and undrawn regions ("field")
    by `fields`; a page's open boxes and combs by `pages`, or by `fields` too when it is None.
    A page's field is not a field image: its box lines are erased under the strokes and a comb
    is cut to its written cells, and a reader trained on such fields reads them better than
    one trained on field images alone, while reading field images worse (README, "A string
    reader for page fields")."""

    fields: tuple[LineReader, ...] = ()
    pages: tuple[LineReader, ...] | None = None

    @staticmethod
    def of(lines: Sequence[LineReader] | LineReaders) -> LineReaders:
        """`lines` as they are, or one set of readers for every kind."""
        return lines if isinstance(lines, LineReaders) else LineReaders(tuple(lines))

    def for_kind(self, kind: str) -> tuple[LineReader, ...]:
        return self.pages if kind in PAGE_KINDS and self.pages is not None else self.fields

    def __bool__(self) -> bool:
        return bool(self.fields) or bool(self.pages)


class Opinion:
    """One reader's view of one field."""

    reader: str
    best: str

    def log_prob(self, value: str) -> float:
        raise NotImplementedError

    def log_probs(self, values: Sequence[str]) -> list[float]:
        """`log_prob` of each of `values` (readers that can score several at once do)."""
        return [self.log_prob(value) for value in values]

    def candidates(self) -> list[str]:
        raise NotImplementedError


@dataclass
class CtcOpinion(Opinion):
    """A CTC reader's folded per-frame probabilities (`reading.ctc`); `words`: the reader, which
    knows letters, read words there rather than a number."""

    reader: str
    folded: np.ndarray
    words: bool = False
    _scores: dict[str, float] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.best = ctc.best_path(self.folded)
        self._nbest = [v for v, _ in ctc.nbest(self.folded, CANDIDATES_PER_READER)]

    def log_prob(self, value: str) -> float:
        if value not in self._scores:
            self._scores[value] = max(ctc.log_prob(self.folded, value), MIN_LOG_PROB)
        return self._scores[value]

    def log_probs(self, values: Sequence[str]) -> list[float]:
        """The values not scored yet in one forward pass (`ctc.log_probs`: the same numbers)."""
        fresh = [value for value in dict.fromkeys(values) if value not in self._scores]
        for value, score in zip(fresh, ctc.log_probs(self.folded, fresh)):
            self._scores[value] = max(score, MIN_LOG_PROB)
        return [self._scores[value] for value in values]

    def candidates(self) -> list[str]:
        return [self.best, *self._nbest]


@dataclass
class DigitsOpinion(Opinion):
    """The cut-and-classify reader: one probability vector (digits 0-9) per glyph it cut, and
    how sure it is of the cut itself; it has no view on values of another length, but for the
    pieces it read as no digit (`optional`), each of which may be one."""

    reader: str
    digit_probs: np.ndarray  # (N, 10), each row the glyph's probabilities of 0-9
    cut_log_prob: float = 0.0  # log of the segmentation's confidence in its cut
    # pieces read as no digit, left to right: (how many kept digits come before it, its
    # probabilities of 0-9 summing to 1, the probability that it is a digit at all)
    optional: tuple[tuple[int, np.ndarray, float], ...] = ()

    def __post_init__(self) -> None:
        self.best = "".join(str(int(k)) for k in np.argmax(self.digit_probs, axis=1)) \
            if len(self.digit_probs) else ""
        self.optional = self.optional[:MAX_OPTIONAL]

    def log_prob(self, value: str) -> float:
        extra = len(value) - len(self.digit_probs)
        if extra < 0 or extra > len(self.optional):
            return FLOOR_LOG_PROB
        total = -math.inf
        for chosen in itertools.combinations(range(len(self.optional)), extra):
            rows, score = self._rows(chosen)
            picked = rows[np.arange(len(value)), [int(c) for c in value]]
            total = np.logaddexp(total, score + float(np.log(np.maximum(picked, 1e-30)).sum()))
        return max(float(total) + self.cut_log_prob, MIN_LOG_PROB)

    def _rows(self, chosen: Sequence[int]) -> tuple[np.ndarray, float]:
        """The digit rows with the `chosen` optional pieces put in place, and the log probability
        that exactly those pieces are digits."""
        if not self.optional:  # the common case: the rows as read
            return self.digit_probs, 0.0
        rows, score, kept = [], 0.0, 0
        for k, (before, probs, is_digit) in enumerate(self.optional):
            rows.extend(self.digit_probs[kept:before])
            kept = max(kept, before)
            if k in chosen:
                rows.append(probs)
                score += math.log(max(is_digit, 1e-30))
            else:
                score += math.log(max(1.0 - is_digit, 1e-30))
        rows.extend(self.digit_probs[kept:])
        return np.asarray(rows, np.float64).reshape(-1, 10), score

    def candidates(self) -> list[str]:
        out = [self.best]
        if len(self.digit_probs):  # the best value with its least sure digit changed
            weakest = int(np.argmin(self.digit_probs.max(axis=1)))
            second = int(np.argsort(-self.digit_probs[weakest])[1])
            out.append(self.best[:weakest] + str(second) + self.best[weakest + 1 :])
        n = len(self.optional)  # each optional piece, then all of them, read as its likeliest digit
        for chosen in [(k,) for k in range(n)] + ([tuple(range(n))] if n > 1 else []):
            rows, _ = self._rows(chosen)
            out.append("".join(str(int(k)) for k in np.argmax(rows, axis=1)))
        return list(dict.fromkeys(out))


@dataclass(frozen=True)
class Calibration:
    """confidence = σ(bias + Σ coefficient × feature), features as `features` makes them;
    `weights` are the readers' exponents in the product. Fitted by `python -m
    evaluation.calibrate_fields` on held-out synthetic fields."""

    weights: dict[str, float]
    coefficients: tuple[float, ...]
    bias: float
    fitted_on: str = ""

    @staticmethod
    def from_json(data: dict) -> Calibration:
        return Calibration({k: float(v) for k, v in data["weights"].items()},
                           tuple(float(c) for c in data["coefficients"]), float(data["bias"]),
                           str(data.get("fitted_on", "")))

    def to_json(self) -> dict:
        return {"weights": self.weights, "coefficients": list(self.coefficients), "bias": self.bias,
                "fitted_on": self.fitted_on, "features": list(FEATURES)}

    def confidence(self, x: Sequence[float]) -> float:
        z = self.bias + sum(c * v for c, v in zip(self.coefficients, x))
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


@dataclass(frozen=True)
class Calibrations:
    """One calibration per kind of field read whole: "box" (an open box found on a page, where
    the glyph classifier is strong), "comb" (a comb field, its dividers erased) and "field"
    (an image or region with no drawn box)."""

    by_kind: dict[str, Calibration] = field(default_factory=dict)

    def for_kind(self, kind: str) -> Calibration:
        return self.by_kind.get(kind, DEFAULT_CALIBRATION)

    def fitted(self, kind: str) -> bool:
        """Whether this kind has a calibration of its own (else the product's posterior)."""
        return kind in self.by_kind

    @staticmethod
    def load(path: Path) -> Calibrations:
        data = json.loads(Path(path).read_text())
        return Calibrations({kind: Calibration.from_json(v) for kind, v in data.items()})

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps({k: c.to_json() for k, c in self.by_kind.items()}, indent=2) + "\n")


DEFAULT_CALIBRATION = Calibration({}, (1.0, 0.0, 0.0, 0.0), 0.0, "none: the product's posterior")
UNCALIBRATED = Calibrations()
FEATURES = ("posterior logit", "share of readers agreeing", "all readers agree",
            "lowest reader log probability")


@dataclass(frozen=True)
class Combined:
    value: str
    confidence: float  # calibrated P(value is right)
    posterior: float  # the weighted product's own probability of `value` among the candidates
    agreeing: tuple[str, ...]  # readers whose own best reading is `value`
    readings: dict[str, str]  # each reader's own best reading
    ranked: tuple[tuple[str, float], ...]  # candidates and their posteriors, best first
    features: tuple[float, ...]


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


def combine(opinions: Sequence[Opinion], calibration: Calibration = DEFAULT_CALIBRATION,
            candidates: Sequence[str] | None = None) -> Combined:
    """The value the readers together find most probable, and how sure to be of it; among
    `candidates` when given (the values a field's rule allows), else the readers' own."""
    if not opinions:
        raise ValueError("combine needs at least one opinion")
    if candidates is not None and not candidates:
        raise ValueError("combine needs at least one candidate")
    candidates = list(dict.fromkeys(candidates if candidates is not None
                                    else (v for o in opinions for v in o.candidates())))
    weights = [calibration.weights.get(o.reader, 1.0) for o in opinions]
    # (values, readers), laid out as rows of values whatever order the scores came in
    table = np.ascontiguousarray(np.array([o.log_probs(candidates) for o in opinions]).T)
    scores = table @ np.asarray(weights)
    posterior = np.exp(scores - scores.max())
    posterior /= posterior.sum()
    order = np.argsort(-posterior, kind="stable")
    top = int(order[0])
    value = candidates[top]
    agreeing = tuple(o.reader for o in opinions if o.best == value)
    features = (_logit(float(posterior[top])), len(agreeing) / len(opinions),
                float(len(agreeing) == len(opinions)), float(table[top].min()))
    return Combined(value, calibration.confidence(features), float(posterior[top]), agreeing,
                    {o.reader: o.best for o in opinions},
                    tuple((candidates[i], float(posterior[i])) for i in order[:5]), features)
