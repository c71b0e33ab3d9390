"""Examples of the "not a digit" class: what a page throws at the recogniser that is no digit.

Specks, fragments of box lines, blobs, box corners, printed letters, blank or noisy crops, two
or three digits run together, and parts of digits (both what a cut in the wrong place makes
when touching digits are split). Shapes
that a person would read as a digit are left out on purpose: a vertical bar is a 1, a box
corner like ┐ is a 7, a rectangle is a 0, and letters such as O, l, S, Z, B, g are excluded.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from models.augment import render_at_scan_scale
from segmentation.glyph import GLYPH_SIZE, to_mnist

NOT_A_DIGIT = 10  # index of the extra output
# Letters and signs that no reader would take for a digit.
SAFE_LETTERS = "ACEFHKMNPRUVWXacefhkmnpruvwx#%&@+=*"
HERSHEY_FONTS = (
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
    cv2.FONT_HERSHEY_PLAIN,
    cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
)
MAX_LINE_ANGLE_DEG = 40  # steeper lines look like a 1 or a slanted 1


def _canvas(size: int = 64) -> np.ndarray:
    return np.zeros((size, size), np.uint8)


def specks(rng: np.random.Generator) -> np.ndarray:
    mask = _canvas()
    for _ in range(int(rng.integers(1, 5))):
        centre = (int(rng.integers(8, 56)), int(rng.integers(8, 56)))
        width = int(rng.integers(1, 4))
        axes = (width, int(rng.integers(1, width + 1)))  # never taller than wide: a tall one is a 1
        cv2.ellipse(mask, centre, axes, 0.0, 0, 360, 1, -1)
    return mask


def line_fragment(rng: np.random.Generator) -> np.ndarray:
    mask = _canvas()
    angle = math.radians(rng.uniform(-MAX_LINE_ANGLE_DEG, MAX_LINE_ANGLE_DEG))
    length = rng.uniform(15, 58)
    cx, cy = 32.0, 32.0
    dx, dy = math.cos(angle) * length / 2, math.sin(angle) * length / 2
    sag = rng.uniform(-4, 4)  # a slightly bowed line
    points = np.array(
        [[cx - dx, cy - dy], [cx, cy + sag], [cx + dx, cy + dy]], np.int32
    ).reshape(-1, 1, 2)
    cv2.polylines(mask, [points], False, 1, int(rng.integers(1, 5)))
    return mask


def blob(rng: np.random.Generator) -> np.ndarray:
    mask = _canvas()
    count = int(rng.integers(5, 10))
    angles = np.sort(rng.uniform(0, 2 * math.pi, count))
    radii = rng.uniform(8, 24, count)
    squash = rng.uniform(0.5, 1.0)  # at most as tall as wide: a tall blob is a thick 1
    points = np.stack([32 + radii * np.cos(angles), 32 + squash * radii * np.sin(angles)], 1)
    cv2.fillPoly(mask, [points.astype(np.int32)], 1)
    return mask


def corner(rng: np.random.Generator) -> np.ndarray:
    """└, ┌ or ┘: what is left of a box corner; ┐ is left out, it reads as a 7."""
    mask = _canvas()
    thickness = int(rng.integers(1, 5))
    a, b = int(rng.integers(14, 50)), int(rng.integers(14, 50))
    shape = rng.integers(3)
    x0, y0 = 8, 8
    if shape == 0:  # └
        cv2.line(mask, (x0, y0), (x0, y0 + a), 1, thickness)
        cv2.line(mask, (x0, y0 + a), (x0 + b, y0 + a), 1, thickness)
    elif shape == 1:  # ┌
        cv2.line(mask, (x0, y0), (x0 + b, y0), 1, thickness)
        cv2.line(mask, (x0, y0), (x0, y0 + a), 1, thickness)
    else:  # ┘
        cv2.line(mask, (x0 + b, y0), (x0 + b, y0 + a), 1, thickness)
        cv2.line(mask, (x0, y0 + a), (x0 + b, y0 + a), 1, thickness)
    return mask


def printed_letter(rng: np.random.Generator) -> np.ndarray:
    mask = _canvas(96)
    letter = SAFE_LETTERS[int(rng.integers(len(SAFE_LETTERS)))]
    font = HERSHEY_FONTS[int(rng.integers(len(HERSHEY_FONTS)))]
    scale = rng.uniform(1.2, 2.4)
    cv2.putText(mask, letter, (20, 70), font, scale, 1, int(rng.integers(1, 5)), cv2.LINE_AA)
    if rng.random() < 0.3:  # italic
        shear = np.float32([[1, rng.uniform(-0.3, 0.3), 10], [0, 1, 0]])
        mask = cv2.warpAffine(mask, shear, (96, 96), flags=cv2.INTER_NEAREST)
    return mask


def digits_run_together(digits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Two or three digits side by side, touching or overlapping: a wrong cut, not one digit."""
    count = 2 if rng.random() < 0.8 else 3
    picks = digits[rng.integers(len(digits), size=count)]
    masks = [render_at_scan_scale(d, rng) for d in picks]
    height = max(m.shape[0] for m in masks)
    crops = []
    for m in masks:
        cols = np.flatnonzero(m.any(axis=0))
        crop = m[:, cols[0] : cols[-1] + 1]
        crops.append(cv2.resize(crop, (crop.shape[1] * height // m.shape[0] or 1, height),
                                interpolation=cv2.INTER_NEAREST))
    starts = [0]
    for crop in crops[:-1]:
        overlap = rng.uniform(-0.05, 0.3)  # >0: the next digit starts inside this one
        starts.append(starts[-1] + max(1, int(crop.shape[1] * (1 - overlap))))
    out = np.zeros((height, max(x + c.shape[1] for x, c in zip(starts, crops))), np.uint8)
    for x, crop in zip(starts, crops):
        out[:, x : x + crop.shape[1]] |= crop
    return out


def digit_fragment(digits: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """Part of a digit cut off by a wrong cut: what splitting touching digits must reject.
    Thin parts are left out (they look like a 1), and so are 1s (their parts look like 1s)."""
    mask = render_at_scan_scale(digits[rng.integers(len(digits))], rng)
    cols = np.flatnonzero(mask.any(axis=0))
    rows = np.flatnonzero(mask.any(axis=1))
    width, height = cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1
    if width < FRAGMENT_MIN_ASPECT * 2 * height:
        return None  # a narrow digit (a 1): its parts are strokes like a 1
    cut = cols[0] + int(width * rng.uniform(0.35, 0.65))
    left, right = mask.copy(), mask.copy()
    left[:, cut:] = 0
    right[:, :cut] = 0
    part = left if left.sum() <= right.sum() else right  # the smaller side: at most half a digit
    kept = np.flatnonzero(part.any(axis=0))
    if kept.size < FRAGMENT_MIN_ASPECT * height or part.sum() < 0.2 * mask.sum():
        return None
    return part


def blank_or_noise(rng: np.random.Generator) -> np.ndarray:
    """Already 28×28: an empty crop, or one full of noise."""
    kind = rng.integers(3)
    if kind == 0:
        return np.zeros((GLYPH_SIZE, GLYPH_SIZE), np.float32)
    if kind == 1:
        return rng.random((GLYPH_SIZE, GLYPH_SIZE)).astype(np.float32)
    return (rng.random((GLYPH_SIZE, GLYPH_SIZE)) < rng.uniform(0.02, 0.3)).astype(np.float32)


MAKERS = (specks, line_fragment, blob, corner, printed_letter)
# Share of each kind among negatives: the run-together digits teach segmentation-by-recognition
# to reject wrong cuts, so they get the largest share.
SHARES = {"shapes": 0.45, "run_together": 0.3, "fragment": 0.15, "blank_or_noise": 0.10}
FRAGMENT_MIN_ASPECT = 0.35  # fragments narrower than this (width / height) read as a 1


def not_a_digit(digits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One 28×28 float32 example of the "not a digit" class; `digits` are training digits."""
    draw = rng.random()
    if draw < SHARES["blank_or_noise"]:
        return blank_or_noise(rng)
    if draw < SHARES["blank_or_noise"] + SHARES["run_together"]:
        return to_mnist(digits_run_together(digits, rng))
    if draw < SHARES["blank_or_noise"] + SHARES["run_together"] + SHARES["fragment"]:
        for _ in range(5):
            fragment = digit_fragment(digits, rng)
            if fragment is not None:
                return to_mnist(fragment)
    mask = MAKERS[int(rng.integers(len(MAKERS)))](rng)
    if not mask.any():
        return np.zeros((GLYPH_SIZE, GLYPH_SIZE), np.float32)
    return to_mnist(mask)
