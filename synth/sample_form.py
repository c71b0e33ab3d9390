"""A handwriting sample form after NIST's (Special Database 19): digit boxes below the printed
strings to copy, boxes of words (name, city, state) with their printed labels inside, the
alphabet in two boxes and a paragraph; 300 dpi, bilevel, black pen and lines.

What a digit reader meets there besides digits: printed digits just above each box, labels
inside boxes, letters and writing in boxes no different from digit boxes. Digits are the
source's (MNIST test digits in the tests); words are OpenCV's script font.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np

from synth import render
from synth.pages import Canvas, SyntheticPage, compose
from synth.render import DigitSource
from synth.scanner import degrade, random_style

# The strings to copy, as the form prints them above the boxes (lengths as on NIST's forms).
COPY = ("0123456789", "0124", "99", "716213", "4071", "583", "31", "690", "8825", "2710", "56",
        "16349", "7702", "438")
# Words of letters shaped like digits, read as sure digits letter by letter ("Oslo": 0510).
WORDS = (("NAME", 15, 70, "Lisa Gibbs"), ("CITY", 130, 40, "Oslo"), ("STATE", 175, 12, "ID"))
PREAMBLE = ("We the People of the United States,", "in Order to form a more perfect Union")
SCRIPT = cv2.FONT_HERSHEY_SCRIPT_SIMPLEX

Box = tuple[int, int, int, int]


@dataclass
class SampleForm:
    """The page (its digit boxes' truth in `page.fields`) and the boxes holding writing."""

    page: SyntheticPage
    writing: list[Box]


def _write(c: Canvas, words: str, x_mm: float, y_mm: float, size_mm: float) -> None:
    """Words in the pen's ink, baseline at y."""
    render.text(c.ink, words, c.px(x_mm), c.px(y_mm), c.px(size_mm), c.rng, font=SCRIPT)


def _writing_box(c: Canvas, x: float, y: float, w: float, h: float, lines: tuple[str, ...],
                 size_mm: float, label: str = "") -> Box:
    c.frame(x, y, w, h)
    if label:
        c.label(label, x + 1, y + 3, 2)
    for k, words in enumerate(lines):
        _write(c, words, x + 3, y + size_mm + 4 + k * 2.2 * size_mm, size_mm)
    return c.px(x), c.px(y), c.px(w), c.px(h)


def make_sample_form(digits: DigitSource, rng: np.random.Generator) -> SampleForm:
    """One sample form, written by `digits`' hands, scanned bilevel at 300 dpi."""
    style = dataclasses.replace(random_style(rng, dpi=300), bilevel=True, colour=False,
                                box_rgb=(0.0, 0.0, 0.0), ink_rgb=(0.0, 0.0, 0.0),
                                pen_mm=float(rng.uniform(0.3, 0.6)))
    c = Canvas(216, 279, style, digits, rng)
    c.label("HANDWRITING SAMPLE FORM", 70, 15, 5, bold=True)
    writing = [_writing_box(c, x, 22, w, 12, (words,), 4, label) for label, x, w, words in WORDS]
    c.label("Please print the following characters in the boxes below.", 15, 44, 2.6)
    y, k = 52.0, 0
    while k < len(COPY):
        x = 15.0
        while k < len(COPY) and x + 8 + 7 * len(COPY[k]) <= 200:
            width = 8 + 7 * len(COPY[k])
            c.label(COPY[k], x + 2, y, 3)  # the string to copy, printed just above its box
            c.open_box(f"copy_{k + 1}", x, y + 2, width, 13, COPY[k])
            x += width + 8
            k += 1
        y += 24
    for letters in ("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"):
        c.label(letters, 15, y, 3)
        writing.append(_writing_box(c, 15, y + 2, 180, 14, (letters,), 5))
        y += 24
    c.label(" ".join(PREAMBLE), 15, y, 2.6)
    writing.append(_writing_box(c, 15, y + 2, 185, 40, PREAMBLE, 3.6))
    page = SyntheticPage(degrade(compose(c), style, rng), c.fields, "sample", style)
    return SampleForm(page, writing)
