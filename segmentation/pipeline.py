"""The page-level pipeline the worker calls: page → fields → glyphs → recogniser → values.

`read_page` finds the fields, cuts their glyphs, has the recogniser (a callback) read all glyphs
of the page in one batch, splits touching digits in open boxes by recognition, and returns each
field's value with the probability that the whole value is right.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from reading.combine import UNCALIBRATED, Calibrations, LineReader, Opinion
from segmentation import cut, split, vote
from segmentation.boxes import Structure, find_structures, page_skew
from segmentation.fields import MARGIN, field_structure, inside_image
from segmentation.prepare import PageError, prepare
from segmentation.results import Box, DigitResult, FieldResult, PageResult
from segmentation.split import Classify
from segmentation.templates import Template

__all__ = ["DigitResult", "FieldResult", "PageResult", "read_page", "read_field", "segment_fields"]
NOT_A_DIGIT = 10
MAX_ALTERNATIVES = 3
# A field with no ink: read as empty. A faint digit lost to speck removal would make this
# wrong, which the evaluation has not seen; kept just under 1 so that it never outranks a
# certain reading.
EMPTY_FIELD_CONFIDENCE = 0.995
# ... but only when the field holds no more ink than this share of its inside (its lines
# erased, cut.WEAK_INK): on 120 pages of both eval styles, truly empty fields held at most
# 0.06%; three to five lines of small, thin handwriting in a box, 1.8-2.8%, every mark of
# it dropped as a speck (a NIST form's paragraph box had been reported empty at 0.995).
EMPTY_INK_SHARE = 0.005
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
UNREAD_INK_CONFIDENCE = vote.UNREAD_INK_CONFIDENCE
DARK_PAGE = 0.25  # a page whose paper is darker than this (0..1) is black, or a photo negative
SAME_LINE = 0.5  # fields overlapping vertically by this share of the lower one share a line


@dataclass
class CutField:
    """A field as segmentation found it: its box structure and the ink pieces to read; for a
    field with no drawn box (a field image, an undrawn template region), the image itself,
    which line readers read, and the field's box on the page."""

    structure: Structure
    pieces: list[cut.Piece]
    segmentation_confidence: float = 1.0
    image: np.ndarray | None = None
    box: Box | None = None

    @property
    def kind(self) -> str:
        return "field" if self.image is not None else self.structure.kind

    @property
    def page_box(self) -> Box:
        return self.box or self.structure.page_box

    def line_image(self) -> tuple[np.ndarray, vote.Placement]:
        """What line readers read of this field, and where it lies in the structure's frame."""
        if self.image is not None:
            h, w = self.image.shape[:2]
            return self.image, vote.Placement(MARGIN, MARGIN, w, h)
        inside = inside_image(self.structure)
        x0, y0, _, _ = self.structure.outer
        return inside, vote.Placement(max(x0, 0), max(y0, 0), inside.shape[1], inside.shape[0])


def undrawn_field(image: np.ndarray, box: Box) -> CutField:
    """The region `box` of the page (or the whole image) read as a field with no drawn box."""
    x, y, w, h = box
    crop = image[y : y + h, x : x + w]
    s = field_structure(crop, (x, y))
    return CutField(s, cut.box_pieces(s), image=crop, box=box)


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


def _cut_reading(f: CutField, probs: dict[int, np.ndarray]) -> vote.CutReading:
    """The cut-and-classify reading of a field: its digits, and how sure it is of them."""
    s = f.structure
    digits: list[DigitResult] = []
    rows: list[np.ndarray] = []
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
        rows.append(p[:10] / max(float(p[:10].sum()), 1e-12))
        confidence *= digit.confidence
    inked = any(piece.height >= DIGIT_OF_BOX * s.inside_height for piece in f.pieces)
    if not f.pieces:  # nothing to read: sure it is empty, unless ink was left unread
        confidence = EMPTY_FIELD_CONFIDENCE
        unread = inked = cut.ink_share(s) > EMPTY_INK_SHARE
    if unread:
        confidence = min(confidence, UNREAD_INK_CONFIDENCE)
    return vote.CutReading(tuple(digits), np.array(rows).reshape(-1, 10), float(confidence),
                           f.segmentation_confidence, unread, inked)


@dataclass(frozen=True)
class Opinions:
    """Everything read of one field: the cut reading and, when line readers read it whole,
    every reader's opinion (the cut reader's first) and where their image lies."""

    cut: vote.CutReading
    opinions: tuple[Opinion, ...] = ()
    place: vote.Placement | None = None


def field_opinions(fields: list[CutField], classify: Classify | None, lines: Sequence[LineReader],
                   timings: dict[str, float] | None = None) -> list[Opinions]:
    """Every field read: glyphs by the classifier (in one batch), open boxes and undrawn fields
    also whole by the line readers (each reader in one batch)."""
    timings = {} if timings is None else timings
    started = time.perf_counter()
    probs = _recognise(fields, classify)
    cuts = [_cut_reading(f, probs) for f in fields]
    timings["recognise"] = time.perf_counter() - started
    out = [Opinions(c) for c in cuts]
    whole = [i for i, f in enumerate(fields) if f.kind != "comb"] if lines else []
    if whole:
        started = time.perf_counter()
        seen = [fields[i].line_image() for i in whole]
        said = vote.line_opinions(lines, [image for image, _ in seen])
        for i, (_, place), opinion in zip(whole, seen, said):
            out[i] = Opinions(cuts[i], (vote.cut_opinion(cuts[i]), *opinion), place)
        timings["read_lines"] = time.perf_counter() - started
    return out


