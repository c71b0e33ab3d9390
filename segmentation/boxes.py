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
import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from segmentation import quick
from segmentation.morphology import open_along_rows
from segmentation.prepare import Prepared

POOL = 2  # candidates are found on a 2× max-pooled copy: faster, and it bridges 1-px breaks
MIN_FIELD_PX = 24  # a box a digit is written in is ≥4 mm: 24 px at 150 dpi; less is text or specks
MAX_FILL = 0.9  # a box is lines and some ink, however thick; solid blobs are not boxes
H_KERNEL_SHARE = 0.45  # horizontal lines span the box: longer than any digit stroke inside
V_KERNEL_SHARE = 0.95  # walls run from the top line to the bottom line; digits don't
MIN_INTERIOR_PX = 6  # a rectangle whose inside is thinner than this is a thick line
MAX_LINE_SHARE = 0.25  # box lines are thin next to the box (≤0.2 seen at 150 dpi)
CORNER_PX = 3  # the patch just inside each corner that must be paper...
EXACT_BAND = 0.5  # a line's exact extent: rows at least this share of its darkest row
LINE_QUANTILE = 0.25  # a line's darkness is taken where it is lightest but for a quarter of
#                       its length: a line runs the whole length, a stroke beside it less than 3/4
LINE_PIECE_MARGIN = 2  # columns left out at each end of a cell when judging its top and bottom
OUTER_START, OUTER_END = -1, 1  # a band's outer side: towards its first or its last pixel
NESTED_SHARE = 0.85  # a box with this share of its area inside a larger one is nested in it
CLEAR_CORNERS = 0.7  # ... in at least this share of the cells' corners
MAX_STROKE_SHARE = 0.13  # box lines are ≤0.5 mm on boxes ≥6.5 mm tall (≤0.1 as scanned); bold
#                          have strokes of 0.15 of their height and more
LINE_COVER = 0.8  # a top or bottom line must cover this share of the box width
CELL_TOLERANCE = 0.2  # a divider more than this share of the pitch off a cell edge is a stroke
THIN_DIVIDER = 0.5  # a divider band thinner than this share of the outer walls is a stroke
WALL_VS_LINE = 1.3  # walls are as thick as the top and bottom lines (a stem is thicker)
GAP_PX = 5  # gaps in a line up to this long (noise, a faint scan) are closed before testing
EQUAL_CELLS = 1.5  # widest / narrowest cell of a comb; more uneven is a row of separate boxes
MAX_PAGE_SHARE = 0.45  # a box taller than this share of the page is a frame, not a field
TOLERANCE_PX = 3  # lines are thickened by this before the openings: survives ±0.3° of skew error
LONG_LINE = 0.75  # a box's top and bottom lines cover at least this share of its width
TWO_RUN_COLUMNS = 0.3  # ... so at least half its columns cross both (0.3: digits may bridge some)
MAX_SKEW_DEG = 15.0  # boxes leaning more than this are not trusted for the page skew
EDGE_MIN_COLUMNS = 8  # fewer edge points than this give no trustworthy slope
EDGE_TOLERANCE_PX = 1.5  # on the pooled copy: an edge point further off the line is ink


@dataclass(frozen=True)
class Frame:
    """A region of the page turned upright: page → frame is `matrix` (2×3, page coordinates)."""

    matrix: np.ndarray
    size: tuple[int, int]  # width, height

    def to_page(self, points: np.ndarray) -> np.ndarray:
        inverse = cv2.invertAffineTransform(self.matrix)
        pts = np.asarray(points, np.float64).reshape(-1, 2)
        return pts @ inverse[:, :2].T + inverse[:, 2]

    def box_to_page(self, x0: float, y0: float, x1: float, y1: float) -> tuple[int, int, int, int]:
        """Axis-aligned page box around a frame rectangle (what a person sees on the scan)."""
        pts = self.to_page(np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]]))
        px0, py0 = np.floor(pts.min(axis=0)).astype(int)
        px1, py1 = np.ceil(pts.max(axis=0)).astype(int)
        return int(px0), int(py0), int(px1 - px0), int(py1 - py0)

    def warp(self, image: np.ndarray, interpolation: int = cv2.INTER_LINEAR,
             border: float = 0) -> np.ndarray:
        return cv2.warpAffine(image, self.matrix, self.size, flags=interpolation,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=border)


