"""Fields struck through, drawn in code for the tests: an open box or a comb with printed
digits, a pen line drawn across them, and a cheque whose written amount is struck through."""

from __future__ import annotations

import cv2
import numpy as np

from synth.pages import Canvas, TruthField, draw_cheque
from synth.scanner import random_style

PAPER, INK = 235, 40
BOX = (60, 60, 560, 120)  # x, y, width, height of an open box on a 200-dpi scan


def box_page(text: str, cells: int = 0) -> np.ndarray:
    """A grey page with one open box (or a comb of `cells` cells) holding `text` written across
    its middle: digits 65 px apart from x = 100, ~65 px tall, from y = 95 to 160."""
    page = np.full((600, 1200), PAPER, np.uint8)  # the box well under half the page: no frame
    x, y, w, h = BOX
    cv2.rectangle(page, (x, y), (x + w, y + h), 20, 3)
    for i in range(1, cells):
        cv2.line(page, (x + i * w // cells, y), (x + i * w // cells, y + h), 20, 3)
    for i, ch in enumerate(text):
        cv2.putText(page, ch, (100 + 65 * i, 160), cv2.FONT_HERSHEY_SIMPLEX, 3.0, INK, 6)
    return page


def strike(page: np.ndarray, x0: int, x1: int, y0: int, y1: int, pen: int = 5) -> np.ndarray:
    """`page` with a pen line from (x0, y0) to (x1, y1)."""
    out = page.copy()
    cv2.line(out, (x0, y0), (x1, y1), INK, pen)
    return out


def struck_cheque(digits, seed: int) -> tuple[np.ndarray, TruthField]:  # type: ignore[no-untyped-def]
    """A cheque whose amount is struck through with the writer's pen, a little uphill; the
    grey page and the amount's true field."""
    rng = np.random.default_rng(seed)
    canvas = Canvas(180, 80, random_style(rng, dpi=200, clean=True), digits, rng)
    draw_cheque(canvas)
    amount = next(f for f in canvas.fields if f.name == "amount")
    xs = [x for x, _ in amount.digit_centres]
    y = round(float(np.mean([y for _, y in amount.digit_centres])))
    reach = amount.box[3] // 4
    cv2.line(canvas.ink, (round(min(xs)) - reach, y + 2), (round(max(xs)) + reach, y - 2), 1.0,
             canvas.px(canvas.style.pen_mm))
    paper = (1 - canvas.lines) * (1 - canvas.print) * (1 - canvas.ink)
    return np.clip(255 * paper, 0, 255).astype(np.uint8), amount