def _field_result(f: CutField, read: Opinions, name: str, calibration: Calibrations) -> FieldResult:
    s = f.structure
    reading = read.cut
    value, confidence, digits, readings = reading.value, reading.confidence, reading.digits, ()
    if read.opinions and read.place is not None:
        value, confidence, digits, readings = vote.decide(s, reading, read.opinions, read.place,
                                                          calibration.for_kind(f.kind))
    cells = tuple(s.frame.box_to_page(*c) for c in s.cells()) if s.kind == "comb" else ()
    return FieldResult(name, f.kind, f.page_box, cells, value, float(confidence), digits, readings)


def _results(fields: list[CutField], classify: Classify | None, names: list[str],
             lines: Sequence[LineReader], calibration: Calibrations,
             timings: dict[str, float]) -> list[FieldResult]:
    """The fields read and decided; `names` in the order of `fields`."""
    read = field_opinions(fields, classify, lines, timings)
    return [_field_result(f, r, name, calibration) for f, r, name in zip(fields, read, names)]


def _recognise(fields: list[CutField], classify: Classify | None) -> dict[int, np.ndarray]:
    """Every glyph of the fields read in one batch, touching digits split, unsure ones reread;
    the probabilities by piece."""
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
    return probs


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
          timings: dict[str, float], lines: Sequence[LineReader] = (),
          calibration: Calibrations = UNCALIBRATED) -> tuple[PageResult, bool]:
    started = time.perf_counter()
    fields, skew, warnings, on_side = segment_fields(image)
    height, width = image.shape[:2]
    undrawn = template.undrawn_boxes(width, height) if template else []
    if undrawn:  # a region read whole replaces whatever boxes were found in it
        fields = [f for f in fields if not any(_centre_in(f.page_box, box) for box in undrawn)]
        fields += [undrawn_field(image, box) for box in undrawn]
    timings["segment"] = time.perf_counter() - started
    boxes = [f.page_box for f in fields]
    order = reading_order(boxes)
    names = distinct([(template.name_for(boxes[index], width, height) if template else None)
                      or f"field_{rank}" for rank, index in enumerate(order, start=1)])
    results = _results([fields[i] for i in order], classify, names, lines, calibration, timings)
    page = PageResult(width, height, round(skew, 2), 0, tuple(results), tuple(warnings), timings)
    return page, on_side


def _centre_in(box: Box, region: Box) -> bool:
    x, y, w, h = box
    rx, ry, rw, rh = region
    return rx <= x + w / 2 <= rx + rw and ry <= y + h / 2 <= ry + rh


def read_field(image: np.ndarray, classify: Classify | None = None, lines: Sequence[LineReader] = (),
               calibration: Calibrations = UNCALIBRATED, name: str = "field_1",
               max_pixels: int = MAX_PAGE_PIXELS) -> PageResult:
    """Read an image that is one whole field with nothing drawn around it (a cheque's amount
    cut out by the scanner): one field, named `name`, whose box is the whole image."""
    image = _checked(image, max_pixels)
    timings: dict[str, float] = {}
    height, width = image.shape[:2]
    started = time.perf_counter()
    f = undrawn_field(image, (0, 0, width, height))
    timings["segment"] = time.perf_counter() - started
    results = _results([f], classify, [name], lines, calibration, timings)
    return PageResult(width, height, 0.0, 0, tuple(results), (), timings)


def _checked(image: np.ndarray, max_pixels: int) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim < 2 or min(image.shape[:2]) < 1:
        raise PageError(f"a page must be a 2-D image, got shape {image.shape}")
    pixels = image.shape[0] * image.shape[1]
    if pixels > max_pixels:
        raise PageError(f"the page is {image.shape[1]}×{image.shape[0]} = {pixels / 1e6:.1f} Mpx, "
                        f"over the limit of {max_pixels / 1e6:.1f} Mpx")
    return image


def read_page(image: np.ndarray, classify: Classify | None = None,
              template: Template | None = None, max_pixels: int = MAX_PAGE_PIXELS,
              lines: Sequence[LineReader] = (), calibration: Calibrations = UNCALIBRATED) -> PageResult:
    """Read every digit field on one page (NumPy array: grey, RGB(A), 1-, 8- or 16-bit).

    Open boxes are also read whole by the `lines` readers, and their opinions combined with
    the glyph classifier's (`segmentation.vote`). Without `classify` the fields and glyphs are
    found but not read (values are meaningless and confidences uniform): for inspecting
    segmentation alone.
    """
    image = _checked(image, max_pixels)
    timings: dict[str, float] = {}
    page, on_side = _read(image, classify, template, timings, lines, calibration)
    if not on_side:
        return page
    # The boxes stand on end: the page lies on its side. Read it turned both ways and keep
    # the turn the recogniser reads with more confidence.
    turned = []
    for k, rotation in ((1, 90), (-1, 270)):
        result, _ = _read(np.ascontiguousarray(np.rot90(image, k)), classify, template, {}, lines,
                          calibration)
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
                       f.confidence, digits, f.readings)
