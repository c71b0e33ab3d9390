"""One value decided for a field read by every reader, and the trust rules kept on top."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from reading.combine import Calibration, CtcOpinion
from segmentation.fields import MARGIN, field_structure
from segmentation.results import DigitResult
from segmentation.vote import UNREAD_INK_CONFIDENCE, CutReading, Placement, cut_opinion, decide
from tests.reading.opinions import reads

_reads = functools.partial(reads, frames_per_digit=3)  # a CRNN's frames: a digit spans several
CALIBRATION = Calibration({"cut": 1.0, "a": 1.0, "b": 1.0}, (0.5, 2.0, 2.0, 0.05), -1.0)


def _cut(value: str, unread: bool = False, inked: bool = True) -> CutReading:
    probs = np.full((len(value), 10), 0.01 / 9)
    probs[np.arange(len(value)), [int(c) for c in value]] = 0.99
    digits = tuple(DigitResult(c, 0.99, (10 * i, 0, 10, 20), (), np.zeros((28, 28), np.float32))
                   for i, c in enumerate(value))
    return CutReading(digits, probs, 0.99 ** len(value), 1.0, unread, inked)


def _field(width: int = 120, height: int = 40):  # type: ignore[no-untyped-def]
    image = np.full((height, width), 255, np.uint8)
    return field_structure(image), Placement(MARGIN, MARGIN, width, height)


def test_agreeing_readers_keep_the_cut_readers_digits() -> None:
    s, place = _field()
    cut = _cut("407")
    value, confidence, digits, readings = decide(
        s, cut, [cut_opinion(cut), CtcOpinion("a", _reads("407")), CtcOpinion("b", _reads("407"))],
        place, CALIBRATION)
    assert value == "407" and digits == cut.digits
    assert dict(readings) == {"cut": "407", "a": "407", "b": "407"}
    assert confidence > 0.9


def test_when_the_line_readers_win_their_digits_are_placed_where_they_read_them() -> None:
    s, place = _field(width=120)
    cut = _cut("47")  # the cut reader ran two digits together
    value, confidence, digits, _ = decide(
        s, cut, [cut_opinion(cut), CtcOpinion("a", _reads("407")), CtcOpinion("b", _reads("407"))],
        place, CALIBRATION)
    assert value == "407" and [d.value for d in digits] == ["4", "0", "7"]
    lefts = [d.box[0] for d in digits]
    assert lefts == sorted(lefts) and all(0 <= x < 120 for x in lefts)  # left to right, in the image
    assert all(d.glyph.shape == (28, 28) for d in digits)


def test_ink_no_reader_reads_is_never_a_sure_result() -> None:
    s, place = _field()
    cut = _cut("", inked=True)  # digit-sized ink, nothing read
    value, confidence, digits, _ = decide(
        s, cut, [cut_opinion(cut), CtcOpinion("a", _reads("")), CtcOpinion("b", _reads(""))],
        place, CALIBRATION)
    assert value == "" and confidence <= UNREAD_INK_CONFIDENCE


def test_ink_left_out_by_the_cut_reader_and_by_all_others_goes_to_review() -> None:
    s, place = _field()
    cut = _cut("12", unread=True)  # a third, digit-sized mark was read as no digit
    value, confidence, _, _ = decide(
        s, cut, [cut_opinion(cut), CtcOpinion("a", _reads("12")), CtcOpinion("b", _reads("12"))],
        place, CALIBRATION)
    assert value == "12" and confidence <= UNREAD_INK_CONFIDENCE


def test_ink_the_cut_reader_left_unread_is_read_when_the_line_readers_read_it() -> None:
    s, place = _field(width=160)
    stroke = np.full(10, 0.02)
    stroke[1] = 0.82  # a thin stroke, taken for no digit (60%), a 1 if a digit
    cut = dataclasses.replace(_cut("803", unread=True), optional=((1, stroke, 0.4),))
    assert cut_opinion(cut).optional == cut.optional
    comb = Calibration({"cut": 0.3, "a": 0.15, "b": 0.15}, CALIBRATION.coefficients, CALIBRATION.bias)
    lines = [CtcOpinion("a", _reads("8103")), CtcOpinion("b", _reads("8103"))]
    value, confidence, digits, _ = decide(s, cut, [cut_opinion(cut), *lines], place, comb)
    assert value == "8103" and [d.value for d in digits] == ["8", "1", "0", "3"]
    assert confidence > UNREAD_INK_CONFIDENCE  # the ink is read now: not held back as unread
    alone = decide(s, cut, [cut_opinion(cut)], place, comb)  # nobody else: the cut's own value
    assert alone[0] == "803" and alone[1] == UNREAD_INK_CONFIDENCE


def test_words_a_reader_read_where_a_number_belongs_are_never_a_sure_result() -> None:
    # "Oslo" in a box: the cut reader and a digits-only reader read 0510 and agree; PP-OCR,
    # which knows letters, read a word there
    s, place = _field()
    cut = _cut("0510")
    sure = [cut_opinion(cut), CtcOpinion("a", _reads("0510"))]
    _, agreeing, _, _ = decide(s, cut, [*sure, CtcOpinion("b", _reads("0510"))], place, CALIBRATION)
    value, confidence, _, _ = decide(s, cut, [*sure, CtcOpinion("b", _reads("0510"), words=True)],
                                     place, CALIBRATION)
    assert agreeing > 0.9
    assert value == "0510" and confidence <= UNREAD_INK_CONFIDENCE
