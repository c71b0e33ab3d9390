"""A found box measured exactly: its lines and walls narrowed to the drawn line itself (so that
erasing them takes as little of the digits as possible), its inside corners judged, and a
comb's cells made regular."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import cv2
import numpy as np

from reading import quick
from segmentation.structure import Structure

CORNER_PX = 3  # the patch just inside each corner that must be paper...
CLEAR_CORNERS = 0.7  # ... in at least this share of the cells' corners
EXACT_BAND = 0.5  # a line's exact extent: rows at least this share of its darkest row
LINE_QUANTILE = 0.25  # a line's darkness is taken where it is lightest but for a quarter of
#                       its length: a line runs the whole length, a stroke beside it less than 3/4
LINE_PIECE_MARGIN = 2  # columns left out at each end of a cell when judging its top and bottom
OUTER_START, OUTER_END = -1, 1  # a band's outer side: towards its first or its last pixel
CELL_TOLERANCE = 0.2  # a divider more than this share of the pitch off a cell edge is a stroke
THIN_DIVIDER = 0.5  # a divider band thinner than this share of the outer walls is a stroke
EQUAL_CELLS = 1.5  # widest / narrowest cell of a comb; more uneven is a row of separate boxes
LINE_PEAK = 0.1  # columns of a line whose darkest pixel is fainter than this (paper 0, ink 1)
#                  have no line to measure: a gap in it, or noise
WIDE_DIVIDER = 1.5  # a divider band wider than this many outer walls has ink touching it: the
#                     divider is put where the pitch says instead
CROSS_MARGIN = 2  # columns left out either side of a wall when counting strokes across a line


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


def line_pieces(walls: list[tuple[int, int]], inside_height: int) -> np.ndarray:
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


def exact_line(dark: np.ndarray, band: tuple[int, int], side: int,
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


def exact_walls(inside: np.ndarray, walls: list[tuple[int, int]]) -> list[tuple[int, int]]:
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


def ink_width(darkness: np.ndarray, band: tuple[int, int]) -> float:
    """True width of a horizontal line in pixels, blur or not: its darkness summed across the
    line, divided by its peak darkness (blur spreads a line but keeps its total darkness)."""
    rows = darkness[max(band[0] - 2, 0) : band[1] + 3]
    peak = rows.max(axis=0)
    strong = peak > LINE_PEAK
    if not strong.any():
        return 0.0
    return quick.median(np.maximum(rows[:, strong], 0).sum(axis=0) / peak[strong])


def strokes_across(marks: np.ndarray, first: np.ndarray, last: np.ndarray, columns: np.ndarray,
                   reach: int) -> int:
    """How many strokes cross a line whose rows in each column run from `first` to `last`
    (arrays over the columns of `marks`), counted in `columns` only: the fewer of the strokes
    that leave it upwards and those that leave it downwards, each running on at least `reach`
    rows (the line's own thickness and wobble reach less far). A line drawn between two rows of
    boxes is crossed by a digit overflowing it now and then; a pen line struck through writing
    by most digits it runs through; a digit's foot or bar, or an underline, by none."""
    height, width = marks.shape
    steps = np.arange(reach)[:, None]
    cols = np.arange(width)[None, :]
    counts = []
    for rows, near in ((first[None, :] - reach + steps, reach - 1), (last[None, :] + 1 + steps, 0)):
        inside = (rows >= 0) & (rows < height) & columns[None, :]
        strip = marks[np.clip(rows, 0, height - 1), cols].astype(bool) & inside
        _, labels = cv2.connectedComponents(strip.view(np.uint8), connectivity=8)
        far = labels[reach - 1 - near]  # the strip's row furthest from the line
        counts.append(np.intersect1d(labels[near][labels[near] > 0], far[far > 0]).size)
    return min(counts)


def between_walls(width: int, walls: list[tuple[int, int]],
                  others: Sequence[tuple[int, int]] = ()) -> np.ndarray:
    """The columns from the first wall to the last, the walls (and `others`, the walls of the
    row on the line's other side) and CROSS_MARGIN either side of each left out: where strokes
    crossing a horizontal line are counted."""
    keep = np.zeros(width, bool)
    keep[walls[0][1] + 1 : walls[-1][0]] = True
    for c0, c1 in [*walls, *others]:
        keep[max(c0 - CROSS_MARGIN, 0) : c1 + CROSS_MARGIN + 1] = False
    return keep


def square_corners(upright: np.ndarray, top: tuple[int, int], bottom: tuple[int, int],
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
        if fits and nearest[1] - nearest[0] <= WIDE_DIVIDER * thickness:
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
