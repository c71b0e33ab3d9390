"""Training augmentation: MNIST digits made to look like glyphs cut from scanned forms.

A glyph the pipeline cuts from a scan has been drawn at scan resolution, blurred, binarised,
sometimes clipped by a cell wall or left with a bit of box line, and then re-normalised the MNIST
way. `scan_like` walks a digit through those steps and ends in the very same `to_mnist` the
pipeline uses, so training sees what inference will see. `mild` is the classic MNIST
augmentation (small affine jitter, off-centre shifts) that keeps accuracy on MNIST itself.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from segmentation.glyph import GLYPH_SIZE, redraw_with_pen, to_mnist

# Ranges, each chosen to cover what the synthetic and real scans show (±5° page skew on top of
# the writer's own slant, 150-300 dpi, thin pens to felt tips).
ROTATION_DEG = 14.0  # writer's slant plus page skew
SHEAR = 0.35  # italic handwriting leans up to ~20°
ASPECT_RANGE = (0.75, 1.3)  # narrow to wide writers
SCAN_SCALE = (1.3, 3.6)  # MNIST's 20 px digit drawn 26-72 px tall: 150-300 dpi cells
BINARISE_LEVEL = (0.22, 0.68)  # low level = thick strokes, high level = thin strokes
BLUR_SIGMA = (0.4, 1.6)  # in scan pixels: out-of-focus scanners, JPEG smoothing
P_BLUR = 0.4
P_PEN = 0.35
PEN_SHARE = 0.16  # widest pen: this share of the digit's height (a felt tip)
P_DILATE = 0.25
P_ERODE = 0.2
P_LINE_BIT = 0.3  # box-line residue left touching the glyph after line removal
P_CLIP = 0.12  # glyph clipped by a cell wall it crossed
CLIP_FRACTION = (0.03, 0.12)
P_SPECK = 0.15
P_EDGE_NOISE = 0.3
HAND_HEIGHT = (24, 72)  # px: a digit in a 150-300 dpi cell
HAND_PEN_SHARE = (0.04, 0.2)  # of the digit's height: 0.2-1.2 mm pens


def _affine(size: float, rng: np.random.Generator, rotation: float, shear: float,
            aspect: tuple[float, float], scale: float = 1.0) -> np.ndarray:
    """2×3 matrix rotating, shearing and stretching about the centre of a size×size image."""
    angle = math.radians(rng.uniform(-rotation, rotation))
    sx = scale * rng.uniform(*aspect)
    sy = scale
    sh = rng.uniform(-shear, shear)
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    lin = rot @ np.array([[1.0, sh], [0.0, 1.0]]) @ np.diag([sx, sy])
    centre = np.array([size / 2.0, size / 2.0])
    offset = centre - lin @ centre
    return np.hstack([lin, offset[:, None]]).astype(np.float32)


def mild(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Classic MNIST jitter: small rotation, shear, zoom and off-centre shift; float32 28×28."""
    image = digit.astype(np.float32) / 255.0
    matrix = _affine(GLYPH_SIZE, rng, rotation=10.0, shear=0.2, aspect=(0.9, 1.1),
                     scale=rng.uniform(0.9, 1.1))
    matrix[:, 2] += rng.uniform(-2.5, 2.5, size=2)
    out = cv2.warpAffine(image, matrix, (GLYPH_SIZE, GLYPH_SIZE), flags=cv2.INTER_LINEAR)
    return np.clip(out, 0.0, 1.0)


