"""Marks around a written amount that are not part of it, for the string readers' training
fields (`synth.strings.field_image`'s `marks`): a printed currency sign or code, a printed label
word, pen-drawn delimiters. None is in the readers' alphabet: they learn to read past them.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import cv2
import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont

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
# Printed marks in a TrueType font this share of the time, one of matplotlib's own font files
# (serif, sans, typewriter, bold, italic), else a Hershey font. Hershey's stroke fonts alone are
# few shapes of print: a stage trained on labels in them alone read ORAND's amounts with a
# label printed before them 72.39% exactly, with these fonts beside them 85.87% (the seventh
# stage, labels corrected, 2026-12-07; README "Printed signs and delimiters around an
# amount"). The
# DejaVu Sans family (Mono too: the same letter shapes) is left out: `make eval-real` prints
# its marks in DejaVu Sans, a font the reader never trained on.
P_TRUETYPE = 0.5
TRUETYPE_FONTS = ("DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf",
                  "STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf", "cmr10.ttf",
                  "cmss10.ttf", "cmtt10.ttf", "cmb10.ttf")
P_DELIMITED = 0.06
DELIMITERS = "#*"
# A label word a form prints before its amount box, taken in by a template region or a crop cut
# generously: ORAND's amounts with "Total:", "Amount", "Valor" or "Montant" printed before them
# (`evaluation.real.PRINTED_LABELS`, DejaVu Sans) read 41.74% exactly with the sixth-stage
# CRNN, labels corrected (measured 2026-12-07): letters read as 0s and 1s, all sent to review.
# Words of several languages that forms print before numbers; none shares three letters in a
# row with those four or lies within two letters' edits of one (that row stays a test of
# words never seen); none holds an S, which taught the reader to skip S-shaped 5s (above). A
# tenth of the training fields: the share of signs (P_SIGN), so that most fields stay bare.
P_LABEL = 0.1
LABELS = ("Importe", "Betrag", "Bedrag", "Importo", "Net", "Net due", "Due", "Pay", "Paid", "Fee",
          "Price", "Balance", "Credit", "Debit", "Rate", "Tax", "Nr.", "No.", "Ref.", "Item",
          "Qty", "Prix", "Netto", "Brutto", "Neto", "Pagar", "A pagar", "Pago", "Haber",
          "Zahlbetrag", "Endbetrag", "Payment", "Charge", "Premium", "Refund", "Wert", "Cena",
          "Bedrag EUR", "Hoeveelheid", "Belopp", "Cobro", "Haben", "Netbedrag", "Lump",
          "Due date", "Credit line", "Bill", "Invoice", "Order", "Number", "Nummer", "Numero",
          "Cheque", "Check", "Payable", "Net pay", "Paid out", "Recibo", "Pedido", "Folio",
          "Libro", "Dinero", "Precio", "Prezzo", "Preco", "Euro", "Dollar", "Real", "Rand",
          "Franc", "Yen", "Lira", "Kuna", "Forint", "Zloty", "Leu", "Dinar", "Rial", "Dirham",
          "Naira", "Birr", "Fill in", "Enter", "Here", "Field", "Line", "Cell", "Box", "Year",
          "Day", "Age", "Height", "Weight", "Grade", "Level", "Unit", "Poule", "Cijfer")
# Labels are printed smaller than handwriting (the capitals 0.3-0.8 of the digit height), a
# little below to a little above its baseline (LABEL_LIFT), 0.15-1.2 digit heights before it
# (LABEL_GAP: from a label set close to its box to one a box's width away); forms print them
# in capitals now and then (P_LABEL_CAPITALS) and often end them with a colon (P_LABEL_COLON).
# Guesses at what forms do, not fitted: no real form with labels was looked at for them.
LABEL_HEIGHT = (0.3, 0.8)
LABEL_LIFT = (-0.15, 0.1)
LABEL_GAP = (0.15, 1.2)
P_LABEL_CAPITALS = 0.25
P_LABEL_COLON = 0.4


def around(alpha: np.ndarray, boxes: list, baseline: int, height: float, pen: float,
           rng: np.random.Generator) -> tuple[np.ndarray, list, int]:
    """The writing (alpha image, digit boxes, baseline row; digits `height` px tall, written
    with a `pen` px wide) now and then between delimiters (P_DELIMITED), with a printed sign
    beside it (P_SIGN) and a printed label word before all (P_LABEL): the new alpha, digit boxes
    and baseline."""
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
    if rng.random() < P_LABEL:
        word = LABELS[int(rng.integers(len(LABELS)))]
        word = word.upper() if rng.random() < P_LABEL_CAPITALS else word
        word += ":" if rng.random() < P_LABEL_COLON else ""
        label = printed(word, height * rng.uniform(*LABEL_HEIGHT), rng)
        lift = int(height * rng.uniform(*LABEL_LIFT))
        alpha, boxes, baseline = beside(alpha, boxes, baseline, (label[0], label[1] + lift), False,
                                        int(height * rng.uniform(*LABEL_GAP)))
    return alpha, boxes, baseline


def printed(text: str, cap_height: float, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """A printed sign, code or word as an alpha image, and its baseline row: in a Hershey font
    (upright or italic) or, P_TRUETYPE of them, a TrueType font (TRUETYPE_FONTS)."""
    if rng.random() < P_TRUETYPE:
        return _truetype(text, cap_height, TRUETYPE_FONTS[int(rng.integers(len(TRUETYPE_FONTS)))])
    fonts = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
             cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_PLAIN)
    font = fonts[int(rng.integers(len(fonts)))] | (cv2.FONT_ITALIC if rng.random() < 0.2 else 0)
    thickness = max(1, round(cap_height * rng.uniform(0.05, 0.12)))
    scale = cv2.getFontScaleFromHeight(font, max(4, int(cap_height)), thickness)
    (w, h), below = cv2.getTextSize(text, font, scale, thickness)
    layer = np.zeros((h + below + 2 * thickness + 4, w + 2 * thickness + 4), np.uint8)
    base = h + thickness + 2
    cv2.putText(layer, text, (thickness + 2, base), font, scale, 255, thickness, cv2.LINE_AA)
    return layer.astype(np.float32) / 255, base


_PAD = 2  # px of blank around a TrueType mark's ink box


def _truetype(text: str, cap_height: float, font_file: str) -> tuple[np.ndarray, int]:
    """`text` in one of matplotlib's TrueType fonts, its capitals `cap_height` px tall (at
    least 4), as an alpha image, and its baseline row."""
    size = max(4, round(cap_height / _cap_per_em(font_file)))
    font = _font(font_file, size)
    left, top, right, bottom = font.getbbox(text, anchor="ls")  # relative to the baseline
    layer = Image.new("L", (right - left + 2 * _PAD, bottom - top + 2 * _PAD), 0)
    ImageDraw.Draw(layer).text((_PAD - left, _PAD - top), text, fill=255, font=font, anchor="ls")
    return np.asarray(layer, np.float32) / 255, _PAD - top


@functools.cache
def _cap_per_em(font_file: str) -> float:
    """A capital H's height in the font, of its size (0.61-0.73 in TRUETYPE_FONTS)."""
    _, top, _, bottom = _font(font_file, 100).getbbox("H", anchor="ls")
    return (bottom - top) / 100


@functools.cache  # ten fonts at the few dozen sizes fields ask for
def _font(font_file: str, size: int) -> ImageFont.FreeTypeFont:
    """One of matplotlib's own TrueType font files at `size` px (no download, no system font)."""
    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / font_file), size)


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
