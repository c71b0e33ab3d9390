"""Finding the drawn boxes of digit fields: comb fields (a row of cells) and open boxes.

Candidates are the large connected groups of marks. Each is turned upright by its own skew
(estimated from its outline), then its lines are found by morphology: an opening with a long
horizontal kernel keeps only horizontal lines, a tall vertical kernel only the walls that run
from the top line to the bottom one. A candidate is a field when it has a top and a bottom line
and walls at both ends; the walls between are the comb's cell dividers. Text, rules and specks
never close into such a rectangle.
"""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np

from segmentation.box_lines import (
    OUTER_END,
    OUTER_START,
    between_walls,
    exact_line,
    exact_walls,
    ink_width,
    line_pieces,
    regularise,
    split_uneven,
    square_corners,
    strokes_across,
)
from segmentation.morphology import open_along_rows
from segmentation.prepare import Prepared
from segmentation.structure import Frame, Structure, iou, upright_frame

POOL = 2  # candidates are found on a 2× max-pooled copy: faster, and it bridges 1-px breaks
MIN_FIELD_PX = 24  # a box a digit is written in is ≥4 mm: 24 px at 150 dpi; less is text or specks
MAX_FILL = 0.9  # a box is lines and some ink, however thick; solid blobs are not boxes
H_KERNEL_SHARE = 0.45  # horizontal lines span the box: longer than any digit stroke inside
V_KERNEL_SHARE = 0.95  # walls run from the top line to the bottom line; digits don't
MIN_INTERIOR_PX = 6  # a rectangle whose inside is thinner than this is a thick line
REGION_MARGIN = 0.1  # a candidate's region reaches this share of its shorter side beyond its
MIN_MARGIN_PX = 3  # ... marks (and at least this): the pooled marks' edge is ±POOL px
UPRIGHT_INK = 64  # of 255: marks turned upright are interpolated; a pixel more than a quarter
#                   covered stays a mark (a 1-px line turned by a few degrees keeps its run)
HEIGHT_KERNEL_SHARE = 0.6  # a second try when the first finds no box: lines at least this
#                            share of the marks' height, for boxes far narrower than the
#                            region they were found in (small boxes joined by a rule or a stroke)
MIN_KERNEL_PX = 8  # line-finding kernels are at least this long: shorter, a digit's stroke passes
SAME_BOX_IOU = 0.8  # two structures overlapping this much are one box found twice
MAX_LINE_SHARE = 0.25  # box lines are thin next to the box (≤0.2 seen at 150 dpi)
NESTED_SHARE = 0.85  # a box with this share of its area inside a larger one is nested in it
MAX_STROKE_SHARE = 0.13  # box lines are ≤0.5 mm on boxes ≥6.5 mm tall (≤0.1 as scanned); bold
#                          have strokes of 0.15 of their height and more
LINE_COVER = 0.8  # a top or bottom line must cover this share of the box width
WALL_VS_LINE = 1.3  # walls are as thick as the top and bottom lines (a stem is thicker)
GAP_PX = 5  # gaps in a line up to this long (noise, a faint scan) are closed before testing
MAX_PAGE_SHARE = 0.45  # a box taller than this share of the page is a frame, not a field
TOLERANCE_PX = 3  # lines are thickened by this before the openings: survives ±0.3° of skew error
LONG_LINE = 0.75  # a box's top and bottom lines cover at least this share of its width
TWO_RUN_COLUMNS = 0.3  # ... so at least half its columns cross both (0.3: digits may bridge some)
EDGE_MIN_COLUMNS = 8  # fewer edge points than this give no trustworthy slope
EDGE_TOLERANCE_PX = 1.5  # on the pooled copy: an edge point further off the line is ink
# A line between two others that this many strokes cross is pen struck through the writing of
# one box, not a line shared by two rows of boxes (where a digit overflows it now and then): a
# number struck through had been read as a box of its upper half ("37627" as an empty field at
# 0.993, "87" as 7 at 1.0). Two, not three: a line through "87" is crossed by the 8 at its waist
# and by the 7's stem. Measured on 24 pages drawn in code with half their fields struck
# through (README, "Writing struck through"); pages of seeds 7 (ours) and 8 (hard) and the
# sample forms of seed 7 read exactly as before, pages on their side (stacked cells) too.
PEN_CROSSINGS = 2
CROSS_REACH = 0.15  # ... strokes running on at least this share of the box's height either side
# A line between two others must also run from wall to wall, as a line shared by two rows of
# boxes is drawn: all but this share of the walls' span. A pen line voiding an empty box
# (LINE_COVER alone lets one spanning 80% of the box by) stops short of a wall: such a box had
# been read as two stacked empty fields. A line between rows whose walls are the same (one box
# cut in two by it) must also not run on past those walls further than the lines above and
# below it do by more than SHARED_LINE_OVERRUN of the row's height: a pen line voiding an empty
# box past both its walls had made two stacked empty fields too. Rows of other widths or cell
# counts are never one box: their shared line may run on past them as it likes.
SHARED_LINE_COVER = 0.97
SHARED_LINE_OVERRUN = 0.1


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of each run of True."""
    if not flags.any():
        return []
    padded = np.concatenate([[False], flags, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]


def _skew_of(points_xy: np.ndarray) -> float:
    """Lean of a box outline in degrees (-45..45], from its minimum-area rectangle."""
    (_, _), (w, h), angle = cv2.minAreaRect(points_xy.astype(np.float32))
    if w < h:
        angle -= 90.0
    return float((angle + 45.0) % 90.0 - 45.0)


def _edge_skew(mask: np.ndarray) -> float | None:
    """Lean in degrees of a box's top and bottom edges, fitted robustly to the first and last
    marked row of every column (ink poking out of the box is rejected as outliers). Both
    edges are fitted at once (rows of the arrays below); the sums are of whole numbers, so
    exact in any order."""
    columns = np.flatnonzero(mask.any(axis=0))
    if columns.size < EDGE_MIN_COLUMNS:
        return None
    if columns.size < mask.shape[1]:
        mask = mask[:, columns]  # (a connected component has ink in every column: no copy)
    first = mask.argmax(axis=0)
    last = mask.shape[0] - 1 - mask[::-1].argmax(axis=0)
    rows = np.stack([first, last]).astype(np.float64)  # (2 edges, columns)
    x = columns.astype(np.float64)
    keep = np.ones(rows.shape, bool)
    slope = np.zeros(2)
    fitting = np.ones(2, bool)  # an edge stops when too few points are left or they all align
    for _ in range(3):
        n = keep.sum(axis=1)
        fitting &= n >= EDGE_MIN_COLUMNS
        if not fitting.any():
            break
        kept_rows = rows * keep
        sum_x, sum_y = keep @ x, kept_rows.sum(axis=1)
        spread = n * (keep @ (x * x)) - sum_x**2
        fitting &= spread > 0
        if not fitting.any():
            break
        new_slope = (n * (kept_rows @ x) - sum_x * sum_y) / np.where(fitting, spread, 1)
        offset = (sum_y - new_slope * sum_x) / np.maximum(n, 1)
        slope = np.where(fitting, new_slope, slope)
        near = np.abs(rows - (new_slope[:, None] * x + offset[:, None])) <= EDGE_TOLERANCE_PX
        near = np.where(fitting[:, None], near, keep)
        if not (near ^ keep).any():
            break  # converged: another round would fit the same points again
        keep = near
    weights = keep.sum(axis=1).astype(np.float64)
    usable = weights >= EDGE_MIN_COLUMNS
    if not usable.any():
        return None
    weights = weights[usable]  # np.average's arithmetic, without its overhead
    lean = (slope[usable] * weights).sum() / weights.sum()
    return float(math.degrees(math.atan(lean)))


def candidates(prepared: Prepared) -> list[tuple[tuple[int, int, int, int], float]]:
    """Page regions (x0, y0, x1, y1) that may hold a box, each with its outline's skew."""
    marks = prepared.marks
    h, w = marks.shape
    pooled = np.ascontiguousarray(cv2.dilate(marks, np.ones((POOL, POOL), np.uint8))[::POOL, ::POOL])
    labels = cv2.connectedComponentsWithAlgorithm(pooled, 8, cv2.CV_32S, cv2.CCL_BBDT)[1]
    found = []
    min_side = MIN_FIELD_PX / POOL
    ids, boxes = component_boxes(pooled, labels)
    big = (boxes[:, 2] >= min_side) & (boxes[:, 3] >= min_side)
    for i, (x, y, bw, bh) in zip(ids[big].tolist(), boxes[big].tolist()):
        component = labels[y : y + bh, x : x + bw] == i
        if np.count_nonzero(component) > MAX_FILL * bw * bh:
            continue
        if bh * POOL > MAX_PAGE_SHARE * h and bw * POOL > MAX_PAGE_SHARE * w:
            continue  # a frame around the page
        margin = max(MIN_MARGIN_PX, int(REGION_MARGIN * min(bw, bh) * POOL))
        region = (max(0, x * POOL - margin), max(0, y * POOL - margin),
                  min(w, (x + bw) * POOL + margin), min(h, (y + bh) * POOL + margin))
        if not _crosses_twice(component):
            continue  # most columns meet one run of ink: a word or a digit, not a box
        skew = _edge_skew(component)
        ys, xs = np.nonzero(component)
        if skew is None:
            skew = _skew_of(np.column_stack([xs, ys]))
        if not _has_two_lines(xs, ys, bw, skew):
            continue  # text, a digit, a blob, a rule: not two lines across it
        found.append((region, skew))
    return found


