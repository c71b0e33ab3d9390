"""Marks around a written amount that are not part of it, for the string readers' training
fields (`synth.strings.field_image`'s `marks`): a printed currency sign or code, pen-drawn
delimiters. None is in the readers' alphabet: they learn to read past them.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

# A printed currency sign or code before the amount (or, P_SIGN_AFTER of them, after it), as a
# generous crop of a cheque's amount area or a template region takes in; an amount written
# between pen-drawn delimiters ("#1.250#", "*250*"), as some cheques ask. A printed "$" before
# real cheque amounts was read as a 5 by the CRNN (ORAND's amounts with a "$" printed before
# them: 7.61% exact, "R$" 16.09%, "EUR" 2.61%, between "#" 81.52%, against 91.09% without;
# labels corrected, measured 2026-12-07). No code holding a plain S ("USD", "US$", "Rs"): a
# first stage with them learned to skip an S-shaped glyph, and real cheques' 5s are often
# written so (ORAND's 5230 read 230, 4523 43).
P_SIGN = 0.12
P_SIGN_AFTER = 0.25
SIGNS = ("$", "$", "R$", "N$", "EUR", "CHF", "GBP", "No", "#")
SIGN_HEIGHT = (0.45, 0.95)  # of the digit height: the sign's capitals
P_DELIMITED = 0.06
DELIMITERS = "#*"


def around(alpha: np.ndarray, boxes: list, baseline: int, height: float, pen: float,
           rng: np.random.Generator) -> tuple[np.ndarray, list, int]:
    """The writing (alpha image, digit boxes, baseline row; digits `height` px tall, written
    with a `pen` px wide) now and then between delimiters (P_DELIMITED) and with a printed
    sign beside it (P_SIGN): the new alpha, digit boxes and baseline."""
    if rng.random() < P_DELIMITED:
        mark = DELIMITERS[int(rng.integers(len(DELIMITERS)))]
        for after in (False, True):
            alpha, boxes, baseline = beside(alpha, boxes, baseline, delimiter(mark, height, pen, rng),
                                            after, int(height * rng.uniform(0.05, 0.4)))
    if rng.random() < P_SIGN:
        sign = printed(SIGNS[int(rng.integers(len(SIGNS)))], height * rng.uniform(*SIGN_HEIGHT), rng)
        lift = int(height * rng.uniform(-0.1, 0.15))
        alpha, boxes, baseline = beside(alpha, boxes, baseline, (sign[0], sign[1] + lift),
                                        rng.random() < P_SIGN_AFTER, int(height * rng.uniform(0.1, 0.8)))
    return alpha, boxes, baseline


def printed(sign: str, cap_height: float, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """A printed sign or code (a Hershey font, upright or italic) as an alpha image, and its
    baseline row."""
    fonts = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
             cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_PLAIN)
    font = fonts[int(rng.integers(len(fonts)))] | (cv2.FONT_ITALIC if rng.random() < 0.2 else 0)
    thickness = max(1, round(cap_height * rng.uniform(0.05, 0.12)))
    scale = cv2.getFontScaleFromHeight(font, max(4, int(cap_height)), thickness)
    (w, h), below = cv2.getTextSize(sign, font, scale, thickness)
    layer = np.zeros((h + below + 2 * thickness + 4, w + 2 * thickness + 4), np.uint8)
    base = h + thickness + 2
    cv2.putText(layer, sign, (thickness + 2, base), font, scale, 255, thickness, cv2.LINE_AA)
    return layer.astype(np.float32) / 255, base


def delimiter(mark: str, height: float, pen: float, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """A pen-drawn "#" or "*" about half to most of the digit height, and its baseline row."""
    pen_px = max(1, round(pen))
    size = max(height * rng.uniform(0.45, 0.85), 5.0 * pen_px)  # a "*" smaller is a blot
    side = int(size) + pen_px + 4
    layer = np.zeros((side, side), np.uint8)
    c, r = side / 2, size / 2

    def stroke(x0: float, y0: float, x1: float, y1: float) -> None:
        cv2.line(layer, (round(x0 * 4), round(y0 * 4)), (round(x1 * 4), round(y1 * 4)), 255, pen_px,
                 cv2.LINE_AA, shift=2)

    if mark == "#":
        lean = r * rng.uniform(0.0, 0.4)
        for dx in (-0.35 * r, 0.35 * r):
            stroke(c + dx + lean / 2, c - r, c + dx - lean / 2, c + r)
        for dy in (-0.35 * r, 0.35 * r):
            stroke(c - r, c + dy, c + r, c + dy + rng.uniform(-0.1, 0.1) * r)
    else:
        turn = rng.uniform(0, math.pi)
        for k in range(int(rng.integers(3, 5))):
            a = turn + k * math.pi / 3
            stroke(c - r * math.cos(a), c - r * math.sin(a), c + r * math.cos(a), c + r * math.sin(a))
    return layer.astype(np.float32) / 255, int(c + r * rng.uniform(0.6, 1.1))


def beside(alpha: np.ndarray, boxes: list, baseline: int, mark: tuple[np.ndarray, int], after: bool,
            gap: int) -> tuple[np.ndarray, list, int]:
    """The writing with `mark` (an alpha image and its baseline row) put before it or after
    it, `gap` px apart, baselines level: the new alpha, digit boxes and baseline."""
    layer, mark_base = mark
    above = max(0, mark_base - baseline)  # rows the mark needs above the writing
    height = max(alpha.shape[0] + above, baseline + above + layer.shape[0] - mark_base)
    width = alpha.shape[1] + gap + layer.shape[1]
    canvas = np.zeros((height, width), np.float32)
    x_writing = 0 if after else layer.shape[1] + gap
    canvas[above : above + alpha.shape[0], x_writing : x_writing + alpha.shape[1]] = alpha
    y_mark = baseline + above - mark_base
    x_mark = alpha.shape[1] + gap if after else 0
    region = canvas[y_mark : y_mark + layer.shape[0], x_mark : x_mark + layer.shape[1]]
    np.maximum(region, layer[: region.shape[0], : region.shape[1]], out=region)
    boxes = [(x + x_writing, y + above, w, h) for x, y, w, h in boxes]
    return canvas, boxes, baseline + above
