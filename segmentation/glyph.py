"""Turning a cut-out glyph into a 28×28 input made the way MNIST was made.

MNIST's digits were size-normalised to fit a 20×20 box keeping their aspect ratio (anti-aliased),
then placed in a 28×28 image so that their centre of mass is at the centre. The recogniser was
trained on such images, so every glyph the pipeline cuts goes through exactly this function,
and so does the training augmentation (models.augment), keeping the two in step.
"""

from __future__ import annotations

import cv2
import numpy as np

GLYPH_SIZE = 28  # MNIST's image size
FIT_SIZE = 20  # MNIST's digits fill a 20×20 box inside the 28×28 image
MNIST_CENTRE = 14.0  # where MNIST puts the centre of mass (measured: mean 13.99, 14.01 on t10k)


def to_mnist(ink: np.ndarray) -> np.ndarray:
    """28×28 float32 glyph in [0, 1], ink = 1, from a 2-D ink image (bool, 0/1, 0..255 or 0..1).

    The ink's bounding box is fitted into 20×20 keeping its aspect ratio, then the result is
    shifted so that its centre of mass falls on the image centre. No ink gives all zeros.
    """
    ink = np.asarray(ink)
    if ink.ndim != 2:
        raise ValueError(f"glyph must be 2-D, got shape {ink.shape}")
    values = ink.astype(np.float32)
    if values.max(initial=0.0) > 1.0:  # 0..255 grey; masks of 0/1 and floats are already 0..1
        values /= 255.0
    rows = np.flatnonzero(values.any(axis=1))
    cols = np.flatnonzero(values.any(axis=0))
    out = np.zeros((GLYPH_SIZE, GLYPH_SIZE), np.float32)
    if rows.size == 0:
        return out
    crop = values[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    height, width = crop.shape
    scale = FIT_SIZE / max(height, width)
    new_w = max(1, min(FIT_SIZE, round(width * scale)))
    new_h = max(1, min(FIT_SIZE, round(height * scale)))
    shrinking = scale < 1.0
    small = cv2.resize(
        crop, (new_w, new_h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    )
    small = np.minimum(np.maximum(small, 0.0), 1.0)  # np.clip's own overhead is 10× this work
    total = float(small.sum())
    if total <= 0.0:
        return out
    cy = float((small.sum(axis=1) * np.arange(new_h)).sum()) / total
    cx = float((small.sum(axis=0) * np.arange(new_w)).sum()) / total
    top = min(max(round(MNIST_CENTRE - cy), 0), GLYPH_SIZE - new_h)
    left = min(max(round(MNIST_CENTRE - cx), 0), GLYPH_SIZE - new_w)
    out[top : top + new_h, left : left + new_w] = small
    return out


def skeleton(mask: np.ndarray) -> np.ndarray:
    """Morphological skeleton of a 0/1 uint8 mask (union of erosions minus their openings)."""
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    out = np.zeros_like(mask)
    current = mask.copy()
    while current.any():
        out |= current & ~cv2.morphologyEx(current, cv2.MORPH_OPEN, cross)
        current = cv2.erode(current, cross)
    return out


def redraw_with_pen(mask: np.ndarray, pen: int) -> np.ndarray:
    """The strokes of a 0/1 uint8 mask redrawn with a round pen `pen` pixels wide: what the
    same digit looks like written with another pen. Used to render handwriting and in training."""
    pen = max(1, int(pen))
    nib = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (pen, pen))
    return cv2.dilate(skeleton(mask), nib)
