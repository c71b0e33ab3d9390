"""Writing struck through: a pen line drawn across a field's digits, as a writer cancels what
was written. The digits under it can often still be read, but a cancelled value must not go
through as sure: such a field is read as usual and sent to review, with a page warning.

The line is told from the digits' own strokes by its length (longer than any horizontal stroke
of a digit: a 7's bar, a 2's foot, two digits' bars joined) and by the strokes crossing it (a
line through the middle of the writing is crossed by most digits it runs through; a dash or a
tail after an amount, or an underline, by none).
"""

from __future__ import annotations

import cv2
import numpy as np

from segmentation.box_lines import between_walls, strokes_across
from segmentation.boxes import PEN_CROSSINGS, TOLERANCE_PX
from segmentation.cut import LINE_MARGIN, WEAK_INK
from segmentation.morphology import open_along_rows
from segmentation.structure import Structure

# A struck line runs at least this many inside heights: a digit is at most ~0.9 of the box's
# inside and its horizontal strokes at most ~0.7 of its height, so two 7s with their bars
# joined stay about under it (where more join, strokes meet them from one side only); a line
# through a number of two digits or more is longer. (A single struck digit is not told from a
# digit with a bar through it: a crossed 7, a 4.) Strokes crossing it: at least
# boxes.PEN_CROSSINGS, as for a line between boxes.
STRIKE_LENGTH = 1.2
# Strokes crossing the line are counted where they run on beyond the line's own ink for at
# least this share of the inside height, or twice the line's half thickness if more, either
# side: a line through the lower or upper third of the digits leaves them that much (0.15, as
# between boxes, left two such lines unseen on the drawn pages of seed 7: "434" struck low,
# "259" high).
STROKE_REACH = 0.1
# The line's own thickness: this percentile of the runs of ink through its middle row, over its
# columns (strokes crossing or touching it lengthen the runs of some columns). The median read
# a line through the digits' tops as thick as the digits' top strokes lying along it, and missed
# it ("5080" struck high); the 25th percentile keeps the thickness of the pen line itself.
THICKNESS_PERCENTILE = 25
STRUCK_CONFIDENCE = 0.1  # a struck field's confidence at most: always below any review threshold


def struck_through(s: Structure) -> bool:
    """Whether a long pen line runs through the writing in the box, crossed by at least
    PEN_CROSSINGS strokes. The line must be unbroken ink (a row of digits written close
    together has gaps); a comb's dividers are kept, so that a line through several cells stays
    one. It may lean and waver: strokes are counted beside it column by column."""
    height = s.inside_height
    length = int(STRIKE_LENGTH * height)
    left, right = s.walls[0][1] + 1 + LINE_MARGIN, s.walls[-1][0] - LINE_MARGIN
    top, bottom = s.top[1] + 1 + LINE_MARGIN, s.bottom[0] - LINE_MARGIN
    if right - left < length or bottom - top < 3:
        return False
    ink = (s.darkness[top:bottom, left:right] >= WEAK_INK).view(np.uint8)
    # thickened across, as box lines are found: a line a few degrees off the box's still runs
    thick = cv2.dilate(ink * np.uint8(255), np.ones((TOLERANCE_PX, 1), np.uint8))
    if cv2.reduce(thick, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).max() < 255 * length:
        return False  # no row holds that much ink: the common case, answered cheaply
    lines = open_along_rows(thick, length)
    if not lines.any():
        return False
    count, labels = cv2.connectedComponents(lines, connectivity=8)
    keep = between_walls(s.darkness.shape[1], list(s.walls))[left:right]
    for label in range(1, count):
        line = labels == label
        columns = line.any(axis=0)
        if np.count_nonzero(columns) < length:
            continue
        first = line.argmax(axis=0)
        last = line.shape[0] - 1 - line[::-1].argmax(axis=0)
        middle = (first + last) // 2
        half = _half_thickness(ink, middle, columns)
        reach = max(2, int(STROKE_REACH * height), 2 * half)
        if strokes_across(ink, middle - half, middle + half, columns & keep, reach) >= PEN_CROSSINGS:
            return True
    return False


def _half_thickness(ink: np.ndarray, middle: np.ndarray, columns: np.ndarray) -> int:
    """Half the line's own thickness, plus a pixel (THICKNESS_PERCENTILE of the runs of ink
    through its middle row). Strokes are counted beyond the line itself: where digits' feet run
    together into a line, their wavy lower edge had counted as strokes leaving it ("12225",
    "226" on clean pages of seed 11, sent to review)."""
    cols = np.flatnonzero(columns)
    rows = middle[cols]
    runs = np.ones(cols.size, np.int64)
    for step in (-1, 1):
        going = np.ones(cols.size, bool)
        for k in range(1, ink.shape[0]):
            at = rows + step * k
            going &= (at >= 0) & (at < ink.shape[0])
            going &= ink[np.clip(at, 0, ink.shape[0] - 1), cols] != 0
            if not going.any():
                break
            runs += going
    return int(np.percentile(runs, THICKNESS_PERCENTILE)) // 2 + 1