@dataclass(frozen=True)
class Structure:
    """One field's box in its upright frame: line bands as (first, last) pixel, inclusive, and
    the frame's darkness (0 = paper, 1 = black) for cutting the glyphs."""

    frame: Frame
    top: tuple[int, int]
    bottom: tuple[int, int]
    walls: tuple[tuple[int, int], ...]  # left edge, dividers..., right edge (column bands)
    skew_deg: float
    darkness: np.ndarray = dataclasses.field(repr=False, compare=False, default=None)  # type: ignore[assignment]
    vertical_stack: bool = False  # one of several cells stacked vertically: a page on its side
    square: bool = True  # sharp inside corners, as drawn boxes have (a digit's loop has not)

    @property
    def kind(self) -> str:
        return "comb" if len(self.walls) > 2 else "box"

    @property
    def outer(self) -> tuple[int, int, int, int]:
        """x0, y0, x1, y1 of the outer edges, in the frame (exclusive end)."""
        return self.walls[0][0], self.top[0], self.walls[-1][1] + 1, self.bottom[1] + 1

    @functools.cached_property
    def page_box(self) -> tuple[int, int, int, int]:
        """The box on the page as given (computed once: duplicate and nesting checks ask often)."""
        return self.frame.box_to_page(*self.outer)

    @property
    def inside_height(self) -> int:
        """Rows between the top line and the bottom one."""
        return self.bottom[0] - self.top[1] - 1

    def cells(self) -> list[tuple[int, int, int, int]]:
        """Cell interiors x0, y0, x1, y1 in the frame (exclusive end)."""
        return [(a[1] + 1, self.top[1] + 1, b[0], self.bottom[0])
                for a, b in zip(self.walls, self.walls[1:])]


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


def upright_frame(region: tuple[int, int, int, int], skew_deg: float) -> Frame:
    """Frame turning the page region (x0, y0, x1, y1) by -skew about its centre, with room."""
    x0, y0, x1, y1 = region
    w, h = x1 - x0, y1 - y0
    rad = math.radians(abs(skew_deg))
    out_w = int(math.ceil(w * math.cos(rad) + h * math.sin(rad))) + 2
    out_h = int(math.ceil(h * math.cos(rad) + w * math.sin(rad))) + 2
    centre = (x0 + w / 2.0, y0 + h / 2.0)
    matrix = cv2.getRotationMatrix2D(centre, skew_deg, 1.0)
    matrix[0, 2] += out_w / 2.0 - centre[0]
    matrix[1, 2] += out_h / 2.0 - centre[1]
    return Frame(matrix, (out_w, out_h))


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
        margin = max(3, int(0.1 * min(bw, bh) * POOL))
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
    upright = cv2.threshold(upright, 64, 255, cv2.THRESH_BINARY)[1]
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
    for kernel_len in (max(8, int(H_KERNEL_SHARE * width)), max(8, int(0.6 * (rows[-1] - rows[0])))):
        horizontal = open_along_rows(thick, kernel_len)
        bands = _bands(horizontal, axis=1, min_cover=kernel_len)
        # Pair each top line with the nearest line below that closes a box; lines in between
        # that close nothing (a row of touching digits, a rule) are passed over.
        i = 0
        while i < len(bands) - 1:
            for j in range(i + 1, len(bands)):
                structure = _row_between(upright, darkness, horizontal, frame, bands[i], bands[j], skew)
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


