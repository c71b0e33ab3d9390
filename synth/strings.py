"""Synthetic field images of written digit strings: cheque amounts, account numbers, totals.

What the string readers train and are tested on. A field is a whole image with no drawn box
(a cheque's amount as a scanner cuts it, an open box's inside): a number written by one
writer, with what people add to amounts — thousands separators (`25.574`), tails (`.-`,
`=`, `/-`, a long dash) — on plain, tinted or security-printed paper, with printed lines
sometimes crossing it, seen through a scanner at 100-300 dpi.

Randomised on purpose over a wider range than any one kind of paper (domain randomisation):
pens 0.2-1.2 mm, digits touching and overlapping or far apart, slanted, bobbing about the
baseline, from half the field's height to overflowing it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from synth.field_paper import scan_field
from synth.hands import Hand, Mixture, continental
from synth.marks import around

SEPARATORS = ".,-/="  # marks that are not digits; the readers' alphabet holds them too
# Shares of amount formats, set from what cheques show (ORAND's amounts: about a third with
# thousands separators, a quarter with a tail) widened to cover other paper.
P_THOUSANDS = 0.4
P_COMMA_THOUSANDS = 0.25  # of those, written with commas
P_DECIMALS = 0.08  # ",50" cents
P_TAIL = 0.35
TAILS = (".-", "-", "=", "/-", ".", "-.-", ".=", "--", "./", ",-", "/")
# A dash is often a quick flick rather than a level stroke: rising steeply to the right, short,
# as on the ORAND cheques' ".-" tails that were read as a 1 (error study, 2026-12-02). Its
# angle from the horizontal is drawn from FLICK_DEGREES; a short slash (SHORT_SLASH of the
# digit height) is the same habit.
P_FLICK = 0.35
FLICK_DEGREES = (20.0, 70.0)
SHORT_SLASH = (0.25, 0.5)
P_LONG_DASH = 0.1  # a long stroke filling the rest of the field after the number
# Writer habits seen on cheques: digits joined by a connecting stroke, trailing zeros written
# small (a round amount's "000" as little loops).
P_CURSIVE = 0.35
P_SMALL_ZEROS = 0.25
P_WIDE_ZEROS = 0.4  # round or wide zeros, where MNIST's are narrow ovals
P_ELASTIC = 0.6
ELASTIC_STRENGTH = (0.02, 0.09)  # of the digit height: how far strokes are pushed
ELASTIC_SCALE = 0.35  # of the digit height: the size of a bend
# Capture steps crop fields tight, and often cut into the first or last digit (seen on real
# cheque crops: a 2's foot or a 5's flag cut off at the image's edge). Share of training fields
# cut so, and how much of the digit's width goes at most.
P_EDGE_CUT = 0.15
EDGE_CUT = (0.05, 0.3)
# Paper above and below the writing, as a share of the digit height. Capture steps that crop
# to the ink (real cheque amounts: digits fill 70-100% of the crop) leave little; a box's
# inside leaves more.
P_TIGHT = 0.5
TIGHT_MARGINS = (0.0, 0.12)
LOOSE_MARGINS = (0.03, 0.45)
P_OVER = 0.12  # ink running over the top edge
LENGTHS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
LENGTH_WEIGHTS = (0.03, 0.07, 0.12, 0.2, 0.22, 0.16, 0.09, 0.05, 0.03, 0.03)


@dataclass(frozen=True)
class Framing:
    """How much paper a capture step leaves around the writing, as shares of the digit height:
    above and below (tight or loose, P_TIGHT of the fields tight), left, right; and how often
    ink runs over the top edge."""

    p_tight: float = P_TIGHT
    tight: tuple[float, float] = TIGHT_MARGINS
    loose: tuple[float, float] = LOOSE_MARGINS
    left: tuple[float, float] = (0.0, 0.8)
    right: tuple[float, float] = (0.0, 1.2)
    p_over: float = P_OVER


CAPTURED = Framing()  # what the string readers train on
# Framed more loosely than anything trained on: a region cut generously around where people
# write (a cheque's amount area, a form's box cut out with no lines); for `make eval-real`.
LOOSE_FRAMING = Framing(p_tight=0.0, loose=(0.6, 1.0), left=(1.0, 2.0), right=(1.0, 2.0), p_over=0.0)


@dataclass(frozen=True)
class StringField:
    image: np.ndarray  # uint8 grey, ink dark on light paper
    value: str  # the digits, left to right
    text: str  # digits and separators as written (its marks in SEPARATORS)
    digit_boxes: tuple[tuple[int, int, int, int], ...]  # each digit's box, in image pixels


def random_text(rng: np.random.Generator) -> str:
    """An amount or number as people write it, separators included."""
    n = int(rng.choice(LENGTHS, p=LENGTH_WEIGHTS))
    digits = [str(int(rng.integers(1, 10)))] + [str(int(d)) for d in rng.integers(0, 10, n - 1)]
    if rng.random() < 0.35 and n >= 3:  # round amounts: 15000, 2.500
        zeros = int(rng.integers(1, n))
        digits[n - zeros :] = ["0"] * zeros
    text = "".join(digits)
    if n >= 4 and rng.random() < P_THOUSANDS:
        mark = "," if rng.random() < P_COMMA_THOUSANDS else "."
        groups = []
        while len(text) > 3:
            groups.insert(0, text[-3:])
            text = text[:-3]
        text = mark.join([text, *groups])
    if rng.random() < P_DECIMALS:
        text += ("," if rng.random() < 0.6 else ".") + "".join(str(int(d)) for d in rng.integers(0, 10, 2))
    if rng.random() < P_TAIL:
        text += TAILS[int(rng.integers(len(TAILS)))]
    return text


def _mark(char: str, height: float, pen: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """A separator drawn as a pen mark, and where its top sits (share of the digit height
    from the top). Coordinates ×4 for sub-pixel drawing."""
    pen_px = max(1, round(pen))
    if char in ".,":
        size = max(pen * 1.2, height * rng.uniform(0.06, 0.14))
        tall = size * (2.2 if char == "," else 1.0) + (height * 0.08 if char == "," else 0)
        w, h = int(size * (1.6 if char == "," else 1.2)) + pen_px + 2, int(tall) + pen_px + 2
        layer = np.zeros((h, w), np.uint8)
        if char == "." and rng.random() < 0.6:
            cv2.circle(layer, (w // 2, min(h - 1, pen_px // 2 + int(size / 2) + 1)),
                       max(1, round(size / 2)), 255, -1, cv2.LINE_AA)
        else:  # a short stroke down and to the left
            p0 = (round((w - pen_px / 2 - 1) * 4), round((pen_px / 2 + 1) * 4))
            p1 = (round((pen_px / 2 + 1) * 4), round((h - pen_px / 2 - 1) * 4))
            cv2.line(layer, p0, p1, 255, pen_px, cv2.LINE_AA, shift=2)
        top = rng.uniform(0.8, 1.0) - (0.0 if char == "." else 0.05)
        return layer.astype(np.float32) / 255, top
    if char == "-" and rng.random() < P_FLICK:
        return _flick(height, pen_px, rng)
    if char in "-=~":
        length = height * rng.uniform(0.25, 0.6)
        gap = height * rng.uniform(0.15, 0.28)
        rows = 2 if char == "=" else 1
        w = int(length) + pen_px + 2
        h = int(gap * (rows - 1)) + pen_px + 4 + (int(height * 0.15) if char == "~" else 0)
        layer = np.zeros((h, w), np.uint8)
        for r in range(rows):
            y = pen_px / 2 + 1 + r * gap
            tilt = height * rng.uniform(-0.06, 0.03)
            if char == "~":
                xs = np.linspace(pen_px / 2 + 1, w - pen_px / 2 - 1, 12)
                ys = y + height * 0.07 * (1 + np.sin(np.linspace(0, 2 * math.pi, 12)))
                pts = np.round(np.stack([xs, ys], 1) * 4).astype(np.int32).reshape(-1, 1, 2)
                cv2.polylines(layer, [pts], False, 255, pen_px, cv2.LINE_AA, shift=2)
                continue
            p0 = (round((pen_px / 2 + 1) * 4), round((y - tilt / 2 + abs(tilt) / 2) * 4))
            p1 = (round((w - pen_px / 2 - 1) * 4), round((y + tilt / 2 + abs(tilt) / 2) * 4))
            cv2.line(layer, p0, p1, 255, pen_px, cv2.LINE_AA, shift=2)
        top = rng.uniform(0.35, 0.6) if rows == 1 else rng.uniform(0.25, 0.45)
        return layer.astype(np.float32) / 255, top
    if char == "/":
        tall = height * (rng.uniform(*SHORT_SLASH) if rng.random() < 0.5 else rng.uniform(0.5, 1.0))
        w = int(tall * rng.uniform(0.3, 0.6)) + pen_px + 2
        h = int(tall) + pen_px + 2
        layer = np.zeros((h, w), np.uint8)
        cv2.line(layer, (round((w - pen_px / 2 - 1) * 4), round((pen_px / 2 + 1) * 4)),
                 (round((pen_px / 2 + 1) * 4), round((h - pen_px / 2 - 1) * 4)), 255, pen_px,
                 cv2.LINE_AA, shift=2)
        return layer.astype(np.float32) / 255, 1.0 - tall / height
    raise ValueError(f"no mark for {char!r}")


def _flick(height: float, pen_px: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """A dash written as a quick stroke rising to the right at FLICK_DEGREES, and its top."""
    length = height * rng.uniform(0.2, 0.45)
    angle = math.radians(rng.uniform(*FLICK_DEGREES))
    dx, dy = length * math.cos(angle), length * math.sin(angle)
    w, h = int(dx) + pen_px + 3, int(dy) + pen_px + 3
    layer = np.zeros((h, w), np.uint8)
    p0 = (round((pen_px / 2 + 1) * 4), round((h - pen_px / 2 - 1) * 4))
    p1 = (round((w - pen_px / 2 - 1) * 4), round((pen_px / 2 + 1) * 4))
    cv2.line(layer, p0, p1, 255, pen_px, cv2.LINE_AA, shift=2)
    bottom = rng.uniform(0.6, 1.0)  # where it starts: from mid-height to the baseline
    return layer.astype(np.float32) / 255, max(0.0, bottom - dy / height)


@dataclass(frozen=True)
class Writing:
    """How one person writes one number: size, pen, slant, spacing."""

    height: float  # digit height, px
    pen: float  # stroke width, px
    gap: float  # mean space between glyphs, share of the digit height (negative: overlapping)
    gap_spread: float
    bob: float  # how far glyphs wander off the baseline, share of the height
    size_spread: float  # glyph height varies by this share
    drift: float  # the baseline climbs (or falls) by this share of the height per glyph
    join: float = 0.0  # chance that a digit is joined to the next by a stroke (cursive)
    small_zeros: float = 1.0  # trailing zeros written this much smaller (1: as the others)
    zero_width: float = 1.0  # zeros written this much wider than the hand draws them


def random_writing(rng: np.random.Generator, height: float) -> Writing:
    pen_share = float(np.exp(rng.uniform(math.log(0.035), math.log(0.2))))  # 0.2-1.2 mm at 6 mm
    touching = rng.random() < 0.35
    gap = rng.uniform(-0.15, 0.03) if touching else rng.uniform(0.0, 0.35)
    join = float(rng.uniform(0.2, 0.9)) if rng.random() < P_CURSIVE else 0.0
    small = float(rng.uniform(0.55, 0.85)) if rng.random() < P_SMALL_ZEROS else 1.0
    wide = float(rng.uniform(1.0, 1.6)) if rng.random() < P_WIDE_ZEROS else 1.0
    return Writing(height, max(1.0, pen_share * height), float(gap), float(rng.uniform(0.02, 0.12)),
                   float(rng.uniform(0.0, 0.08)), float(rng.uniform(0.0, 0.12)),
                   float(rng.uniform(-0.04, 0.04)), join, small, wide)


def write(text: str, hand: Hand, writing: Writing, rng: np.random.Generator
          ) -> tuple[np.ndarray, list[tuple[int, int, int, int]], int]:
    """The text as one alpha image; each digit's box in it; the baseline row."""
    glyphs = []
    h0 = writing.height
    trailing = len(text) - len(text.rstrip("0" + SEPARATORS))  # the round part: "000.-"
    for k, char in enumerate(text):
        if char.isdigit():
            height = h0 * (1 + rng.uniform(-writing.size_spread, writing.size_spread))
            if char == "0" and k >= len(text) - trailing and k > 0:
                height *= writing.small_zeros
            alpha = hand.draw(int(char), max(6, round(height)), writing.pen, rng)
            alpha = continental(alpha, int(char), writing.pen, rng)
            if char == "0" and writing.zero_width != 1.0:
                wider = max(1, round(alpha.shape[1] * writing.zero_width))
                alpha = cv2.resize(alpha, (wider, alpha.shape[0]), interpolation=cv2.INTER_LINEAR)
            bottom = alpha.shape[0] * (1 + rng.uniform(-writing.bob, writing.bob))
            top_share = 1.0 - bottom / h0
        else:
            alpha, top_share = _mark(char, h0, writing.pen, rng)
        glyphs.append((char, alpha, top_share + writing.drift * k))
    above = max(0.0, -min(t for _, _, t in glyphs)) * h0
    below = max(t * h0 + a.shape[0] for _, a, t in glyphs)
    height = int(math.ceil(above + below)) + 2
    x = 0.0
    placed = []
    for k, (char, alpha, top_share) in enumerate(glyphs):
        if k:
            spread = rng.normal(writing.gap, writing.gap_spread)
            space = spread * h0 if char.isdigit() and glyphs[k - 1][0].isdigit() \
                else abs(spread) * h0 * 0.5 + writing.pen
            x = max(0.0, x + space)
        y = above + top_share * h0
        placed.append((char, alpha, int(round(x)), int(round(y))))
        x += alpha.shape[1]
    width = max(int(math.ceil(x)), max(px + a.shape[1] for _, a, px, _ in placed)) + 2
    canvas = np.zeros((height + 2, width), np.float32)
    boxes = []
    for k, (char, alpha, px, py) in enumerate(placed):
        py = max(0, min(py, canvas.shape[0] - alpha.shape[0]))
        region = canvas[py : py + alpha.shape[0], px : px + alpha.shape[1]]
        np.maximum(region, alpha[: region.shape[0], : region.shape[1]], out=region)
        if char.isdigit():
            boxes.append((px, py, alpha.shape[1], alpha.shape[0]))
        following = placed[k + 1] if k + 1 < len(placed) else None
        if following and char.isdigit() and following[0].isdigit() and rng.random() < writing.join:
            _join(canvas, (alpha, px, py), following[1:], writing.pen, rng)
    baseline = int(round(above + h0))
    return canvas, boxes, baseline


