"""Fields with no drawn box: an image that is one whole field, or a template region.

Cheque scanners and earlier capture steps hand over the amount already cut out, with nothing
drawn around it. Such an image becomes a `Structure` like a drawn open box, but with its
lines lying in a margin of blank paper added around the image, so that the cutting and
reading code that serves drawn boxes serves it unchanged (there are no lines to erase).

The other way round, `inside_image` gives what a line reader should see of a field found on a
page: the inside of the box with its lines erased (strokes crossing them kept), as a grey
image with ink dark on white.
"""

from __future__ import annotations

import cv2
import numpy as np

from reading.lines import darkness as paper_darkness
from segmentation.cut import LINE_MARGIN, WEAK_INK, erase_lines
from segmentation.structure import Frame, Structure

MARGIN = 2  # blank paper put around a field image; its virtual lines lie in it
# A template region is drawn generously around where people write: read at the region's size,
# the writing fills a small part of the line readers' fixed-height input (an amount 45 px tall
# in a 180 px high region was read "10" for "1800", alone "1800"). So a region is cut to its
# ink first, with this margin around the ink, a share of the ink's height: the field images
# the string reader was trained on have 0.03-0.45 of the digit height above and below and
# 0-1.2 beside (synth.strings.field_image).
INK_MARGIN = 0.25
# Ink, for that extent: darkness at least this (reading.lines.darkness stretches ink proper
# near 1, paper near 0) ...
EXTENT_INK = 0.5
# ... in marks of at least this share of the largest mark's area: specks, dust and security
# print's dots do not widen the extent; a separator dot next to digits 30 px tall (~15 px²
# against ~150 px² for a digit) does.
EXTENT_MIN_SHARE = 0.05
# A bilevel field image is blurred by a Gaussian of this sigma (px) before it is read. Measured
# on 2026-12-07 with ORAND's 460 amounts thresholded (Otsu; labels corrected): 86.09% exact
# (91.09% in grey) -> 88.70% at 0.7, 88.70% at 1.0, 89.57% at 1.5 (straight through 52.83%,
# 52.83%, 47.61%, 45.65%); the held-out writers' 600 numbers thresholded: 82.00% -> 83.17%,
# 81.67%, 80.33%; a sigma of 0.6 or 1.0 of the image's height over 48 px, no better on both.
BILEVEL_SMOOTHING = 0.7
# A box's lines left in a field image (a form's box cut out with its sides, a zone cut a little
# wide): a straight vertical line at least WALL_SPAN of the image's height long, within
# WALL_BAND of the height from its left or right side, is erased before reading. The readers
# took such a wall for a 1: ORAND's amounts with paper around them and a wall 3 px in from
# each side read 85.65% exactly against 91.09% without (labels corrected; measured
# 2026-12-07). As cropped, none of ORAND's 460 amounts holds such a line; 13 of the held-out
# writers' 600 numbers do (edges of the drawn paper), read as well or better without.
WALL_SPAN = 0.9
WALL_BAND = 0.1
# ... and at least this many times as tall as the rest of the ink: a straight 1 at the edge of a
# crop cut tight to the writing is as tall as the writing (a review found 6 of ORAND's amounts
# cut to their ink with no margin, and 35 of 300 synthetic numbers holding a 1, with a 1 so
# erased: 15340 read 5340); a box's wall is taller than what is written in it.
WALL_OVER_WRITING = 1.15
# Horizontal lines are erased only between two such walls (a box), running BOX_LINE_COVER of
# the way from wall to wall within BOX_LINE_BAND of the top or the bottom: ORAND's amounts in a
# drawn box 3 px in from the crop's edges read 85.87% with its walls erased, 91.09% with the
# whole box. Lines elsewhere are left: the readers were trained on printed rules crossing
# fields, and erasing a rule takes the crossing strokes' ink (README, "A reader for page
# fields"); 137 of ORAND's 460 crops hold the cheque's printed amount line, and erasing long
# lines near their top and bottom read them 89.57-90.00% against 91.09%.
BOX_LINE_COVER = 0.8
BOX_LINE_BAND = 0.2
# Walls joined by one mark with no other writing beside them are a box's (an empty box, or
# writing that all touches its lines) while the inside is less than this share ink: writing
# covers a small part of what it is written in (measured 2026-12-07 at EXTENT_INK, cut to the
# ink as `ink_extent` cuts: ORAND's 460 amounts 8-29%, median 16%; held-out writers' 300
# numbers 3-36%), a blot all of it.
BOX_INSIDE_INK = 0.5
_NEAR_A_LINE = np.ones((2 * LINE_MARGIN + 1, 2 * LINE_MARGIN + 1), np.uint8)  # a line pixel's reach