def component_boxes(marks: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The label and bounding box (rows of x, y, w, h) of every 8-connected component of
    `marks`, in label order: the box of each component's outer contour. OpenCV's component
    statistics give the same boxes, but on a 200-dpi page's pooled marks they cost ~4.9 ms
    with the labelling, and this ~1.7 ms besides the labelling's ~0.6 ms."""
    contours, hierarchy = cv2.findContours(marks, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return np.zeros(0, np.int64), np.zeros((0, 4), np.int64)
    outer = [contours[k] for k in np.flatnonzero(hierarchy[0][:, 3] < 0)]  # not holes' borders
    starts = np.cumsum([0] + [len(c) for c in outer[:-1]])
    points = np.concatenate(outer).reshape(-1, 2).astype(np.int64)
    low = np.minimum.reduceat(points, starts, axis=0)
    high = np.maximum.reduceat(points, starts, axis=0)
    ids = labels[points[starts, 1], points[starts, 0]].astype(np.int64)
    order = np.argsort(ids)
    return ids[order], np.hstack([low, high - low + 1])[order]


def _crosses_twice(mask: np.ndarray) -> bool:
    """Whether enough columns cross two separate runs of marks, as columns through a box cross
    its top and bottom lines (a quick test, well below what _has_two_lines then asks)."""
    starts = mask[1:] & ~mask[:-1]
    runs = cv2.reduce(starts.view(np.uint8), 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel() + mask[0]
    return np.count_nonzero(runs >= 2) >= TWO_RUN_COLUMNS * mask.shape[1]


def _has_two_lines(xs: np.ndarray, ys: np.ndarray, width: int, skew: float) -> bool:
    """Whether two lines along `skew`, apart from each other, run across most of the
    component's width, as a box's top and bottom do; a word, a digit or a blob has at most
    one dense band. (A quick test before the full analysis.)"""
    lean = math.tan(math.radians(skew))
    cols = xs - xs.min()
    rows = np.round(ys - lean * cols).astype(np.int64)
    rows -= rows.min()
    sheared = np.zeros((int(rows.max()) + 1, int(cols.max()) + 1), np.uint8)
    sheared[rows, cols] = 1
    # A line one row off the fitted lean still counts: columns covered within three rows.
    near = cv2.dilate(sheared, np.ones((3, 1), np.uint8))
    lines = _runs(cv2.reduce(near, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel() >= LONG_LINE * width)
    return len(lines) >= 2 and lines[-1][0] - lines[0][1] > 2


def _bands(lines: np.ndarray, axis: int, min_cover: float) -> list[tuple[int, int]]:
    """Runs of rows (axis=1) or columns (axis=0) of a 0/255 image with at least `min_cover`
    marked pixels (OpenCV's reduce: several times faster than np.count_nonzero here)."""
    counts = cv2.reduce(lines, axis, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel() // 255
    return _runs(counts >= min_cover)


def analyse(prepared: Prepared, region: tuple[int, int, int, int], skew: float) -> list[Structure]:
    """The boxes in one candidate region (one per row of a grid), or none."""
    frame = upright_frame(region, skew)
    x0, y0, x1, y1 = region
    local = frame.matrix.copy()  # the same turn applied to the region alone, so that nothing
    local[:, 2] += local[:, :2] @ np.array([x0, y0], np.float64)  # outside leaks into the frame
    upright = cv2.warpAffine(prepared.marks[y0:y1, x0:x1], local, frame.size, flags=cv2.INTER_LINEAR)
    upright = cv2.threshold(upright, UPRIGHT_INK, 255, cv2.THRESH_BINARY)[1]
    darkness = _Lazy(lambda: cv2.warpAffine(1.0 - prepared.normalised(y0, y1, x0, x1), local,
                                            frame.size, flags=cv2.INTER_LINEAR))
    rows = np.flatnonzero(upright.any(axis=1))
    cols = np.flatnonzero(upright.any(axis=0))
    if rows.size == 0:
        return []
    width = cols[-1] - cols[0] + 1
    found: list[Structure] = []
    # Thickened across their length and with short gaps closed, lines survive noise, faint
    # scans and a slightly wrong skew estimate.
    thick = cv2.dilate(upright, np.ones((TOLERANCE_PX, 1), np.uint8))
    thick = cv2.morphologyEx(thick, cv2.MORPH_CLOSE, np.ones((1, GAP_PX), np.uint8))
    for kernel_len in (max(MIN_KERNEL_PX, int(H_KERNEL_SHARE * width)),
                       max(MIN_KERNEL_PX, int(HEIGHT_KERNEL_SHARE * (rows[-1] - rows[0])))):
        horizontal = open_along_rows(thick, kernel_len)
        bands = _bands(horizontal, axis=1, min_cover=kernel_len)
        # Pair each top line with the nearest line below that closes a box; lines in between
        # that close nothing (a row of touching digits, a rule) are passed over.
        i = 0
        while i < len(bands) - 1:
            for j in range(i + 1, len(bands)):
                beside = (bands[i - 1] if i > 0 else None, bands[j + 1] if j + 1 < len(bands) else None)
                structure = _row_between(upright, darkness, horizontal, frame, bands[i], bands[j], skew,
                                         beside)
                if structure is not None:
                    found.append(structure)
                    break
            i = j if structure is not None else i + 1
        if found:
            break
    if len(found) >= 3 and all(len(s.walls) == 2 for s in found):
        found = [dataclasses.replace(s, vertical_stack=True) for s in found]
    return found


class _Lazy:
    """A value computed on first use: most candidates are rejected before they need it."""

    def __init__(self, make: object) -> None:
        self._make, self._value = make, None

    def __call__(self) -> np.ndarray:
        if self._value is None:
            self._value = self._make()  # type: ignore[operator]
        return self._value


Band = tuple[int, int]


def _row_between(upright: np.ndarray, darkness: _Lazy, horizontal: np.ndarray, frame: Frame,
                 top: Band, bottom: Band, skew: float,
                 beside: tuple[Band | None, Band | None] = (None, None)) -> Structure | None:
    """The box from line `top` to line `bottom`, or None; `beside`: the lines above `top` and
    below `bottom` in the region, if any (then `top` or `bottom` lies between two others, and
    may be pen struck through a box's writing rather than a line shared with the next row)."""
    # Bands were found on lines thickened by TOLERANCE_PX - 1: take that off to judge them.
    line = max(top[1] - top[0], bottom[1] - bottom[0]) + 2 - TOLERANCE_PX
    height = bottom[1] - top[0] + 1
    if bottom[0] - top[1] - 1 < max(MIN_INTERIOR_PX, 2 * line) or line > MAX_LINE_SHARE * height:
        return None
    if max(ink_width(darkness(), top), ink_width(darkness(), bottom)) > MAX_STROKE_SHARE * height:
        return None  # strokes this thick for their size: a bold letter, not a drawn box
    walls = _walls(upright, top, bottom)
    if len(walls) < 2:
        return None
    # Walls are lines like the top and bottom ones: a much thicker "wall" is a letter's stem.
    # (The thinner of the two ends is judged: a digit written against a wall widens it.)
    if min(w[1] - w[0] + 2 - TOLERANCE_PX for w in (walls[0], walls[-1])) > WALL_VS_LINE * line + 2:
        return None
    left, right = walls[0][0], walls[-1][1]
    if right - left + 1 < max(MIN_INTERIOR_PX, 2 * line) or line > MAX_LINE_SHARE * (right - left):
        return None
    # The top and bottom lines must run from the first wall to the last.
    for band, other in ((top, beside[0]), (bottom, beside[1])):
        covered = np.count_nonzero(horizontal[band[0] : band[1] + 1, left : right + 1].any(axis=0))
        if covered < LINE_COVER * (right - left + 1):
            return None
        if other is None:
            continue
        others = _walls(upright, *sorted((band, other)))
        if (covered < SHARED_LINE_COVER * (right - left + 1)
                or _voiding_line(horizontal, band, (top if band == bottom else bottom, other), walls,
                                 others, SHARED_LINE_OVERRUN * height)
                or _struck_line(upright, band, walls, others, int(CROSS_REACH * height))):
            return None
    walls = regularise(walls)
    square = square_corners(upright, top, bottom, walls)
    # The bands were found on thickened lines: narrow them to the line itself, so that erasing
    # the lines takes as little as possible of the digits that touch them.
    dark = darkness()
    pieces = line_pieces(walls, bottom[0] - top[1])
    top, bottom = exact_line(dark, top, OUTER_START, pieces), exact_line(dark, bottom, OUTER_END, pieces)
    walls = exact_walls(dark[top[1] + 1 : bottom[0]], walls)
    return Structure(frame, top, bottom, tuple(walls), skew, dark, square=square)


def _walls(upright: np.ndarray, top: Band, bottom: Band) -> list[Band]:
    """The walls of the row from line `top` to line `bottom`: column bands that cross its whole
    inside, from the top line to the bottom line."""
    inside = cv2.dilate(upright[top[1] + 1 : bottom[0]], np.ones((1, TOLERANCE_PX), np.uint8))
    if inside.shape[0] == 0:
        return []
    inside = cv2.morphologyEx(inside, cv2.MORPH_CLOSE, np.ones((GAP_PX, 1), np.uint8))
    tall = max(3, int(V_KERNEL_SHARE * inside.shape[0]))
    vertical = cv2.morphologyEx(inside, cv2.MORPH_OPEN, np.ones((tall, 1), np.uint8))
    return _bands(vertical, axis=0, min_cover=tall)


def _voiding_line(horizontal: np.ndarray, band: Band, neighbours: tuple[Band, Band],
                  walls: list[Band], others: list[Band], reach: float) -> bool:
    """Whether the line `band`, with rows of the same walls on both sides (one box cut in two),
    runs on past those walls further than the lines on either side of it (`neighbours`) by
    more than `reach` px: a pen line voiding the box, not a line the two rows share."""
    same = len(walls) == len(others) and all(
        abs(a[0] - b[0]) <= 2 * TOLERANCE_PX and abs(a[1] - b[1]) <= 2 * TOLERANCE_PX
        for a, b in zip(walls, others))
    if not same:
        return False
    beyond = max(_overrun(horizontal, line, walls + others) for line in neighbours)
    return _overrun(horizontal, band, walls + others) > beyond + reach


def _overrun(horizontal: np.ndarray, band: Band, walls: list[Band]) -> int:
    """How far (px) the line in `band` runs on unbroken past the outermost of `walls`, on the
    side where it runs further."""
    columns = horizontal[band[0] : band[1] + 1].any(axis=0)
    left, right = min(w[0] for w in walls), max(w[1] for w in walls)
    before = np.flatnonzero(~columns[:left])
    after = np.flatnonzero(~columns[right + 1 :])
    start = int(before[-1]) + 1 if before.size else 0
    end = right + int(after[0]) if after.size else columns.size - 1
    return max(left - start, end - right, 0)


def _struck_line(upright: np.ndarray, band: Band, walls: list[Band], other_walls: list[Band],
                 reach: int) -> bool:
    """Whether the horizontal line `band` is crossed by PEN_CROSSINGS strokes or more, the walls
    of the rows on both sides of it left out (a comb's dividers below an open box are walls, not
    strokes)."""
    width = upright.shape[1]
    first, last = np.full(width, band[0]), np.full(width, band[1])
    keep = between_walls(width, walls, other_walls)
    return strokes_across(upright, first, last, keep, reach) >= PEN_CROSSINGS


def _contains(outer: tuple[int, int, int, int], inner: tuple[int, int, int, int]) -> bool:
    """Whether `inner` lies (almost: skew estimates differ a little) inside the larger `outer`."""
    ox, oy, ow, oh = outer
    ix, iy, iw, ih = inner
    w = min(ox + ow, ix + iw) - max(ox, ix)
    h = min(oy + oh, iy + ih) - max(oy, iy)
    return w > 0 and h > 0 and w * h >= NESTED_SHARE * iw * ih and ow * oh > iw * ih


def find_structures(prepared: Prepared) -> list[Structure]:
    """Every field box on the page. Of nested boxes, the inner ones are dropped (loops of
    digits written inside a field), unless the outer box holds several square-cornered boxes:
    then it is a frame around fields, and the frame is dropped."""
    found: list[Structure] = []
    for region, skew in candidates(prepared):
        for structure in analyse(prepared, region, skew):
            found.extend(split_uneven(structure))
    found = _unique(found)
    boxes = [s.page_box for s in found]
    dropped: set[int] = set()
    for i, box in enumerate(boxes):
        inner = [j for j, other in enumerate(boxes) if j != i and _contains(box, other)]
        fields = [j for j in inner if found[j].square]
        if len(fields) >= 2:
            dropped.add(i)
            dropped.update(j for j in inner if not found[j].square)
        else:
            dropped.update(inner)
    return [s for i, s in enumerate(found) if i not in dropped]


def _unique(found: list[Structure]) -> list[Structure]:
    """One structure per box: overlapping candidates can find the same box twice."""
    kept: list[Structure] = []
    for s in sorted(found, key=lambda s: -len(s.walls)):
        if all(iou(s.page_box, k.page_box) < SAME_BOX_IOU for k in kept):
            kept.append(s)
    return kept