def _row_between(upright: np.ndarray, darkness: _Lazy, horizontal: np.ndarray, frame: Frame,
                 top: tuple[int, int], bottom: tuple[int, int], skew: float) -> Structure | None:
    # Bands were found on lines thickened by TOLERANCE_PX - 1: take that off to judge them.
    line = max(top[1] - top[0], bottom[1] - bottom[0]) + 2 - TOLERANCE_PX
    height = bottom[1] - top[0] + 1
    if bottom[0] - top[1] - 1 < max(MIN_INTERIOR_PX, 2 * line) or line > MAX_LINE_SHARE * height:
        return None
    if max(_ink_width(darkness(), top), _ink_width(darkness(), bottom)) > MAX_STROKE_SHARE * height:
        return None  # strokes this thick for their size: a bold letter, not a drawn box
    # Walls cross the whole inside of the box, from the top line to the bottom line.
    inside = cv2.dilate(upright[top[1] + 1 : bottom[0]], np.ones((1, TOLERANCE_PX), np.uint8))
    inside = cv2.morphologyEx(inside, cv2.MORPH_CLOSE, np.ones((GAP_PX, 1), np.uint8))
    tall = max(3, int(V_KERNEL_SHARE * inside.shape[0]))
    vertical = cv2.morphologyEx(inside, cv2.MORPH_OPEN, np.ones((tall, 1), np.uint8))
    walls = _bands(vertical, axis=0, min_cover=tall)
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
    for band in (top, bottom):
        covered = np.count_nonzero(horizontal[band[0] : band[1] + 1, left : right + 1].any(axis=0))
        if covered < LINE_COVER * (right - left + 1):
            return None
    walls = regularise(walls)
    square = _square_corners(upright, top, bottom, walls)
    # The bands were found on thickened lines: narrow them to the line itself, so that erasing
    # the lines takes as little as possible of the digits that touch them.
    dark = darkness()
    pieces = _line_pieces(walls, bottom[0] - top[1])
    top, bottom = _exact_line(dark, top, OUTER_START, pieces), _exact_line(dark, bottom, OUTER_END, pieces)
    walls = _exact_walls(dark[top[1] + 1 : bottom[0]], walls)
    return Structure(frame, top, bottom, tuple(walls), skew, dark, square=square)


def _exact_band(profile: np.ndarray, band: tuple[int, int], side: int, lo: int) -> tuple[int, int]:
    """The columns of a wall where the line really is, from `profile` (its darkness over
    columns lo, lo+1, ...: the band found on the thickened image and a pixel either side): at
    least half as dark as the darkest. A stroke running beside the wall can widen the band
    found; when paper separates the two, the wall is the run on the box's outer side (`side`
    -1: the first, 1: the last; 0, a divider: the run nearest the band's middle)."""
    # A dozen values: found in plain Python, not by _runs, whose NumPy calls cost ~1 ms a page here.
    values = profile.tolist()
    peak = max(values, default=0.0)
    if peak <= 0:
        return band
    runs, start = [], None
    for i, value in enumerate(values + [-1.0]):
        if value >= EXACT_BAND * peak:
            start = i if start is None else start
        elif start is not None:
            runs.append((start, i - 1))
            start = None
    if side:
        first, last = runs[0] if side < 0 else runs[-1]
    else:
        middle = (band[0] + band[1]) / 2 - lo
        first, last = min(runs, key=lambda r: abs((r[0] + r[1]) / 2 - middle))
    return lo + first, lo + last