def render_at_scan_scale(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The digit drawn large, distorted and binarised as a scan's ink mask (uint8 0/1)."""
    image = digit.astype(np.float32) / 255.0
    scale = rng.uniform(*SCAN_SCALE)
    size = max(GLYPH_SIZE, round(GLYPH_SIZE * scale))
    big = cv2.resize(image, (size, size), interpolation=cv2.INTER_CUBIC)
    pad = size // 2
    big = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0.0)
    canvas = big.shape[0]
    matrix = _affine(canvas, rng, ROTATION_DEG, SHEAR, ASPECT_RANGE)
    warped = cv2.warpAffine(big, matrix, (canvas, canvas), flags=cv2.INTER_LINEAR)
    if rng.random() < P_BLUR:
        warped = cv2.GaussianBlur(warped, (0, 0), rng.uniform(*BLUR_SIGMA) * scale / 2.0)
    mask = (warped > rng.uniform(*BINARISE_LEVEL)).astype(np.uint8)
    if not mask.any():  # too high a level for a faint digit: fall back to a safe one
        mask = (warped > 0.2).astype(np.uint8)
    radius = max(1, round(scale / 2.0))
    if rng.random() < P_PEN:  # the same digit written with another pen
        return redraw_with_pen(mask, int(rng.integers(2, max(3, round(PEN_SHARE * size)) + 1)))
    if rng.random() < P_DILATE:
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2))
    elif rng.random() < P_ERODE:
        eroded = cv2.erode(mask, np.ones((2, 2), np.uint8))
        if eroded.sum() > 0.5 * mask.sum():  # never erode a stroke away
            mask = eroded
    return mask


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def add_line_bit(mask: np.ndarray, rng: np.random.Generator, scale: float = 2.0) -> None:
    """Draw, in place, a short piece of box line touching one side of the glyph."""
    top, bottom, left, right = _bbox(mask)
    thickness = int(rng.integers(1, max(2, round(scale)) + 1))
    side = rng.integers(4)
    if side < 2:  # top or bottom edge: horizontal bit
        width = right - left
        length = max(3, int(width * rng.uniform(0.15, 0.7)))
        x0 = int(left + rng.uniform(-0.1, 0.9) * width)
        y = top + int(rng.integers(-1, 2)) if side == 0 else bottom - 1 + int(rng.integers(-1, 2))
        cv2.line(mask, (x0, y), (x0 + length, y), 1, thickness)
    else:  # left or right edge: vertical bit
        height = bottom - top
        length = max(3, int(height * rng.uniform(0.1, 0.35)))
        y0 = int(top + rng.uniform(-0.05, 0.95) * height)
        x = left + int(rng.integers(-1, 2)) if side == 2 else right - 1 + int(rng.integers(-1, 2))
        cv2.line(mask, (x, y0), (x, y0 + length), 1, thickness)


def clip_side(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Cut a thin slice off one side of the glyph, as a cell wall crossing it would."""
    top, bottom, left, right = _bbox(mask)
    fraction = rng.uniform(*CLIP_FRACTION)
    out = mask.copy()
    side = rng.integers(4)
    if side == 0:
        out[: top + int((bottom - top) * fraction)] = 0
    elif side == 1:
        out[bottom - int((bottom - top) * fraction):] = 0
    elif side == 2:
        out[:, : left + int((right - left) * fraction)] = 0
    else:
        out[:, right - int((right - left) * fraction):] = 0
    return out if out.sum() > 0.7 * mask.sum() else mask


def add_specks(mask: np.ndarray, rng: np.random.Generator) -> None:
    """A few tiny dots close to the glyph, as scan noise that survived speck removal."""
    top, bottom, left, right = _bbox(mask)
    for _ in range(int(rng.integers(1, 3))):
        y = int(rng.uniform(top, bottom))
        x = int(rng.uniform(left, right))
        cv2.circle(mask, (x, y), int(rng.integers(0, 2)), 1, -1)


def add_edge_noise(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Flip some pixels on the stroke edges, as binarising a noisy scan does."""
    kernel = np.ones((3, 3), np.uint8)
    edge = cv2.dilate(mask, kernel) - cv2.erode(mask, kernel)
    flips = (rng.random(mask.shape) < 0.15) & (edge > 0)
    return np.where(flips, 1 - mask, mask).astype(np.uint8)


def scan_like(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 28×28 MNIST digit turned into what the pipeline would cut from a scan of it."""
    mask = render_at_scan_scale(digit, rng)
    return scanned_glyph(mask, rng, mask.shape[0] / (2 * GLYPH_SIZE))


def hand_glyph(hands: object, digit: int, rng: np.random.Generator) -> np.ndarray:
    """A digit drawn by another writer set (`synth.hands`: UNIPEN's pen strokes with any pen,
    optdigits, regional letter-forms), at scan size, then cut as a scan's glyph is."""
    from synth.hands import continental

    height = int(rng.integers(*HAND_HEIGHT))
    pen = max(1.0, height * float(rng.uniform(*HAND_PEN_SHARE)))
    alpha = continental(hands.draw(digit, height, pen, rng), digit, pen, rng)  # type: ignore[attr-defined]
    mask = (alpha > rng.uniform(0.3, 0.6)).astype(np.uint8)
    if not mask.any():
        mask = (alpha > 0.1).astype(np.uint8)
    return scanned_glyph(mask, rng, height / (2 * GLYPH_SIZE))


def scanned_glyph(mask: np.ndarray, rng: np.random.Generator, scale: float) -> np.ndarray:
    """An ink mask drawn at scan scale, with what segmentation leaves on glyphs, made 28×28."""
    if rng.random() < P_EDGE_NOISE:
        mask = add_edge_noise(mask, rng)
    if rng.random() < P_CLIP:
        mask = clip_side(mask, rng)
    if rng.random() < P_LINE_BIT:
        add_line_bit(mask, rng, scale)
    if rng.random() < P_SPECK:
        add_specks(mask, rng)
    return to_mnist(mask)