def field_structure(image: np.ndarray, origin: tuple[int, int] = (0, 0)) -> Structure:
    """The whole image as one open box with no lines; `origin` is where the image lies on its
    page (boxes found in it are given in page pixels)."""
    dark = paper_darkness(image)
    h, w = dark.shape
    padded = np.zeros((h + 2 * MARGIN, w + 2 * MARGIN), np.float32)
    padded[MARGIN : MARGIN + h, MARGIN : MARGIN + w] = dark
    x, y = origin
    frame = Frame(np.float64([[1, 0, MARGIN - x], [0, 1, MARGIN - y]]), (w + 2 * MARGIN, h + 2 * MARGIN))
    last_row, last_col = h + 2 * MARGIN - 1, w + 2 * MARGIN - 1
    return Structure(frame, (0, 0), (last_row, last_row), ((0, 0), (last_col, last_col)), 0.0, padded)


def ink_extent(image: np.ndarray, least_share: float = 0.0) -> tuple[int, int, int, int] | None:
    """(x, y, w, h) of the image's ink with INK_MARGIN around it, inside the image; None for
    an image whose ink covers no more than `least_share` of it (an empty field stays whole,
    so that a speck in it is not blown up to a field of its own)."""
    marks = (paper_darkness(image) >= EXTENT_INK).astype(np.uint8)
    if marks.mean() <= least_share:
        return None
    bounds = _ink_bounds(marks)
    if bounds is None:
        return None
    x0, y0, x1, y1 = bounds
    margin = max(2, int(round(INK_MARGIN * (y1 - y0))))
    h, w = marks.shape
    x0, y0 = max(0, x0 - margin), max(0, y0 - margin)
    x1, y1 = min(w, x1 + margin), min(h, y1 + margin)
    return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


def _ink_bounds(marks: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) bounding the marks (0/1) of at least EXTENT_MIN_SHARE of the largest
    one's area, with no margin; None with no mark."""
    count, _, stats, _ = cv2.connectedComponentsWithStats(marks, connectivity=8)
    if count <= 1:
        return None
    areas = stats[1:, cv2.CC_STAT_AREA]
    kept = stats[1:][areas >= EXTENT_MIN_SHARE * areas.max()]
    x0, y0 = kept[:, cv2.CC_STAT_LEFT].min(), kept[:, cv2.CC_STAT_TOP].min()
    x1 = (kept[:, cv2.CC_STAT_LEFT] + kept[:, cv2.CC_STAT_WIDTH]).max()
    y1 = (kept[:, cv2.CC_STAT_TOP] + kept[:, cv2.CC_STAT_HEIGHT]).max()
    return int(x0), int(y0), int(x1), int(y1)


def cut_to_ink(image: np.ndarray, x: int, y: int, least_share: float = 0.0
               ) -> tuple[np.ndarray, int, int]:
    """The image cut to its ink (`ink_extent`) and where the cut lies, (x, y) being where the
    image lies; the image as given when it holds no more ink than `least_share`."""
    extent = ink_extent(image, least_share)
    if extent is None:
        return image, x, y
    ex, ey, ew, eh = extent
    return image[ey : ey + eh, ex : ex + ew], x + ex, y + ey


def smoothed_if_bilevel(image: np.ndarray) -> np.ndarray:
    """An 8-bit grey image of two levels only, or a 1-bit one (bool), as uint8 grey blurred by
    BILEVEL_SMOOTHING: a bilevel scan (cheque imaging writes them, 1-bit TIFF) given back the
    grey stroke edges the readers were trained on. Any other image as it is (the worker reads
    every page as 8-bit grey or 1-bit: `core.files.grey_of`)."""
    if image.ndim != 2 or image.size == 0 or image.dtype not in (np.uint8, np.bool_):
        return image
    grey = image.astype(np.uint8) * 255 if image.dtype == np.bool_ else image
    if np.count_nonzero(np.bincount(grey.ravel(), minlength=256)) > 2:
        return image
    return cv2.GaussianBlur(grey, (0, 0), BILEVEL_SMOOTHING)


def without_box_lines(image: np.ndarray) -> np.ndarray:
    """The image with a box's lines painted over with its paper's median: straight vertical
    lines along its left and right sides (WALL_SPAN, WALL_BAND; a column of tolerance each way
    lets a wall lean by a pixel), and, where both sides have one, the top and bottom lines
    between them (BOX_LINE_COVER of the walls' span, within BOX_LINE_BAND of the top or the
    bottom). The image itself when it has no wall.

    Failing that, a whole box lying inside the image with paper around it (a capture step
    that cut a printed box out generously) is judged the same way against the sides of the
    ink (`_ink_bounds`): there both walls must be found, joined by the box's own lines, so
    that a tall 1 at either end of the writing is never taken for one. ORAND's amounts drawn
    in a box and then framed by 0.25 of the box's height had read 60.87% exactly (labels
    corrected; 91.09% so after; measured 2026-12-07, `make eval-real`'s "a box with paper
    around" row)."""
    marks = (paper_darkness(image) >= EXTENT_INK).astype(np.uint8)
    lines = _box_lines(marks, joined=False)
    if lines is None:
        bounds = _ink_bounds(marks)
        if bounds is None or bounds == (0, 0, marks.shape[1], marks.shape[0]):
            return image
        x0, y0, x1, y1 = bounds
        inside = _box_lines(marks[y0:y1, x0:x1], joined=True)
        if inside is None:
            return image
        lines = np.zeros_like(marks)
        lines[y0:y1, x0:x1] = inside
    near = cv2.dilate(lines, np.ones((3, 3), np.uint8)).view(bool)
    out = image.copy()
    channels = image.shape[2] if image.ndim == 3 else 1
    out[near] = np.median(image.reshape(-1, channels), axis=0).astype(image.dtype).squeeze()
    return out


