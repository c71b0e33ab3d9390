"""A field image made ready for a line reader: ink darkness on even paper, a fixed height.

The same function prepares training images and the images read in service, so the reader
sees in service what it saw in training. The paper's own brightness (tinted, security-printed
or unevenly lit) is estimated by a grey closing wider than any stroke and divided out, then
the darkness is stretched so that ink proper is near 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from reading import quick

LINE_HEIGHT = 32  # the line reader's input height, px
MIN_WIDTH = 32  # narrower fields are padded: a single digit still spans several frames
MAX_ASPECT = 16  # wider than 16 × the height is squeezed (no amount field is that long)
PAPER_KERNEL = 1 / 3  # of the field's height: wider than a stroke, narrower than a loop's hole
# The paper's smoothing runs on a copy shrunk by this share of the kernel (a 27 px kernel on an
# 80 px field: by 3). Measured on 2026-12-06 on 124 fields of 20 hard-style pages (seed 8) and
# ORAND's 460 amounts: the paper within 1.7 grey levels of the full-size smoothing (median 0.3),
# darkness within 0.011 (median 0.002); at 0.25, 5.8 levels and 0.046 for no more speed.
PAPER_SHRINK = 0.12
# Darkness is divided by this percentile of the field's darkness (ink proper) but never by
# less than INK_FLOOR: a field without ink keeps its paper pale instead of stretching noise.
INK_PERCENTILE = 99.5
INK_FLOOR = 0.3


def grey(image: np.ndarray) -> np.ndarray:
    """uint8 grey from grey (8- or 16-bit, float, or 1-bit as bool), RGB or RGBA (the darkest
    channel keeps blue ink dark)."""
    image = np.asarray(image)
    if image.ndim == 3:
        image = image[..., :3].min(axis=2) if image.shape[2] >= 3 else image[..., 0]
    if image.dtype != np.uint8:
        top = 65535.0 if image.dtype == np.uint16 else (1.0 if image.dtype.kind in "fb" else 255.0)
        image = np.clip(image.astype(np.float32) * (255.0 / top), 0, 255).astype(np.uint8)
    return image


def darkness(image: np.ndarray) -> np.ndarray:
    """float32 0..1, ink = 1, paper = 0, the paper's own brightness divided out."""
    g = grey(image).astype(np.float32)
    dark = np.clip(1.0 - g / np.maximum(paper(g), 1.0), 0.0, 1.0)
    top = max(quick.percentile(dark.ravel(), INK_PERCENTILE), INK_FLOOR)
    return np.minimum(dark / top, 1.0)


def paper(g: np.ndarray) -> np.ndarray:
    """The paper's brightness under each pixel of a float32 grey field: a grey dilation wider
    than a stroke (PAPER_KERNEL of the height), smoothed by a Gaussian of half that width. The
    smoothing, the costly part at full size (~0.6 ms of a field's ~0.9), is done on a copy
    shrunk by PAPER_SHRINK of the kernel, then enlarged back: the result is smooth at that scale."""
    k = max(3, int(g.shape[0] * PAPER_KERNEL) | 1)
    dilated = cv2.dilate(g, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    h, w = g.shape
    step = max(1, int(k * PAPER_SHRINK))
    if step == 1 or h < 2 * step or w < 2 * step:
        return cv2.GaussianBlur(dilated, (0, 0), k / 2)
    small = cv2.resize(dilated, (w // step, h // step), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), k / 2 / step)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def line_input(image: np.ndarray, height: int = LINE_HEIGHT) -> np.ndarray:
    """(height, W) float32 darkness, W in [MIN_WIDTH, MAX_ASPECT × height], a multiple of 4."""
    dark = darkness(image)
    h, w = dark.shape
    width = int(round(w * height / max(h, 1)))
    width = min(max(width, 1), MAX_ASPECT * height)
    resized = cv2.resize(dark, (width, height), interpolation=cv2.INTER_AREA)
    padded = max(MIN_WIDTH, (width + 3) // 4 * 4)
    out = np.zeros((height, padded), np.float32)
    out[:, :width] = resized
    return out


def same_width_groups(widths: Sequence[int], size: int) -> list[list[int]]:
    """Indexes of inputs, in groups of at most `size` inputs of one width. A line reader pads a
    batch to its widest input, and both readers' outputs depend on that padding (measured, not
    only in the padded frames): read in mixed batches, 2 of ORAND's 460 amounts read differently
    by the CRNN and 8 by PP-OCR (22 of 600 held-out numbers); read alone, each reader got as
    many or more right (ORAND: one more each; held-out numbers: PP-OCR three more). Batched by
    width, a field reads as it reads alone, whatever else is on its page, and PP-OCR spends no
    time on padding (as fast: 460 amounts in 5.7 s either way)."""
    by_width: dict[int, list[int]] = {}
    for i, width in enumerate(widths):
        by_width.setdefault(int(width), []).append(i)
    return [group[start : start + size] for _, group in sorted(by_width.items())
            for start in range(0, len(group), size)]
