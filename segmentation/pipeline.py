"""The page-level pipeline the worker calls: page → fields → glyphs → recogniser → values.

`read_page` finds the fields, cuts their glyphs, has the recogniser (a callback) read all glyphs
of the page in one batch, splits touching digits in open boxes by recognition, and returns each
field's value with the probability that the whole value is right.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from segmentation import cut, split
from segmentation.boxes import Structure, find_structures, page_skew
from segmentation.prepare import PageError, prepare
from segmentation.split import Classify
from segmentation.templates import Template

Box = tuple[int, int, int, int]
NOT_A_DIGIT = 10
MAX_ALTERNATIVES = 3
# A field with no ink: read as empty. A faint digit lost to speck removal would make this
# wrong, which the evaluation has not seen; kept just under 1 so that it never outranks a
# certain reading.
EMPTY_FIELD_CONFIDENCE = 0.995
# Digits read less surely than this are read again, shifted a pixel each way (_reread_unsure).
# Measured on the eval pages (seeds 20261124 and 99): at 0.9, comb fields 96.45% -> 96.92% and
# 96.06% -> 96.31% right; 0.97 reads the same values and ranks the confidences better (89.2%
# -> 91.8% and 85.9% -> 86.5% of fields acceptable at <=0.5% errors), for ~4 more glyphs a page.
# Also tried, no better: diagonal shifts, ±10% scaling; and, judged on seeds 99 and 5 only,
# 2-pixel shifts, a thicker and a thinner pen, a blurred copy.
REREAD_BELOW = 0.97
REREAD_SHIFTS = ((0, 1), (0, -1), (1, 0), (-1, 0))
MAX_PAGE_PIXELS = 40_000_000  # an A4 page at 600 dpi is 35 Mpx; the service's own limit is a setting
# Ink as tall as a digit (this share of the field's tallest piece, and of the box's inside
# height: a lone dot or dash in an empty box is no digit-sized ink) that the recogniser calls
# no digit is left out of the value, but the field is then right at most this often, whatever
# the recogniser's confidence: on the eval pages of seeds 20261124, 99 and 5, all 10 fields
# that left such a piece out were wrong (two digits run together and read as a blot; a digit
# with a stroke missing; pieces 0.51-0.73 of the inside height), two of them with confidences
# over 0.95. So they go to review.
DIGIT_SIZED = 0.5
DIGIT_OF_BOX = 0.4
UNREAD_INK_CONFIDENCE = 0.1
DARK_PAGE = 0.25  # a page whose paper is darker than this (0..1) is black, or a photo negative
SAME_LINE = 0.5  # fields overlapping vertically by this share of the lower one share a line


@dataclass(frozen=True)
class DigitResult:
    value: str  # "0".."9"
    confidence: float  # calibrated probability that `value` is right
    box: Box  # on the page as given, before any deskewing
    alternatives: tuple[tuple[str, float], ...]  # next most likely readings ("?" = not a digit)
    glyph: np.ndarray = field(repr=False, compare=False)  # the 28×28 input the model read


@dataclass(frozen=True)
class FieldResult:
    name: str
    kind: str  # "comb" or "box"
    box: Box
    cells: tuple[Box, ...]
    value: str
    confidence: float  # probability that the whole value is right
    digits: tuple[DigitResult, ...]


@dataclass(frozen=True)
class PageResult:
    width: int
    height: int
    skew_deg: float
    rotation: int  # 0, or 90 / 270 when the page was found lying on its side and read turned
    fields: tuple[FieldResult, ...]
    warnings: tuple[str, ...] = ()
    seconds: dict[str, float] = field(default_factory=dict, compare=False)


@dataclass
class CutField:
    """A field as segmentation found it: its box structure and the ink pieces to read."""

    structure: Structure
    pieces: list[cut.Piece]
    segmentation_confidence: float = 1.0


def reading_order(boxes: list[Box]) -> list[int]:
    """Indices of `boxes` line by line, top to bottom, each line left to right."""
    order = sorted(range(len(boxes)), key=lambda i: boxes[i][1] + boxes[i][3] / 2)
    lines: list[list[int]] = []
    for i in order:
        x, y, w, h = boxes[i]
        if lines:
            last = boxes[lines[-1][-1]]
            overlap = min(y + h, last[1] + last[3]) - max(y, last[1])
            if overlap >= SAME_LINE * min(h, last[3]):
                lines[-1].append(i)
                continue
        lines.append([i])
    return [i for line in lines for i in sorted(line, key=lambda k: boxes[k][0])]


def distinct(names: list[str]) -> list[str]:
    """The names, each used once: a name met again (two fields in one template region) gets
    `_2`, `_3`, ... in reading order, skipping names already taken."""
    taken = set(names)
    seen: set[str] = set()
    out = []
    for name in names:
        unique, n = name, 1
        while unique in seen or (unique != name and unique in taken):
            n += 1
            unique = f"{name}_{n}"
        seen.add(unique)
        out.append(unique)
    return out


def _glyphs(pieces: list[cut.Piece]) -> np.ndarray:
    if not pieces:
        return np.zeros((0, 28, 28), np.float32)
    return np.stack([p.glyph() for p in pieces])


def _best_digit(probabilities: np.ndarray) -> float:
    return float(probabilities[:10].max())


def _resolve_touching(fields: list[CutField], classify: Classify, probs: dict[int, np.ndarray]) -> None:
    """Split open-box glyphs that may be several digits, keeping the reading the recogniser
    likes best; record how sure that choice is."""
    boxes = [f for f in fields if f.structure.kind == "box"]
    pieces = [p for f in boxes for p in f.pieces]
    if not pieces:
        return
    chosen = iter(split.read_best(pieces, classify, probs))
    for f in boxes:
        parts: list[cut.Piece] = []
        for _ in f.pieces:
            reading, certainty = next(chosen)
            parts.extend(reading)
            f.segmentation_confidence *= certainty
        f.pieces = parts


def _shifted(glyphs: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """The glyphs moved by (dy, dx) pixels, paper coming in at the edge."""
    out = np.zeros_like(glyphs)
    h, w = glyphs.shape[1:]
    out[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = \
        glyphs[:, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)]
    return out


def _reread_unsure(fields: list[CutField], classify: Classify, probs: dict[int, np.ndarray]) -> None:
    """Digits the recogniser is unsure of are read again moved by a pixel each way, and the
    readings averaged (test-time augmentation): centring by centre of mass puts a glyph on a
    whole pixel, and a hesitant reading often hangs on that pixel. Only the final digits are
    reread, and only the unsure ones: a few per page."""
    pieces = [p for f in fields for p in f.pieces if _best_digit(probs[id(p)]) < REREAD_BELOW]
    if not pieces:
        return
    glyphs = _glyphs(pieces)
    views = [_shifted(glyphs, dy, dx) for dy, dx in REREAD_SHIFTS]
    moved = np.asarray(classify(np.concatenate(views)), np.float64).reshape(len(views), len(pieces), -1)
    for i, piece in enumerate(pieces):
        probs[id(piece)] = (probs[id(piece)] + moved[:, i].sum(axis=0)) / (1 + len(views))


def _digit(piece: cut.Piece, probabilities: np.ndarray, structure: Structure,
           glyph: np.ndarray) -> DigitResult:
    order = np.argsort(-probabilities)
    digit = int(np.argmax(probabilities[:10]))
    alternatives = tuple(("?" if k == NOT_A_DIGIT else str(k), float(probabilities[k]))
                         for k in order if k != digit)[:MAX_ALTERNATIVES]
    box = structure.frame.box_to_page(piece.x0, piece.y0, piece.x1, piece.y1)
    return DigitResult(str(digit), float(probabilities[digit]), box, alternatives, glyph)


def _field_result(f: CutField, probs: dict[int, np.ndarray], name: str) -> FieldResult:
    s = f.structure
    digits: list[DigitResult] = []
    confidence = f.segmentation_confidence
    glyphs = _glyphs(f.pieces)
    digit_sized = max(DIGIT_SIZED * max((piece.height for piece in f.pieces), default=0),
                      DIGIT_OF_BOX * s.inside_height)
    unread = False
    for piece, glyph in zip(f.pieces, glyphs):
        p = probs[id(piece)]
        not_digit = float(p[NOT_A_DIGIT]) if p.size > NOT_A_DIGIT else 0.0
        if not_digit > _best_digit(p):
            confidence *= not_digit  # read as a mark that is no digit: left out of the value
            unread |= piece.height >= digit_sized
            continue
        digit = _digit(piece, p, s, glyph)
        digits.append(digit)
        confidence *= digit.confidence
    if unread:
        confidence = min(confidence, UNREAD_INK_CONFIDENCE)
    if not f.pieces:
        confidence = EMPTY_FIELD_CONFIDENCE
    cells = tuple(s.frame.box_to_page(*c) for c in s.cells()) if s.kind == "comb" else ()
    return FieldResult(name, s.kind, s.page_box, cells, "".join(d.value for d in digits),
                       float(confidence), tuple(digits))


def segment_fields(image: np.ndarray) -> tuple[list[CutField], float, list[str], bool]:
    """Fields and their glyph pieces, the page skew, warnings, and whether the page lies on
    its side; nothing is read yet."""
    prepared = prepare(image)
    warnings = []
    if prepared.paper_level < DARK_PAGE * 255:
        warnings.append("the page is almost entirely dark: nothing can be read on it")
        return [], 0.0, warnings, False
    structures = find_structures(prepared)
    stacked = sum(s.vertical_stack for s in structures)
    combs = sum(s.kind == "comb" for s in structures)
    fields = []
    for s in structures:
        pieces = cut.comb_pieces(s) if s.kind == "comb" else cut.box_pieces(s)
        fields.append(CutField(s, pieces))
    return fields, page_skew(structures), warnings, stacked > 0 and stacked >= combs


def _read(image: np.ndarray, classify: Classify | None, template: Template | None,
          timings: dict[str, float]) -> tuple[PageResult, bool]:
    started = time.perf_counter()
    fields, skew, warnings, on_side = segment_fields(image)
    timings["segment"] = time.perf_counter() - started
    started = time.perf_counter()
    probs: dict[int, np.ndarray] = {}
    pieces = [p for f in fields for p in f.pieces]
    if classify is not None and pieces:
        for piece, row in zip(pieces, classify(_glyphs(pieces))):
            probs[id(piece)] = np.asarray(row, np.float64)
        _resolve_touching(fields, classify, probs)
        _reread_unsure(fields, classify, probs)
    else:
        for f in fields:
            if f.structure.kind == "box":
                f.pieces = [q for p in f.pieces for q in split.split_without_recogniser(p)]
        for p in (p for f in fields for p in f.pieces):
            probs[id(p)] = np.full(11, 1 / 11)  # no recogniser: every reading equally likely
    timings["recognise"] = time.perf_counter() - started
    height, width = image.shape[:2]
    boxes = [f.structure.page_box for f in fields]
    order = reading_order(boxes)
    names = distinct([(template.name_for(boxes[index], width, height) if template else None)
                      or f"field_{rank}" for rank, index in enumerate(order, start=1)])
    results = [_field_result(fields[index], probs, name) for index, name in zip(order, names)]
    page = PageResult(width, height, round(skew, 2), 0, tuple(results), tuple(warnings), timings)
    return page, on_side


def read_page(image: np.ndarray, classify: Classify | None = None,
              template: Template | None = None, max_pixels: int = MAX_PAGE_PIXELS) -> PageResult:
    """Read every digit field on one page (NumPy array: grey, RGB(A), 1-, 8- or 16-bit).

    Without `classify` the fields and glyphs are found but not read (values are meaningless
    and confidences uniform): for inspecting segmentation alone.
    """
    image = np.asarray(image)
    if image.ndim < 2 or min(image.shape[:2]) < 1:
        raise PageError(f"a page must be a 2-D image, got shape {image.shape}")
    pixels = image.shape[0] * image.shape[1]
    if pixels > max_pixels:
        raise PageError(f"the page is {image.shape[1]}×{image.shape[0]} = {pixels / 1e6:.1f} Mpx, "
                        f"over the limit of {max_pixels / 1e6:.1f} Mpx")
    timings: dict[str, float] = {}
    page, on_side = _read(image, classify, template, timings)
    if not on_side:
        return page
    # The boxes stand on end: the page lies on its side. Read it turned both ways and keep
    # the turn the recogniser reads with more confidence.
    turned = []
    for k, rotation in ((1, 90), (-1, 270)):
        result, _ = _read(np.ascontiguousarray(np.rot90(image, k)), classify, template, {})
        turned.append((_page_score(result), rotation, result))
    _, rotation, best = max(turned, key=lambda t: t[0])
    if not best.fields:
        return page
    height, width = image.shape[:2]
    fields = tuple(_unturn_field(f, rotation, width, height) for f in best.fields)
    warning = f"the page lies on its side: read after turning it by {rotation}°"
    return PageResult(width, height, best.skew_deg, rotation, fields,
                      (*best.warnings, warning), timings)


def _page_score(page: PageResult) -> float:
    return sum(math.log(max(f.confidence, 1e-9)) for f in page.fields) / max(1, len(page.fields)) \
        if page.fields else -math.inf


def _unturn(box: Box, rotation: int, width: int, height: int) -> Box:
    """A box on the turned page back on the page as given (`np.rot90` by +1 or -1)."""
    x, y, w, h = box
    if rotation == 90:  # turned counter-clockwise: turned (x, y) was (W-1-y, x)
        return (width - y - h, x, h, w)
    return (y, height - x - w, h, w)


def _unturn_field(f: FieldResult, rotation: int, width: int, height: int) -> FieldResult:
    def back(b: Box) -> Box:
        return _unturn(b, rotation, width, height)

    digits = tuple(DigitResult(d.value, d.confidence, back(d.box), d.alternatives, d.glyph)
                   for d in f.digits)
    return FieldResult(f.name, f.kind, back(f.box), tuple(back(c) for c in f.cells), f.value,
                       f.confidence, digits)
