"""Cutting the ink inside a field's box into glyph-sized pieces.

In the box's upright frame: the box lines are erased (except where a stroke crosses them),
ink is kept by hysteresis (weak ink connected to strong ink, so faint edges of real strokes stay
and faint leftovers of light lines go), specks are dropped, and what remains is grouped: by cell
in a comb, by overlapping columns in an open box (a 5's flag, a 7's bar join their digit).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from reading import quick
from segmentation.boxes import component_boxes
from segmentation.glyph import to_mnist
from segmentation.structure import Structure

STRONG_INK = 0.5  # darkness of ink proper: black and blue pens, dark grey box lines
WEAK_INK = 0.22  # faint stroke edges; light and dropout-coloured lines are weak but never strong
SOFT_INK_CORE = 75  # percentile of the darkness under a glyph's mask taken as full ink
LINE_MARGIN = 1  # pixels erased either side of a line band (blurred line edges)
# Pen lying along a top or bottom line (a 2's foot drawn on the bottom line of its cell) is
# kept where it is this much darker than the line itself: on grey and coloured boxes it can
# be told from the line, on black ones it cannot. Chosen before measuring, well above a
# scan's noise (up to ~0.03 of darkness); on hard-style pages of seeds 9 and 11 (60 each,
# test writers; not `make eval`'s) 77 wrong fields became 69 (11 comb fields read right, among
# them 2s that had lost their foot with the line, 3 read wrong); our style of seeds 7 and 9,
# 31 -> 30; 0.2 read one field more right.
INK_OVER_LINE = 0.3
LINE_LEVEL_SHARE = 0.25  # pen may lie along up to three quarters of a line and not hide it
SPECK_SHARE = 0.003  # of the box's inside height squared: smaller ink is a speck (5 px at 150 dpi)
EMPTY_CELL_SHARE = 0.012  # a comb cell with less ink than this share of its area is empty
OVERFLOW_SHARE = 0.25  # a bit against a comb divider smaller than this share of the cell's
#                        main ink is the tip of the neighbour's digit, not part of this one
MERGE_OVERLAP = 0.5  # pieces sharing this share of the narrower one's columns may be one glyph
STACKED_SHARE = 0.5  # ... when they share fewer rows than this share of the shorter one,
SMALL_BESIDE = 0.25  # ... or when one has less than this share of the other's ink
FRAGMENT_SHARE = 0.5  # a piece with less ink than this share of the largest is a broken-off
FRAGMENT_HEIGHT = 0.6  # stroke if also shorter than this share of the tallest glyph,
FRAGMENT_GAP = 0.35  # and closer to a neighbour than this share of the tallest glyph's height
# A mark of its own in an open box, narrower and lower than this share of the tallest glyph's
# height, is a speck (dust, a dot): fitted into 20×20 it would be blown up to a digit's size,
# so only here can its size tell. Digits read right on seeds 99 and 5 were all at least 0.6 of
# the tallest in their box (a short 1); the specks read as digits there, under 0.15.
SPECK_GLYPH = 0.3
ACROSS, DOWN = 0, 1  # stats columns: x and y; their sizes, width and height, two further on


@dataclass
class Piece:
    """Ink that is (part of) one glyph, in the field's upright frame."""

    mask: np.ndarray  # bool, the bounding box's extent
    x0: int
    y0: int
    cell: int | None = None
    ink: np.ndarray | None = None  # float 0..1, same shape: the ink's grey levels (anti-aliased)
    _glyph: np.ndarray | None = field(default=None, repr=False, compare=False)

    def glyph(self) -> np.ndarray:
        """The 28×28 recogniser input: the soft ink when known (MNIST's digits are grey at their
        edges), else the mask. Made once: the page's batch and its results both ask for it."""
        if self._glyph is None:
            self._glyph = to_mnist(self.ink if self.ink is not None else self.mask)
        return self._glyph

    def part(self, mask: np.ndarray, x0: int, y0: int) -> Piece:
        """A piece cut from this one: `mask` is in this piece's coordinates, cropped at (x0, y0)."""
        h, w = mask.shape
        ink = None if self.ink is None else self.ink[y0 : y0 + h, x0 : x0 + w] * mask
        return Piece(mask, self.x0 + x0, self.y0 + y0, self.cell, ink)

    @property
    def x1(self) -> int:
        return self.x0 + self.mask.shape[1]

    @property
    def y1(self) -> int:
        return self.y0 + self.mask.shape[0]

    @property
    def width(self) -> int:
        return self.mask.shape[1]

    @property
    def height(self) -> int:
        return self.mask.shape[0]