def _line_pieces(walls: list[tuple[int, int]], inside_height: int) -> np.ndarray:
    """Columns of equal pieces along the top and bottom lines, (pieces, width): one per cell of
    a comb, or cell-sized ones along an open box, clear of the walls (whose darkness is no
    part of the line's)."""
    interiors = [(a[1] + 1 + LINE_PIECE_MARGIN, b[0] - LINE_PIECE_MARGIN) for a, b in zip(walls, walls[1:])]
    width = max(1, min(min(b - a for a, b in interiors), inside_height))
    starts = []
    for a, b in interiors:
        count = max(1, (b - a) // width)
        room = max(0, b - width - a)  # spread the pieces evenly over the cell
        starts.extend(a + (k * room) // max(1, count - 1) for k in range(count))
    return np.asarray(starts)[:, None] + np.arange(width)


def _exact_line(dark: np.ndarray, band: tuple[int, int], side: int,
                pieces: np.ndarray) -> tuple[int, int]:
    """A top or bottom line's exact rows: at least half as dark as the darkest, looking a
    pixel beyond the band found on the thickened image, and the run on the box's outer side
    (as for walls, _exact_band). Judged piece by piece along the line
    (`pieces`: columns), each by its darkness where it is lightest but for a quarter of the
    piece: a stroke lying along the line (a 5's bar, a 7's top) covers less of its cell, and
    is not erased with it. Pieces, not the whole length: a residual skew of a tenth of a
    degree moves a long line by a pixel from one end to the other. The line is where most
    pieces put it."""
    lo, hi = max(band[0] - 1, 0), min(band[1] + 1, dark.shape[0] - 1)
    if hi < lo or pieces.size == 0 or pieces.max() >= dark.shape[1]:
        return band
    window = dark[lo : hi + 1][:, pieces]  # rows × pieces × width
    lightest = int(LINE_QUANTILE * (pieces.shape[1] - 1))
    profiles = np.partition(window, lightest, axis=2)[:, :, lightest]  # rows × pieces
    if side > 0:  # the run nearest the outside is the last one: look from the other end
        profiles = profiles[::-1]
    peak = profiles.max(axis=0)
    profiles = profiles[:, peak > 0]
    if profiles.size == 0:
        return band
    strong = profiles >= EXACT_BAND * peak[peak > 0]
    first = strong.argmax(axis=0)
    gap = ~strong & (np.arange(len(strong))[:, None] > first)  # paper after the first run
    last = np.where(gap.any(axis=0), gap.argmax(axis=0) - 1, len(strong) - 1)
    if side > 0:
        first, last = len(strong) - 1 - last, len(strong) - 1 - first
    middle = len(first) // 2
    return lo + int(np.sort(first)[middle]), lo + int(np.sort(last)[middle])


def _exact_walls(inside: np.ndarray, walls: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The walls' exact columns, judged by their darkness down the inside of the box where it
    is lightest but for a quarter of the height (not the mean): a wall runs the whole height,
    a stroke lying beside it (a 0's side) does not, and must not be erased with it."""
    if inside.size == 0:
        return walls
    windows = [(max(a - 1, 0), min(b + 1, inside.shape[1] - 1)) for a, b in walls]
    columns = np.concatenate([np.arange(lo, hi + 1) for lo, hi in windows])
    quartile = int(LINE_QUANTILE * (inside.shape[0] - 1))
    profile = np.partition(inside[:, columns], quartile, axis=0)[quartile]  # all walls at once
    exact, offset = [], 0
    for i, (wall, (lo, hi)) in enumerate(zip(walls, windows)):
        side = OUTER_START if i == 0 else OUTER_END if i == len(walls) - 1 else 0
        exact.append(_exact_band(profile[offset : offset + hi + 1 - lo], wall, side, lo))
        offset += hi + 1 - lo
    return exact


def _ink_width(darkness: np.ndarray, band: tuple[int, int]) -> float:
    """True width of a horizontal line in pixels, blur or not: its darkness summed across the
    line, divided by its peak darkness (blur spreads a line but keeps its total darkness)."""
    rows = darkness[max(band[0] - 2, 0) : band[1] + 3]
    peak = rows.max(axis=0)
    strong = peak > 0.1
    if not strong.any():
        return 0.0
    return quick.median(np.maximum(rows[:, strong], 0).sum(axis=0) / peak[strong])


def _square_corners(upright: np.ndarray, top: tuple[int, int], bottom: tuple[int, int],
                    walls: list[tuple[int, int]]) -> bool:
    """A drawn box has sharp inside corners: just inside them is paper, while a digit's loop or
    a rounded letter has ink there. Digits touching the lines cover some corners, so a share
    of them is enough (three of a single box's four)."""
    reach = CORNER_PX
    y_top, y_bottom = top[1] + 1, bottom[0] - reach
    clear = total = 0
    for left, right in zip(walls, walls[1:]):
        for y in (y_top, y_bottom):
            for x in (left[1] + 1, right[0] - reach):
                patch = upright[max(y, 0) : y + reach, max(x, 0) : x + reach]
                total += 1
                clear += patch.size > 0 and np.count_nonzero(patch) <= patch.size // 3
    return clear >= CLEAR_CORNERS * total


def regularise(walls: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Equal cells between the outer walls: choose the number of cells that explains the most
    dividers found, drop the dividers that fit no cell edge (a tall digit stroke) and put back
    the ones that were not found (a divider hidden under ink or broken by noise)."""
    left, right = walls[0], walls[-1]
    thickness = min(left[1] - left[0], right[1] - right[0])  # a digit may widen one of them
    # Dividers are drawn like the outer walls; a much thinner band is a pen stroke.
    inner = [w for w in walls[1:-1] if w[1] - w[0] >= THIN_DIVIDER * thickness]
    if not inner:
        return [left, right]
    centres = np.array([(a + b) / 2 for a, b in inner])
    # The outer edges are where the box ends; a band widened by ink touching it is not.
    start, end = left[0] + thickness / 2, right[1] - thickness / 2
    best_cost, cells = None, 1
    for count in range(1, 2 * len(inner) + 3):
        pitch = (end - start) / count
        expected = start + pitch * np.arange(1, count)
        matched, drift = 0, 0.0
        if expected.size:
            distance = np.abs(centres[None, :] - expected[:, None]).min(axis=1)
            hits = distance <= CELL_TOLERANCE * pitch
            matched = int(hits.sum())
            drift = float((distance[hits] / (CELL_TOLERANCE * pitch)).sum())
        # dividers not found + strokes taken for dividers + how far off the found ones sit
        cost = (count - 1 - matched) + (len(inner) - matched) + drift
        if best_cost is None or cost < best_cost:
            best_cost, cells = cost, count
    pitch = (end - start) / cells
    result = [left]
    for i in range(1, cells):
        position = start + pitch * i
        nearest = min(inner, key=lambda w: abs((w[0] + w[1]) / 2 - position))
        fits = abs((nearest[0] + nearest[1]) / 2 - position) <= CELL_TOLERANCE * pitch
        if fits and nearest[1] - nearest[0] <= 1.5 * thickness:
            result.append(nearest)
        else:  # missing, or widened by ink touching it: the divider where the pitch puts it
            first = int(round(position)) - thickness // 2
            result.append((first, first + thickness))
    result.append(right)
    return result


def split_uneven(structure: Structure) -> list[Structure]:
    """A row of cells of very different widths is a row of separate boxes, not a comb."""
    widths = np.diff([(a + b) / 2 for a, b in structure.walls])
    if len(widths) < 2 or widths.max() <= EQUAL_CELLS * widths.min():
        return [structure]
    return [dataclasses.replace(structure, walls=(a, b))
            for a, b in zip(structure.walls, structure.walls[1:])]


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


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two (x, y, width, height) boxes."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = min(ax + aw, bx + bw) - max(ax, bx)
    h = min(ay + ah, by + bh) - max(ay, by)
    inter = max(0, w) * max(0, h)
    return inter / float(aw * ah + bw * bh - inter)


def _unique(found: list[Structure]) -> list[Structure]:
    """One structure per box: overlapping candidates can find the same box twice."""
    kept: list[Structure] = []
    for s in sorted(found, key=lambda s: -len(s.walls)):
        if all(iou(s.page_box, k.page_box) < 0.8 for k in kept):
            kept.append(s)
    return kept


def page_skew(structures: list[Structure]) -> float:
    """The page's skew: the width-weighted median lean of its boxes (0 when there are none)."""
    usable = [s for s in structures if abs(s.skew_deg) <= MAX_SKEW_DEG]
    if not usable:
        return 0.0
    order = sorted(usable, key=lambda s: s.skew_deg)
    weights = np.cumsum([s.outer[2] - s.outer[0] for s in order], dtype=np.float64)
    return float(order[int(np.searchsorted(weights, weights[-1] / 2))].skew_deg)