def _join(canvas: np.ndarray, left: tuple[np.ndarray, int, int], right: tuple[np.ndarray, int, int],
          pen: float, rng: np.random.Generator) -> None:
    """A connecting stroke from the lower right of one glyph to the lower left of the next,
    sagging a little (how a hand runs on without lifting the pen)."""
    (a, ax, ay), (b, bx, by) = left, right
    start = _ink_end(a, rightmost=True)
    end = _ink_end(b, rightmost=False)
    if start is None or end is None:
        return
    x0, y0 = ax + start[0], ay + start[1]
    x1, y1 = bx + end[0], by + end[1]
    if x1 - x0 < pen:  # touching or overlapping already
        return
    sag = (y0 + y1) / 2 + (x1 - x0) * rng.uniform(-0.1, 0.25)
    t = np.linspace(0.0, 1.0, 12)[:, None]
    mid = np.array([(x0 + x1) / 2, sag])
    points = (1 - t) ** 2 * np.array([x0, y0]) + 2 * (1 - t) * t * mid + t ** 2 * np.array([x1, y1])
    points[:, 1] = np.minimum(points[:, 1], canvas.shape[0] - 1)
    layer = np.zeros(canvas.shape, np.uint8)
    cv2.polylines(layer, [np.round(points * 4).astype(np.int32).reshape(-1, 1, 2)], False, 255,
                  max(1, round(pen * rng.uniform(0.6, 1.0))), cv2.LINE_AA, shift=2)
    np.maximum(canvas, layer.astype(np.float32) / 255, out=canvas)