def erase_lines(ink: np.ndarray, s: Structure) -> np.ndarray:
    """`ink` without the box's lines, keeping the pixels of strokes that cross the outer ones,
    and of pen lying along the top and bottom lines where it is darker than they are
    (INK_OVER_LINE). Comb dividers are erased through: a stroke running into the next cell is
    cut there, so two digits touching across a divider stay two glyphs."""
    out = ink.copy()
    left, right = s.walls[0][0], s.walls[-1][1]
    top, bottom = s.top[0], s.bottom[1]
    for r0, r1 in (s.top, s.bottom):
        level = _line_level(s.darkness, r0, r1, left, right)
        r0, r1 = max(r0 - LINE_MARGIN, 0), min(r1 + LINE_MARGIN, ink.shape[0] - 1)
        above = ink[max(r0 - 2, 0) : r0].any(axis=0)
        below = ink[r1 + 1 : r1 + 3].any(axis=0)
        keep = above & below  # a stroke crossing the line
        band = out[r0 : r1 + 1, left : right + 1]
        pen = s.darkness[r0 : r1 + 1, left : right + 1] >= level + INK_OVER_LINE
        band[:, ~keep[left : right + 1]] = False
        band |= pen & ink[r0 : r1 + 1, left : right + 1]
    outer = (s.walls[0], s.walls[-1])
    for c0, c1 in s.walls:
        is_outer = (c0, c1) in outer
        c0, c1 = max(c0 - LINE_MARGIN, 0), min(c1 + LINE_MARGIN, ink.shape[1] - 1)
        before = ink[:, max(c0 - 2, 0) : c0].any(axis=1)
        after = ink[:, c1 + 1 : c1 + 3].any(axis=1)
        crossing = before & after & is_outer
        band = out[top : bottom + 1, c0 : c1 + 1]
        band[~crossing[top : bottom + 1], :] = False
    return out


def _line_level(darkness: np.ndarray, r0: int, r1: int, left: int, right: int) -> float:
    """How dark a horizontal box line is where no pen lies on it: its darkest pixel in each
    column, at the LINE_LEVEL_SHARE quantile of its inked columns (1.0 when it has none, as the
    virtual lines of a field with no drawn box)."""
    peaks = darkness[r0 : r1 + 1, left : right + 1].max(axis=0)
    inked = peaks[peaks >= WEAK_INK]
    return quick.percentile(inked, 100 * LINE_LEVEL_SHARE) if inked.size else 1.0


def ink_components(s: Structure) -> tuple[np.ndarray, np.ndarray]:
    """Labels of the ink inside the box (lines erased, hysteresis, specks and outside ink
    dropped) and their stats rows (x, y, w, h, area), label i at row i-1."""
    weak = erase_lines(s.darkness >= WEAK_INK, s)
    strong = weak & (s.darkness >= STRONG_INK)
    marks = weak.view(np.uint8)
    # The labels alone, then the boxes of the components from their outlines and their areas
    # by counting: OpenCV's statistics of every component cost several times the labelling.
    count, labels = cv2.connectedComponentsWithAlgorithm(marks, 8, cv2.CV_32S, cv2.CCL_BBDT)
    has_strong = np.zeros(count, bool)
    has_strong[labels[strong]] = True
    areas = np.bincount(labels.ravel(), minlength=count)
    inside_h = s.inside_height
    wanted = has_strong & (areas >= max(3, SPECK_SHARE * inside_h * inside_h))
    wanted[0] = False
    kept, rows = [], []
    if wanted.any():
        ids, boxes = component_boxes(marks, labels)
        for i, box in zip(ids.tolist(), boxes.tolist()):
            if wanted[i] and _centre_inside(labels, i, box, s):
                kept.append(i)
                rows.append((*box, areas[i]))
    remap = np.zeros(count, np.int32)
    remap[kept] = np.arange(1, len(kept) + 1)
    return remap[labels], np.array(rows, np.int32).reshape(-1, 5)


