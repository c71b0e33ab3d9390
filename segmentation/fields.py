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

import numpy as np

from reading.lines import darkness as paper_darkness
from segmentation.boxes import Frame, Structure
from segmentation.cut import LINE_MARGIN, WEAK_INK, erase_lines

MARGIN = 2  # blank paper put around a field image; its virtual lines lie in it


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


def inside_image(s: Structure) -> np.ndarray:
    """uint8 grey of the box's outer extent, ink dark on white, its lines erased."""
    x0, y0, x1, y1 = s.outer
    dark = s.darkness
    marks = dark >= WEAK_INK
    kept = erase_lines(marks, s)
    lines = marks & ~kept
    out = dark.copy()
    if lines.any():  # a line's blurred edges go with it
        rows, cols = np.nonzero(lines)
        for dy in range(-LINE_MARGIN, LINE_MARGIN + 1):
            for dx in range(-LINE_MARGIN, LINE_MARGIN + 1):
                r = np.clip(rows + dy, 0, dark.shape[0] - 1)
                c = np.clip(cols + dx, 0, dark.shape[1] - 1)
                out[r, c] = np.where(kept[r, c], out[r, c], 0.0)
    crop = out[max(y0, 0) : y1, max(x0, 0) : x1]
    return (255.0 * (1.0 - np.clip(crop, 0.0, 1.0))).astype(np.uint8)
