"""Synthetic scans with their truth: forms, bank cheques and order forms.

Handwriting is MNIST TEST digits (never training digits) pasted as ink; every page carries the
true box and value of each digit field. Pages are drawn clean, then skewed and degraded as
scanners do: colour or grey, black or blue ink, black, grey or dropout-coloured boxes, blur,
noise, specks, JPEG and uneven light (`synth.scanner.Style`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import cv2
import numpy as np

from reading.rules import luhn_digit
from synth import render
from synth.render import DigitSource, mm
from synth.scanner import Style, degrade, hard_style, random_style

KINDS = ("form", "cheque", "order")
TOUCH_REACH = 0.3  # touching digits overlap by at most this share of the narrower one


@dataclass(frozen=True)
class TruthField:
    """A digit field as drawn: outer box in page pixels (axis-aligned, after skew), value."""

    name: str
    kind: str  # "comb" | "box"
    box: tuple[int, int, int, int]  # x, y, width, height
    value: str
    cells: int = 0  # comb cells
    touching: bool = False  # an open box in which at least two digits touch
    cell_values: tuple[str, ...] = ()  # comb: each cell's digit, "" for an empty cell
    digit_centres: tuple[tuple[float, float], ...] = ()  # open box: where each digit is (page px)


@dataclass
class SyntheticPage:
    image: np.ndarray  # H×W×3 RGB or H×W grey, uint8
    fields: list[TruthField]
    kind: str
    style: Style


@dataclass
class Canvas:
    """A page being drawn: alpha layers for box lines, print and handwriting, and the truth."""

    width_mm: float
    height_mm: float
    style: Style
    digits: DigitSource
    rng: np.random.Generator
    fields: list[TruthField] = field(default_factory=list)
    # Cheques' account numbers end in a Luhn check digit (as form_templates/cheque.json's rule
    # wants); off by default, so that the pages of `make eval` stay the pages they were.
    luhn_accounts: bool = False

    def __post_init__(self) -> None:
        self.width, self.height = mm(self.width_mm, self.dpi), mm(self.height_mm, self.dpi)
        self.lines = np.zeros((self.height, self.width), np.float32)
        self.print = np.zeros_like(self.lines)
        self.ink = np.zeros_like(self.lines)

    @property
    def dpi(self) -> int:
        return self.style.dpi

    def px(self, value_mm: float) -> int:
        return mm(value_mm, self.dpi)

    @property
    def line_px(self) -> int:
        return self.px(self.style.line_mm)

    def label(self, words: str, x_mm: float, y_mm: float, size_mm: float = 3.2,
              bold: bool = False) -> None:
        render.text(self.print, words, self.px(x_mm), self.px(y_mm), self.px(size_mm), self.rng, bold)

    def rule(self, x_mm: float, y_mm: float, length_mm: float) -> None:
        """A printed line to sign or write words on: not a digit field."""
        render.horizontal(self.print, self.px(y_mm), self.px(x_mm), self.px(x_mm + length_mm),
                          max(1, self.line_px))

    def frame(self, x_mm: float, y_mm: float, w_mm: float, h_mm: float) -> None:
        render.rectangle(self.lines, self.px(x_mm), self.px(y_mm), self.px(w_mm), self.px(h_mm),
                         self.line_px + 1)

    def comb(self, name: str, x_mm: float, y_mm: float, cells: int, cell_w_mm: float,
             cell_h_mm: float, values: list[int | None]) -> None:
        x, y = self.px(x_mm), self.px(y_mm)
        cell_w, cell_h = self.px(cell_w_mm), self.px(cell_h_mm)
        t = self.line_px
        width = cells * cell_w + t
        render.rectangle(self.lines, x, y, width, cell_h, t)
        for i in range(1, cells):
            render.vertical(self.lines, x + i * cell_w, y, y + cell_h, t)
        for i, digit in enumerate(values):
            if digit is None:
                continue
            self._write_in_cell(digit, x + i * cell_w + t, y + t, cell_w - t, cell_h - t)
        value = "".join(str(d) for d in values if d is not None)
        self.fields.append(TruthField(name, "comb", (x, y, width, cell_h), value, cells=cells,
                                      cell_values=tuple("" if d is None else str(d) for d in values)))

    def _write_in_cell(self, digit: int, x: int, y: int, w: int, h: int) -> None:
        rng = self.rng
        style = self.style
        alpha = render.digit_alpha(self.digits.pick(digit, rng), int(h * rng.uniform(*style.fill)),
                                   self.px(style.pen_mm), rng)
        if alpha.shape[1] > 0.95 * w:  # people write narrower to fit a cell
            alpha = cv2.resize(alpha, (int(0.95 * w), alpha.shape[0]), interpolation=cv2.INTER_AREA)
        ah, aw = alpha.shape
        dx = (w - aw) / 2 + rng.uniform(-style.off_centre, style.off_centre) * w
        dy = (h - ah) / 2 + rng.uniform(-0.1, 0.1) * h
        if rng.random() < style.overflow:  # a stroke running over the top or bottom line
            dy = -0.15 * ah if rng.random() < 0.5 else h - 0.85 * ah
        render.paste(self.ink, alpha, round(x + dx), round(y + dy))

    def open_box(self, name: str, x_mm: float, y_mm: float, w_mm: float, h_mm: float,
                 value: str) -> None:
        rng = self.rng
        x, y, w, h = self.px(x_mm), self.px(y_mm), self.px(w_mm), self.px(h_mm)
        t = self.line_px
        render.rectangle(self.lines, x, y, w, h, t)
        touching_wanted = rng.random() < self.style.touching_share and len(value) > 1
        height = int((h - 2 * t) * rng.uniform(0.5, 0.72))
        pen = self.px(self.style.pen_mm)
        room = w - 2 * t - 2
        for _ in range(4):  # a writer short of room writes smaller
            alphas = [render.digit_alpha(self.digits.pick(int(c), rng), height, pen, rng) for c in value]
            tops = [round(rng.uniform(-0.08, 0.08) * height) for _ in alphas]
            lefts = [0]
            for previous, alpha, top, top_before in zip(alphas, alphas[1:], tops[1:], tops):
                left = lefts[-1] + previous.shape[1]
                if touching_wanted:  # slide the next digit in until its ink meets the last one's
                    limit = left - TOUCH_REACH * min(previous.shape[1], alpha.shape[1])
                    while left > limit and not _touch((lefts[-1], top_before, previous > 0.5),
                                                      (left, top, alpha > 0.5)):
                        left -= 1
                else:
                    left += round(height * rng.uniform(0.0, 0.3))
                lefts.append(left)
            span = lefts[-1] + alphas[-1].shape[1]
            if span <= room:
                break
            height = max(8, int(height * room / span * 0.95))
        cursor = x + t + 1 + round(rng.uniform(0, max(0.0, room - span)))
        baseline = y + t + (h - 2 * t - height) / 2
        masks = []
        for alpha, left, top in zip(alphas, lefts, tops):
            position = (cursor + left, round(baseline + top))
            render.paste(self.ink, alpha, *position)
            masks.append((*position, alpha > 0.5))
        touching = any(_touch(a, b) for a, b in zip(masks, masks[1:]))
        centres = tuple(_ink_centre(left, top, mask) for left, top, mask in masks)
        self.fields.append(TruthField(name, "box", (x, y, w, h), value, touching=touching,
                                      digit_centres=centres))

    def add_blots(self, count: int) -> None:
        """Ink blots beside fields, spilling over their lines (not over their digits' cells'
        middles, which would change the digit)."""
        rng = self.rng
        for _ in range(count if self.fields else 0):
            f = self.fields[int(rng.integers(len(self.fields)))]
            x, y, w, h = f.box
            side = int(rng.integers(4))
            cx = x + int(rng.uniform(0, w)) if side < 2 else (x if side == 2 else x + w)
            cy = (y if side == 0 else y + h) if side < 2 else y + int(rng.uniform(0, h))
            radius = max(2, int(h * rng.uniform(0.06, 0.14)))
            axes = (radius, max(1, int(radius * rng.uniform(0.5, 1.0))))
            cv2.ellipse(self.ink, (cx, cy), axes, rng.uniform(0, 180), 0, 360, 1.0, -1, cv2.LINE_AA)

    def add_specks(self, count: int) -> None:
        rng = self.rng
        for _ in range(count):
            centre = (int(rng.integers(self.width)), int(rng.integers(self.height)))
            cv2.circle(self.print, centre, int(rng.integers(0, 3) * self.dpi / 200), 0.8, -1)


def _ink_centre(left: int, top: int, mask: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return left + mask.shape[1] / 2, top + mask.shape[0] / 2
    return left + float(xs.mean()), top + float(ys.mean())


def _touch(a: tuple[int, int, np.ndarray], b: tuple[int, int, np.ndarray]) -> bool:
    """Whether two pasted digit masks touch (8-connected) where they overlap."""
    (ax, ay, am), (bx, by, bm) = a, b
    x0, y0 = min(ax, bx), min(ay, by)
    x1 = max(ax + am.shape[1], bx + bm.shape[1])
    y1 = max(ay + am.shape[0], by + bm.shape[0])
    ca = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cb = np.zeros_like(ca)
    ca[ay - y0 : ay - y0 + am.shape[0], ax - x0 : ax - x0 + am.shape[1]] = am
    cb[by - y0 : by - y0 + bm.shape[0], bx - x0 : bx - x0 + bm.shape[1]] = bm
    return bool((cv2.dilate(ca, np.ones((3, 3), np.uint8)) & cb).any())


# --- values ----------------------------------------------------------------------------------

def random_number(rng: np.random.Generator, low: int, high: int) -> str:
    """A digit string of low..high digits, no leading zero (amounts, quantities)."""
    length = int(rng.integers(low, high + 1))
    first = str(int(rng.integers(1, 10)))
    return first + "".join(str(int(d)) for d in rng.integers(0, 10, length - 1))


def random_date(rng: np.random.Generator) -> list[int]:
    day, month, year = int(rng.integers(1, 29)), int(rng.integers(1, 13)), int(rng.integers(1930, 2027))
    return [int(c) for c in f"{day:02d}{month:02d}{year:04d}"]


def comb_values(rng: np.random.Generator, cells: int) -> list[int | None]:
    """Digits for a comb: mostly full; sometimes right-aligned (leading cells left empty) or
    left-aligned (trailing cells empty), as quantities and codes are written."""
    digits: list[int | None] = [int(d) for d in rng.integers(0, 10, cells)]
    draw = rng.random()
    if draw < 0.2:
        empty = int(rng.integers(1, cells))
        digits[:empty] = [None] * empty
    elif draw < 0.3:
        empty = int(rng.integers(1, cells))
        digits[cells - empty:] = [None] * empty
    elif draw < 0.33:
        digits = [None] * cells  # left blank
    return digits


# --- layouts ----------------------------------------------------------------------------------

WORDS = ("Account", "Customer", "Reference", "Amount", "Quantity", "Postcode", "Member", "Date",
         "Phone", "Household", "Persons", "Code", "Total", "Invoice", "Serial", "Branch")


def draw_form(c: Canvas) -> None:
    rng = c.rng
    margin = rng.uniform(15, 22)
    c.label(rng.choice(["APPLICATION FORM", "CENSUS RETURN", "CLAIM FORM", "REGISTRATION"]),
            margin, margin + 8, 7, bold=True)
    c.label(f"Form {rng.integers(10, 99)}-{rng.choice(list('ABCD'))} rev. {rng.integers(1990, 2027)}"
            f"  Please write one digit per box", margin, margin + 16, 3)
    if rng.random() < 0.3:
        c.frame(margin - 8, margin - 6, c.width_mm - 2 * margin + 16, c.height_mm - 2 * margin + 8)
    y = margin + 30
    index = 0
    while y < c.height_mm - margin - 45:
        index += 1
        label = f"{rng.choice(WORDS)} {rng.choice(['number', 'no.', 'code', ''])}".strip()
        c.label(f"{index}. {label}", margin, y + 6, 3.4)
        x = margin + rng.uniform(55, 70)
        room = c.width_mm - margin - x
        if rng.random() < 0.6:
            cell_w, cell_h = rng.uniform(5, 7), rng.uniform(7, 9)
            cells = int(min(rng.integers(4, 13), room // cell_w))
            c.comb(f"field_{index}", x, y, cells, cell_w, cell_h, comb_values(rng, cells))
            height = cell_h
        else:
            height = rng.uniform(10, 14)
            width = min(rng.uniform(35, 75), room)
            c.open_box(f"field_{index}", x, y, width, height, random_number(rng, 1, 7))
        y += height + rng.uniform(9, 16)
    c.label("Signature", margin, c.height_mm - margin - 12, 3.4)
    c.rule(margin + 25, c.height_mm - margin - 11, 70)
    c.label(f"Page 1 of 1   Office use {rng.integers(100000, 999999)}", margin, c.height_mm - margin, 2.5)


def draw_cheque(c: Canvas) -> None:
    rng = c.rng
    c.label(rng.choice(["NORTHERN BANK", "CITY SAVINGS BANK", "FIRST MUTUAL", "UNION TRUST"]),
            8, 12, 5, bold=True)
    c.label(f"Branch {rng.integers(100, 999)}, {rng.integers(1, 200)} High Street", 8, 18, 2.5)
    c.label("Date", 112, 15, 3)
    cell_w, cell_h = rng.uniform(4.6, 5.4), rng.uniform(6.5, 7.8)
    c.comb("date", 122, 9, 8, cell_w, cell_h, random_date(rng))
    c.label("Pay", 8, 31, 3.4)
    c.rule(18, 32, 104)
    c.label("the sum of", 8, 42, 3)
    c.rule(28, 43, 94)
    c.open_box("amount", 128, 30, rng.uniform(38, 46), rng.uniform(10, 12.5), random_number(rng, 2, 7))
    c.label("Account", 8, 56, 3)
    cells = int(rng.integers(8, 11))
    cell_w, cell_h = rng.uniform(4.6, 5.4), rng.uniform(6.5, 7.8)
    account = [int(d) for d in rng.integers(0, 10, cells)]
    if c.luhn_accounts:  # the same draws either way: only the last digit differs
        account[-1] = int(luhn_digit("".join(str(d) for d in account[:-1])))
    c.comb("account", 26, 50, cells, cell_w, cell_h, account)
    c.rule(118, 60, 55)
    c.label("Signature", 135, 65, 2.6)
    micr = f"|: {rng.integers(10**8, 10**9)} |: {rng.integers(10**5, 10**6)} = {rng.integers(1000, 9999)}"
    c.label(micr, 20, 76, 3.2, bold=True)


def draw_order(c: Canvas) -> None:
    rng = c.rng
    margin = rng.uniform(14, 20)
    c.label("ORDER FORM", margin, margin + 8, 7, bold=True)
    c.label("Customer no.", margin, margin + 22, 3.2)
    cells = int(rng.integers(6, 9))
    c.comb("customer", margin + 30, margin + 15, cells, 5.5, 8, [int(d) for d in rng.integers(0, 10, cells)])
    c.label("Date", margin + 110, margin + 22, 3.2)
    c.comb("date", margin + 122, margin + 15, 8, 5.2, 8, random_date(rng))
    y = margin + 40
    c.label("Item", margin, y, 3.2, bold=True)
    c.label("Product code", margin + 55, y, 3.2, bold=True)
    c.label("Qty", margin + 105, y, 3.2, bold=True)
    c.label("Unit price", margin + 135, y, 3.2, bold=True)
    y += 6
    pitch = rng.uniform(15, 19)
    for row in range(1, int(rng.integers(6, 11)) + 1):
        c.label(f"{rng.choice(['Widget', 'Bolt', 'Panel', 'Cable', 'Valve'])} "
                f"{rng.choice(list('ABCDEFGH'))}-{rng.integers(1, 99)}", margin, y + 7, 3.2)
        code_cells = int(rng.integers(5, 7))
        c.comb(f"code_{row}", margin + 55, y, code_cells, 5.2, 8, comb_values(rng, code_cells))
        c.open_box(f"qty_{row}", margin + 105, y - 1, rng.uniform(18, 26), 10, random_number(rng, 1, 3))
        c.open_box(f"price_{row}", margin + 135, y - 1, rng.uniform(28, 36), 10, random_number(rng, 2, 5))
        y += pitch
        if y > c.height_mm - margin - 35:
            break
    c.label("Total", margin + 105, y + 8, 3.4, bold=True)
    c.open_box("total", margin + 135, y, rng.uniform(30, 38), 11, random_number(rng, 3, 6))


LAYOUTS = {"form": (210, 297, draw_form), "cheque": (180, 80, draw_cheque),
           "order": (210, 297, draw_order)}


# --- composing and degrading -----------------------------------------------------------------

def compose(c: Canvas) -> np.ndarray:
    """Multiply the ink layers onto the paper: float32 H×W×3 RGB in 0..1."""
    s = c.style
    page = np.empty((c.height, c.width, 3), np.float32)
    page[:] = s.paper_rgb
    for layer, colour in ((c.lines, s.box_rgb), (c.print, (0.05, 0.05, 0.05)), (c.ink, s.ink_rgb)):
        ys, xs = np.nonzero(layer)
        if ys.size == 0:
            continue
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        region = layer[y0:y1, x0:x1, None]
        page[y0:y1, x0:x1] *= 1.0 - region * (1.0 - np.asarray(colour, np.float32))
    return page


def _skew(page: np.ndarray, fields: list[TruthField], degrees: float,
          paper: tuple[float, float, float]) -> tuple[np.ndarray, list[TruthField]]:
    if degrees == 0.0:
        return page, fields
    h, w = page.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    out = cv2.warpAffine(page, matrix, (w, h), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=paper)
    moved = []
    for f in fields:
        x, y, bw, bh = f.box
        corners = np.array([[x, y, 1], [x + bw, y, 1], [x, y + bh, 1], [x + bw, y + bh, 1]], np.float64)
        pts = corners @ matrix.T
        x0, y0 = np.floor(pts.min(axis=0)).astype(int)
        x1, y1 = np.ceil(pts.max(axis=0)).astype(int)
        centres = tuple(tuple(float(v) for v in matrix @ np.array([cx, cy, 1.0]))
                        for cx, cy in f.digit_centres)
        moved.append(dataclasses.replace(f, box=(int(x0), int(y0), int(x1 - x0), int(y1 - y0)),
                                         digit_centres=centres))
    return out, moved


def make_page(digits: DigitSource, rng: np.random.Generator, kind: str | None = None,
              style: Style | str | None = None, luhn_accounts: bool = False) -> SyntheticPage:
    """One synthetic scan of `kind` (random if None) in `style` (random if None; "hard": a
    random `hard_style`); `luhn_accounts`: a cheque's account number ends in a Luhn check
    digit."""
    kind = kind or str(rng.choice(KINDS, p=(0.4, 0.3, 0.3)))
    if style == "hard":
        style = hard_style(rng)
    style = style if isinstance(style, Style) else random_style(rng)
    width_mm, height_mm, draw = LAYOUTS[kind]
    canvas = Canvas(width_mm, height_mm, style, digits, rng, luhn_accounts=luhn_accounts)
    draw(canvas)
    canvas.add_blots(style.blots)
    canvas.add_specks(style.specks)
    page = compose(canvas)
    page, fields = _skew(page, canvas.fields, style.skew_deg, style.paper_rgb)
    return SyntheticPage(degrade(page, style, rng), fields, kind, style)
