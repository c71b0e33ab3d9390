"""The page-level pipeline the worker calls: page → fields → glyphs → readers → values.

`read_page` finds the fields of a page (and reads a template's undrawn regions as fields),
names them in reading order, and has them read (`fieldread`: the glyph classifier, a
callback, on all glyphs of the page in one batch; line readers on open boxes), each with the
probability that its whole value is right; a page found lying on its side is read turned.
`read_field` reads an image that is one whole field.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np

from reading.combine import UNCALIBRATED, Calibrations, LineReader, LineReaders
from segmentation import cut, fieldread
from segmentation.boxes import find_structures
from segmentation.cutfield import CutField
from segmentation.fieldread import EMPTY_FIELD_CONFIDENCE, UNREAD_INK_CONFIDENCE
from segmentation.prepare import PageError, prepare
from segmentation.results import Box, DigitResult, FieldResult, PageResult
from segmentation.split import Classify
from segmentation.structure import page_skew
from segmentation.templates import Template

__all__ = ["DigitResult", "FieldResult", "PageResult", "EMPTY_FIELD_CONFIDENCE", "UNREAD_INK_CONFIDENCE",
           "read_page", "read_field", "segment_fields"]
MAX_PAGE_PIXELS = 40_000_000  # an A4 page at 600 dpi is 35 Mpx; the service's own limit is a setting
DARK_PAGE = 0.25  # a page whose paper is darker than this (0..1) is black, or a photo negative
SAME_LINE = 0.5  # fields overlapping vertically by this share of the lower one share a line


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
          timings: dict[str, float], lines: Sequence[LineReader] | LineReaders = (),
          calibration: Calibrations = UNCALIBRATED) -> tuple[PageResult, bool]:
    started = time.perf_counter()
    fields, skew, warnings, on_side = segment_fields(image)
    height, width = image.shape[:2]
    undrawn = template.undrawn_boxes(width, height) if template else []
    if undrawn:  # a region read whole replaces whatever boxes were found in it
        fields = [f for f in fields if not any(_centre_in(f.page_box, box) for box in undrawn)]
        fields += [fieldread.undrawn_field(image, box) for box in undrawn]
    timings["segment"] = time.perf_counter() - started
    boxes = [f.page_box for f in fields]
    order = reading_order(boxes)
    regions = [template.region_for(boxes[index], width, height) if template else None for index in order]
    names = distinct([region.name if region else f"field_{rank}"
                      for rank, region in enumerate(regions, start=1)])
    rules = [region.rule if region else None for region in regions]
    results = fieldread.read_fields([fields[i] for i in order], classify, names, lines, calibration,
                                    timings, rules)
    warnings += [f"{f.name}: struck through (a line drawn across its writing): sent to review"
                 for f in results if f.struck]
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
    cut out by the scanner): one field, named `name`, whose box is the whole image; it is read
    cut to its ink (`fieldread.as_read`), however loosely it was framed."""
    image = _checked(image, max_pixels)
    timings: dict[str, float] = {}
    height, width = image.shape[:2]
    started = time.perf_counter()
    f = fieldread.undrawn_field(image, (0, 0, width, height))
    timings["segment"] = time.perf_counter() - started
    results = fieldread.read_fields([f], classify, [name], lines, calibration, timings)
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
              lines: Sequence[LineReader] | LineReaders = (),
              calibration: Calibrations = UNCALIBRATED) -> PageResult:
    """Read every digit field on one page (NumPy array: grey, RGB(A), 1-, 8- or 16-bit).

    Unsure open boxes and combs, and a template's undrawn regions, are also read whole by the
    `lines` readers (`LineReaders`: those of each kind), and their opinions combined with
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
    for rotation in (90, 270):
        result, _ = _read(turn_page(image, rotation), classify, template, {}, lines,
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


def turn_page(image: np.ndarray, rotation: int) -> np.ndarray:
    """The page turned as `read_page` reads one lying on its side: by 90° (`np.rot90` by +1) or
    270° (by -1); any other rotation leaves it as given."""
    if rotation not in (90, 270):
        return image
    return np.ascontiguousarray(np.rot90(image, 1 if rotation == 90 else -1))


def unturn_box(box: Box, rotation: int, width: int, height: int) -> Box:
    """A box on the page turned by `turn_page` back on the page as given (rotation 0: as is)."""
    if rotation not in (90, 270):
        return box
    x, y, w, h = box
    if rotation == 90:  # turned counter-clockwise: turned (x, y) was (W-1-y, x)
        return (width - y - h, x, h, w)
    return (y, height - x - w, h, w)


def _unturn_field(f: FieldResult, rotation: int, width: int, height: int) -> FieldResult:
    def back(b: Box) -> Box:
        return unturn_box(b, rotation, width, height)

    digits = tuple(DigitResult(d.value, d.confidence, back(d.box), d.alternatives, d.glyph)
                   for d in f.digits)
    return FieldResult(f.name, f.kind, back(f.box), tuple(back(c) for c in f.cells), f.value,
                       f.confidence, digits, f.readings, f.rule_error, f.struck)