def _centre_inside(labels: np.ndarray, label: int, box: list[int],
                   s: Structure) -> bool:
    """Whether the component's centre of mass lies inside the box's outer edges (ink of the
    field, not of its neighbourhood). Only components straddling an edge need their centre."""
    x, y, w, h = box
    x0, _, x1, _ = s.outer
    top, bottom = s.top[0], s.bottom[1]
    if x >= x0 and x + w - 1 < x1 and y >= top and y + h - 1 <= bottom:
        return True
    if x + w - 1 < x0 or x >= x1 or y + h - 1 < top or y > bottom:
        return False
    ys, xs = np.nonzero(labels[y : y + h, x : x + w] == label)
    cx, cy = (xs.sum() + x * xs.size) / xs.size, (ys.sum() + y * ys.size) / ys.size
    return bool(x0 <= cx < x1 and top <= cy <= bottom)


def _piece(labels: np.ndarray, ids: list[int], stats: np.ndarray, darkness: np.ndarray,
           cell: int | None = None) -> Piece:
    rows = stats[[i - 1 for i in ids]]
    x0 = int(rows[:, 0].min())
    y0 = int(rows[:, 1].min())
    x1 = int((rows[:, 0] + rows[:, 2]).max())
    y1 = int((rows[:, 1] + rows[:, 3]).max())
    window = labels[y0:y1, x0:x1]
    wanted = np.zeros(int(window.max()) + 1, bool)
    wanted[ids] = True  # every id lies in the window, so none is past its largest label
    mask = wanted[window]
    return Piece(mask, x0, y0, cell, _soft_ink(darkness[y0:y1, x0:x1], mask))


