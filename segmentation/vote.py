"""An open box or a field image read by every reader, and one value decided for it.

The page pipeline's own reader cuts the ink into glyphs and classifies each (`CutReading`);
line readers (`reading.combine.LineReader`: a CRNN, PP-OCR) read the field whole with CTC.
`decide` weighs their opinions (`reading.combine`) and keeps the trust rules: ink that no
reader reads never yields a sure result. When the value decided is not the cut reader's,
its digits are placed where the line reader that read it aligns them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from reading import ctc
from reading.combine import (
    Calibration,
    Combined,
    CtcOpinion,
    DigitsOpinion,
    LineReader,
    Opinion,
    combine,
)
from segmentation.cut import WEAK_INK
from segmentation.glyph import to_mnist
from segmentation.results import DigitResult
from segmentation.structure import Structure

CUT_READER = "cut"
# The field's value when ink as tall as a digit was read as no digit, or read as nothing at
# all: right at most this often (see pipeline.UNREAD_INK_CONFIDENCE), so it goes to review.
UNREAD_INK_CONFIDENCE = 0.1
MAX_ALTERNATIVES = 3


@dataclass(frozen=True)
class CutReading:
    """What the cut-and-classify reader made of a field."""

    digits: tuple[DigitResult, ...]
    digit_probs: np.ndarray  # (N, 10): each kept glyph's probabilities of 0-9
    confidence: float  # its own probability that the whole value is right
    segmentation: float  # how sure the cut itself is (touching digits split)
    unread: bool  # ink as tall as a digit was read as no digit and left out
    inked: bool  # the field holds ink as tall as a digit, or more than an empty field holds
    # each such piece: (kept digits before it, its probabilities of 0-9, probability it is one)
    optional: tuple[tuple[int, np.ndarray, float], ...] = ()

    @property
    def value(self) -> str:
        return "".join(d.value for d in self.digits)


@dataclass(frozen=True)
class Placement:
    """Where the image a line reader read lies in the structure's frame."""

    x0: int
    y0: int
    width: int
    height: int


def line_opinions(readers: Sequence[LineReader], images: Sequence[np.ndarray]) -> list[list[CtcOpinion]]:
    """Every reader's opinion of every image (each reader reads the whole list in one call), with
    whether it read words there when it can tell (`read_words`)."""
    out: list[list[CtcOpinion]] = [[] for _ in images]
    if not images:
        return out
    for reader in readers:
        if hasattr(reader, "read_words"):
            folded, words = reader.read_words(list(images))
        else:
            folded, words = reader.read(list(images)), [False] * len(images)
        for i, (f, w) in enumerate(zip(folded, words)):
            out[i].append(CtcOpinion(reader.name, f, w))
    return out


Decision = tuple[str, float, tuple[DigitResult, ...], tuple[tuple[str, str], ...]]


def cut_opinion(cut: CutReading) -> DigitsOpinion:
    return DigitsOpinion(CUT_READER, cut.digit_probs, math.log(max(cut.segmentation, 1e-30)), cut.optional)


def decide(s: Structure, cut: CutReading, opinions: Sequence[Opinion], place: Placement,
           calibration: Calibration) -> Decision:
    """Value, confidence, digits and each reader's own reading of one field, from every
    reader's opinion (the cut reader's among them)."""
    return settle(s, cut, opinions, place, combine(opinions, calibration))


def settle(s: Structure, cut: CutReading, opinions: Sequence[Opinion], place: Placement,
           combined: Combined) -> Decision:
    """The decision for the value `combined` chose: the trust rules on its confidence, its
    digits (the cut reader's, or placed where a line reader aligns them)."""
    lines = [o for o in opinions if isinstance(o, CtcOpinion)]
    value, confidence = combined.value, combined.confidence
    if cut.inked and (value == "" or (cut.unread and value == cut.value)):
        confidence = min(confidence, UNREAD_INK_CONFIDENCE)
    if any(o.words for o in lines):  # words written where a number belongs: a person reads it
        confidence = min(confidence, UNREAD_INK_CONFIDENCE)
    if value == cut.value:
        digits = cut.digits
    else:
        reader = max((o for o in lines if o.best == value), default=None,
                     key=lambda o: o.log_prob(value)) or max(lines, key=lambda o: o.log_prob(value))
        digits = aligned_digits(s, reader.folded, value, place)
    readings = tuple(sorted(combined.readings.items()))
    return value, float(confidence), digits, readings


def aligned_digits(s: Structure, folded: np.ndarray, value: str, place: Placement) -> tuple[DigitResult, ...]:
    """The digits of `value` where the CTC alignment puts them, each with the probability the
    reader gives it at its most telling frame."""
    spans = ctc.align(folded, value)
    if len(spans) != len(value):  # no alignment: spread the digits evenly
        step = len(folded) / max(1, len(value))
        spans = [(int(k * step), max(int(k * step), int((k + 1) * step) - 1)) for k in range(len(value))]
    frames = max(1, len(folded))
    digits = []
    for char, (first, last) in zip(value, spans):
        d = int(char)
        rows = folded[first : last + 1]
        peak = int(np.argmax(rows[:, d])) + first if len(rows) else first
        p = folded[min(peak, len(folded) - 1)] if len(folded) else np.zeros(11)
        x0 = place.x0 + int(first * place.width / frames)
        x1 = place.x0 + max(int(math.ceil((last + 1) * place.width / frames)), x0 - place.x0 + 1)
        y0, y1 = place.y0, place.y0 + place.height
        ink = s.darkness[max(y0, 0) : y1, max(x0, 0) : x1]
        glyph = to_mnist(np.where(ink >= WEAK_INK, ink, 0.0))
        order = [k for k in np.argsort(-p).tolist() if k != d][:MAX_ALTERNATIVES]
        alternatives = tuple(("?" if k == ctc.FILLER else str(k), float(p[k])) for k in order)
        box = s.frame.box_to_page(x0, y0, x1, y1)
        digits.append(DigitResult(char, float(p[d]), box, alternatives, glyph))
    return tuple(digits)