def _box_lines(marks: np.ndarray, joined: bool) -> np.ndarray | None:
    """The box lines (0/1 mask) along the sides of `marks` (`without_box_lines`), None for
    none; with `joined`, only two walls of one mark (a whole box) count."""
    h, w = marks.shape
    span, band = int(WALL_SPAN * h), max(2, int(WALL_BAND * h))
    if span < 8 or w <= 2 * band:
        return None
    sides = np.zeros_like(marks)
    sides[:, :band], sides[:, w - band :] = marks[:, :band], marks[:, w - band :]
    if not sides.any():
        return None
    _, marked = cv2.connectedComponents(marks, connectivity=8)  # each mark's label
    leaning = cv2.dilate(sides, np.ones((1, 3), np.uint8))
    lines = _taller_than_writing(cv2.morphologyEx(leaning, cv2.MORPH_OPEN, np.ones((span, 1), np.uint8))
                                 & sides, marks, marked)
    both = lines[:, :band].any() and lines[:, w - band :].any()
    if not lines.any() or (joined and not (both and _one_mark(lines, marked, band))):
        return None
    if both:  # a box: its top and bottom too
        walls = np.flatnonzero(lines.any(axis=0))
        length = max(8, int(BOX_LINE_COVER * (walls[-1] - walls[0])))
        sagging = cv2.dilate(marks, np.ones((3, 1), np.uint8))
        across = cv2.morphologyEx(sagging, cv2.MORPH_OPEN, np.ones((1, length), np.uint8)) & marks
        edge = max(2, int(BOX_LINE_BAND * h))
        across[edge : h - edge] = 0
        lines |= across
    return lines


def _one_mark(walls: np.ndarray, marked: np.ndarray, band: int) -> bool:
    """Whether a wall on the left and one on the right are parts of one mark (a box's lines);
    `marked`: the marks' labels."""
    w = marked.shape[1]
    left = np.unique(marked[:, :band][walls[:, :band] > 0])
    right = np.unique(marked[:, w - band :][walls[:, w - band :] > 0])
    return bool(np.intersect1d(left, right).size)


def _taller_than_writing(walls: np.ndarray, marks: np.ndarray, marked: np.ndarray) -> np.ndarray:
    """The walls (0/1 mask) at least WALL_OVER_WRITING times as tall as the ink of the marks
    they do not touch (`marks`, labelled in `marked`; a box's lines are one mark with its walls):
    a 1 at the edge of a crop cut tight is as tall as the writing, a box's wall taller."""
    rows = np.flatnonzero((marks.view(bool) & ~np.isin(marked, np.unique(marked[walls > 0]))).any(axis=1))
    if rows.size == 0:  # nothing written apart from these lines: a box, or writing ("11")
        return walls if _a_box(walls, marks, marked) else np.zeros_like(walls)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(walls, connectivity=8)
    tall = np.flatnonzero(stats[:, cv2.CC_STAT_HEIGHT] >= WALL_OVER_WRITING * (rows[-1] - rows[0] + 1))
    return np.isin(labels, tall[tall > 0]).astype(np.uint8)


def _a_box(walls: np.ndarray, marks: np.ndarray, marked: np.ndarray) -> bool:
    """Whether walls with no other writing beside them are a box's: one mark joins the left
    and the right one (an empty box, or one whose writing all touches its lines), and inside
    them (WALL_BAND of the height in from each, the top and bottom BOX_LINE_BAND left out) the
    paper is mostly blank (BOX_INSIDE_INK). Two 1s ("11") stand apart; a blot is ink through."""
    h, w = marks.shape
    band, edge = max(2, int(WALL_BAND * h)), max(2, int(BOX_LINE_BAND * h))
    inside = marks[edge : h - edge, band : w - band]
    return _one_mark(walls, marked, band) and (inside.size == 0 or inside.mean() < BOX_INSIDE_INK)


def inside_image(s: Structure) -> np.ndarray:
    """uint8 grey of the box's outer extent, ink dark on white, its lines erased."""
    x0, y0, x1, y1 = s.outer
    dark = s.darkness
    marks = dark >= WEAK_INK
    kept = erase_lines(marks, s)
    lines = marks & ~kept
    out = dark.copy()
    if lines.any():  # a line's blurred edges go with it: its pixels' neighbours not kept as ink
        near = cv2.dilate(lines.view(np.uint8), _NEAR_A_LINE).view(bool)
        out[near & ~kept] = 0.0
    crop = out[max(y0, 0) : y1, max(x0, 0) : x1]
    return (255.0 * (1.0 - np.clip(crop, 0.0, 1.0))).astype(np.uint8)