def _soft_ink(darkness: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Grey levels of the ink: darkness scaled so the stroke's core is 1, kept on the mask and
    one pixel around it (the anti-aliased edge), nothing else."""
    core = darkness[mask]
    level = max(quick.percentile(core, SOFT_INK_CORE) if core.size else 1.0, STRONG_INK)
    edge = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    return np.minimum(np.maximum(darkness / level, 0.0), 1.0) * edge


def comb_pieces(s: Structure) -> list[Piece]:
    """One piece per comb cell that holds ink, by where each component's centre falls."""
    labels, stats = ink_components(s)
    centres = [(a + b) / 2 for a, b in s.walls]
    by_cell: dict[int, list[int]] = {}
    for i, (x, _, w, _, _) in enumerate(stats, start=1):
        cx = x + w / 2
        cell = int(np.searchsorted(centres, cx)) - 1
        if 0 <= cell < len(centres) - 1:
            by_cell.setdefault(cell, []).append(i)
    for cell, ids in by_cell.items():  # drop the tips of neighbours' strokes cut at a divider
        largest = max(stats[i - 1, cv2.CC_STAT_AREA] for i in ids)
        edges = (s.walls[cell][1] + LINE_MARGIN + 1, s.walls[cell + 1][0] - LINE_MARGIN - 1)
        by_cell[cell] = [i for i in ids if not (
            stats[i - 1, cv2.CC_STAT_AREA] < OVERFLOW_SHARE * largest
            and (stats[i - 1, 0] <= edges[0] or stats[i - 1, 0] + stats[i - 1, 2] - 1 >= edges[1]))]
    pieces = []
    inside_h = s.inside_height
    for cell, ids in sorted(by_cell.items()):
        ink = stats[[i - 1 for i in ids], cv2.CC_STAT_AREA].sum()
        cell_w = centres[cell + 1] - centres[cell]
        if ink >= EMPTY_CELL_SHARE * cell_w * inside_h:
            pieces.append(_piece(labels, ids, stats, s.darkness, cell))
    return pieces


def box_pieces(s: Structure) -> list[Piece]:
    """Glyph candidates in an open box, left to right. Components sharing columns are joined
    when one sits above the other (a 5's flag over its body) or one is a small stroke beside a
    big one; two whole digits that merely lean over each other stay apart. Small broken-off
    strokes then join their nearest neighbour."""
    labels, stats = ink_components(s)
    if len(stats) == 0:
        return []
    groups: list[list[int]] = []
    spans: list[list[int]] = []  # x0, x1 of each group
    for i in np.argsort(stats[:, 0]) + 1:
        x, w = int(stats[i - 1, 0]), int(stats[i - 1, 2])
        if groups and _belong_together(groups[-1], int(i), stats):
            gx0, gx1 = spans[-1]
            groups[-1].append(int(i))
            spans[-1] = [min(gx0, x), max(gx1, x + w)]
            continue
        groups.append([int(i)])
        spans.append([x, x + w])
    groups = _drop_specks(_absorb_fragments(groups, spans, stats), stats)
    return [_piece(labels, ids, stats, s.darkness) for ids in groups]


def _belong_together(group: list[int], i: int, stats: np.ndarray) -> bool:
    rows = stats[[k - 1 for k in group]]
    gx0, gy0 = rows[:, 0].min(), rows[:, 1].min()
    gx1, gy1 = (rows[:, 0] + rows[:, 2]).max(), (rows[:, 1] + rows[:, 3]).max()
    x, y, w, h, area = stats[i - 1]
    columns = min(gx1, x + w) - max(gx0, x)
    if columns < MERGE_OVERLAP * min(w, gx1 - gx0):
        return False
    rows_shared = min(gy1, y + h) - max(gy0, y)
    stacked = rows_shared <= STACKED_SHARE * min(h, gy1 - gy0)
    group_area = int(rows[:, 4].sum())
    small = min(area, group_area) < SMALL_BESIDE * max(area, group_area)
    return bool(stacked or small)


def _absorb_fragments(groups: list[list[int]], spans: list[list[int]],
                      stats: np.ndarray) -> list[list[int]]:
    """Join groups with very little ink to their nearest neighbour (a 5's detached flag)."""
    areas = [int(stats[[i - 1 for i in g], cv2.CC_STAT_AREA].sum()) for g in groups]
    heights = [_height(g, stats) for g in groups]
    largest, tallest = max(areas), max(heights)
    changed = True
    while changed and len(groups) > 1:
        changed = False
        for k, area in enumerate(areas):
            # A thin 1 has little ink but is tall: only short, small pieces are fragments.
            if area >= FRAGMENT_SHARE * largest or heights[k] >= FRAGMENT_HEIGHT * tallest:
                continue
            gaps = []
            for j in (k - 1, k + 1):
                if 0 <= j < len(groups):
                    gaps.append((max(spans[j][0] - spans[k][1], spans[k][0] - spans[j][1]), j))
            gap, j = min(gaps)
            if gap > FRAGMENT_GAP * tallest:
                continue  # far from any glyph: a mark of its own (the recogniser will judge it)
            groups[j] = groups[j] + groups[k]
            spans[j] = [min(spans[j][0], spans[k][0]), max(spans[j][1], spans[k][1])]
            areas[j] += area
            heights[j] = _height(groups[j], stats)
            del groups[k], spans[k], areas[k], heights[k]
            changed = True
            break
    return groups


def _drop_specks(groups: list[list[int]], stats: np.ndarray) -> list[list[int]]:
    """The groups but those far smaller, both ways, than the tallest (SPECK_GLYPH)."""
    tallest = max(_height(g, stats) for g in groups)
    return [g for g in groups
            if max(_height(g, stats), _extent(g, stats, ACROSS)) >= SPECK_GLYPH * tallest]


def _extent(ids: list[int], stats: np.ndarray, axis: int) -> int:
    """Width (ACROSS) or height (DOWN) of the group of components `ids`."""
    rows = stats[[i - 1 for i in ids]]
    return int((rows[:, axis] + rows[:, axis + 2]).max() - rows[:, axis].min())


def _height(ids: list[int], stats: np.ndarray) -> int:
    return _extent(ids, stats, DOWN)


def ink_share(s: Structure, level: float = WEAK_INK) -> float:
    """Share of the box's inside covered by ink (darker than `level`), its lines erased:
    whether a field in which no glyph was found is really empty (many small marks are each a
    speck, but together they are writing)."""
    strong = erase_lines(s.darkness >= level, s)
    x0, x1 = s.walls[0][1] + 1 + LINE_MARGIN, s.walls[-1][0] - LINE_MARGIN
    y0, y1 = s.top[1] + 1 + LINE_MARGIN, s.bottom[0] - LINE_MARGIN
    inside = strong[max(y0, 0) : y1, max(x0, 0) : x1]
    return float(inside.mean()) if inside.size else 0.0