def _ink_end(alpha: np.ndarray, rightmost: bool) -> tuple[int, int] | None:
    """The glyph's rightmost (or leftmost) ink in its lower 60%: where a join leaves or arrives."""
    h = alpha.shape[0]
    low = alpha[int(h * 0.4) :] > 0.5
    cols = np.flatnonzero(low.any(axis=0))
    if cols.size == 0:
        return None
    col = int(cols[-1] if rightmost else cols[0])
    rows = np.flatnonzero(low[:, col])
    return col, int(h * 0.4) + int(rows.mean())


def _shear(alpha: np.ndarray, boxes: list, slant: float) -> tuple[np.ndarray, list]:
    """The whole string slanted (a writer's lean): x moves by slant × (height - y)."""
    h, w = alpha.shape
    extra = int(math.ceil(abs(slant) * h))
    matrix = np.float32([[1, -slant, max(0.0, slant) * h], [0, 1, 0]])
    out = cv2.warpAffine(alpha, matrix, (w + extra, h), flags=cv2.INTER_LINEAR)
    moved = [(int(round(x + max(0.0, slant) * h - slant * (y + bh / 2))), y, bw, bh)
             for x, y, bw, bh in boxes]
    return out, moved


def elastic(alpha: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """The writing bent by a smooth random displacement (Simard et al.'s elastic distortion):
    strokes wander as a hand's do, which no stored shape varies by itself."""
    h, w = alpha.shape
    cell = max(4, int(h * ELASTIC_SCALE))
    coarse = (max(2, h // cell + 2), max(2, w // cell + 2))
    dx = cv2.resize(rng.uniform(-1, 1, coarse).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    dy = cv2.resize(rng.uniform(-1, 1, coarse).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(alpha, xs + strength * dx, ys + strength * dy, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)


def field_image(text: str, hand: Hand, rng: np.random.Generator, digit_height: float | None = None,
                framing: Framing = CAPTURED, marks: bool = False) -> StringField:
    """One field image of `text`, written by `hand`, framed and scanned; with `marks`, now and
    then a printed sign or label word or pen-drawn delimiters around it (`synth.marks.around`)."""
    height = digit_height or float(np.exp(rng.uniform(math.log(14), math.log(60))))
    writing = random_writing(rng, height)
    alpha, boxes, baseline = write(text, hand, writing, rng)
    slant = float(rng.uniform(-0.35, 0.35))
    alpha, boxes = _shear(alpha, boxes, slant)
    if rng.random() < P_ELASTIC:
        alpha = elastic(alpha, rng, height * rng.uniform(*ELASTIC_STRENGTH))
    if marks:
        alpha, boxes, baseline = around(alpha, boxes, baseline, height, writing.pen, rng)
    if rng.random() < P_LONG_DASH:  # a long stroke after the number to stop additions
        length = int(height * rng.uniform(1.0, 4.0))
        dash = np.zeros((alpha.shape[0], length), np.float32)
        y = int(baseline - height * rng.uniform(0.1, 0.5))
        cv2.line(dash, (0, y * 4), ((length - 1) * 4, (y + int(rng.integers(-2, 3))) * 4), 1.0,
                 max(1, round(writing.pen)), cv2.LINE_AA, shift=2)
        alpha = np.hstack([alpha, np.zeros((alpha.shape[0], int(height * 0.15)), np.float32), dash])
        text += "-"
    # The field around the writing: margins, and ink running over the edge now and then.
    h_ink, w_ink = alpha.shape
    over = rng.random() < framing.p_over
    margins = framing.tight if rng.random() < framing.p_tight else framing.loose
    top = -int(height * rng.uniform(0.0, 0.15)) if over else int(height * rng.uniform(*margins))
    bottom = int(height * rng.uniform(*margins))
    left = int(height * rng.uniform(*framing.left))
    right = int(height * rng.uniform(*framing.right))
    H, W = max(8, h_ink + top + bottom), max(8, w_ink + left + right)
    ink = np.zeros((H, W), np.float32)
    y0 = max(0, top)
    src = alpha[max(0, -top) :]
    ink[y0 : y0 + src.shape[0], left : left + w_ink] = src[: H - y0]
    boxes = [(x + left, y + top, bw, bh) for x, y, bw, bh in boxes]
    image = scan_field(ink, baseline + top, max(0, top), rng)
    value = "".join(c for c in text if c.isdigit())
    return StringField(image, value, text, tuple(boxes))


def cut_edge(f: StringField, rng: np.random.Generator) -> StringField:
    """The field cropped into its first digit (or its last, when the text ends in one), as a
    tight capture crop is."""
    boxes = list(f.digit_boxes)
    if not boxes:
        return f
    left = not f.text[-1].isdigit() or rng.random() < 0.7
    x, _, w, _ = boxes[0] if left else boxes[-1]
    share = float(rng.uniform(*EDGE_CUT))
    if left:
        cut = max(0, min(int(x + share * w), f.image.shape[1] - 8))
        image = f.image[:, cut:]
        boxes = [(bx - cut, by, bw, bh) for bx, by, bw, bh in boxes]
    else:
        end = max(8, int(x + w - share * w))
        image = f.image[:, :end]
    return StringField(np.ascontiguousarray(image), f.value, f.text, tuple(boxes))


def random_field(hands: Mixture, rng: np.random.Generator, framing: Framing = CAPTURED,
                 marks: bool = False) -> StringField:
    """A random amount written by one hand of the mixture, now and then cut at an edge; with
    `marks` (training), now and then with a printed sign or label or delimiters around it."""
    f = field_image(random_text(rng), hands.pick(rng), rng, framing=framing, marks=marks)
    return cut_edge(f, rng) if rng.random() < P_EDGE_CUT else f
