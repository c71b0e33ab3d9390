"""Drawing primitives for synthetic scans: handwritten digits from MNIST, printed text, boxes.

Everything is drawn as an alpha (coverage) layer in page pixels; `pages.py` composes the layers
in colour and then degrades the page the way scanners do.
"""

from __future__ import annotations

import cv2
import numpy as np

from segmentation.glyph import skeleton

MAX_THICKEN_PX = 3  # a felt tip over a fine MNIST stroke
MAX_THIN_PX = 3  # a fine pen over a bold MNIST stroke
KEEP_WHEN_THINNING = 0.5  # thinning that removes more than half the ink breaks the digit
HERSHEY_PRINT_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
                       cv2.FONT_HERSHEY_TRIPLEX)


class DigitSource:
    """Handwritten digits drawn from MNIST's TEST set only: the model never trained on them."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images = images
        self.by_label = [np.flatnonzero(labels == d) for d in range(10)]

    def pick(self, digit: int, rng: np.random.Generator) -> np.ndarray:
        choices = self.by_label[digit]
        return self.images[choices[int(rng.integers(len(choices)))]]


def mm(value: float, dpi: int) -> int:
    return max(1, round(value * dpi / 25.4))


def digit_alpha(digit: np.ndarray, height: int, pen: float, rng: np.random.Generator) -> np.ndarray:
    """A 28×28 MNIST digit drawn `height` px tall, its strokes brought towards a pen about `pen`
    px wide (float alpha). The digit's own shape is kept: the strokes are thinned or thickened
    by at most a few pixels, never redrawn, so a bold loop stays a loop."""
    image = digit.astype(np.float32) / 255.0
    rows = np.flatnonzero(image.max(axis=1) > 0.1)
    cols = np.flatnonzero(image.max(axis=0) > 0.1)
    crop = image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    scale = height / crop.shape[0]
    width = max(1, round(crop.shape[1] * scale * rng.uniform(0.9, 1.1)))
    big = np.clip(cv2.resize(crop, (width, height), interpolation=cv2.INTER_CUBIC), 0, 1)
    mask = (big > 0.45).astype(np.uint8)
    if not mask.any():
        mask = (big > 0.1).astype(np.uint8)
    pad = 2 + MAX_THICKEN_PX
    mask = cv2.copyMakeBorder(mask, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    mask = _towards_pen(mask, pen)
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 0.7)
    return alpha * rng.uniform(0.85, 1.0)


def stroke_width(mask: np.ndarray) -> float:
    """Typical stroke width of a 0/1 mask: twice the median distance to paper on its skeleton."""
    skeleton_px = skeleton(mask) > 0
    if not skeleton_px.any():
        return 0.0
    inside = cv2.distanceTransform(mask, cv2.DIST_L2, 3)
    return float(2 * np.median(inside[skeleton_px]))


def _towards_pen(mask: np.ndarray, pen: float) -> np.ndarray:
    change = int(np.clip(round((pen - stroke_width(mask)) / 2), -MAX_THIN_PX, MAX_THICKEN_PX))
    if change > 0:
        return cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * change + 1,) * 2))
    for radius in range(-change, 0, -1):  # thin, but never so much that strokes break away
        thinner = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2))
        if thinner.sum() >= KEEP_WHEN_THINNING * mask.sum() and \
                cv2.connectedComponents(thinner)[0] <= cv2.connectedComponents(mask)[0]:
            return thinner
    return mask


def paste(layer: np.ndarray, alpha: np.ndarray, x: int, y: int) -> None:
    """Add `alpha` into `layer` at (x, y), clipped to the layer, keeping the darker coverage."""
    h, w = alpha.shape
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + w, layer.shape[1]), min(y + h, layer.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    region = layer[y0:y1, x0:x1]
    np.maximum(region, alpha[y0 - y : y1 - y, x0 - x : x1 - x], out=region)


def text(layer: np.ndarray, words: str, x: int, y: int, height: int, rng: np.random.Generator,
         bold: bool = False, font: int | None = None) -> int:
    """Printed text with its baseline at y, about `height` px tall; returns its width."""
    face = HERSHEY_PRINT_FONTS[int(rng.integers(len(HERSHEY_PRINT_FONTS)))] if font is None else font
    scale = height / 22.0  # Hershey capitals are ~22 px tall at scale 1
    thickness = max(1, round(height / (9 if bold else 16)))
    (width, above), below = cv2.getTextSize(words, face, scale, thickness)
    margin = thickness + 2
    canvas = np.zeros((above + below + 2 * margin, width + 2 * margin), np.uint8)
    cv2.putText(canvas, words, (margin, margin + above), face, scale, 255, thickness, cv2.LINE_AA)
    paste(layer, canvas.astype(np.float32) / 255.0, x - margin, y - above - margin)
    return width


def rectangle(layer: np.ndarray, x: int, y: int, w: int, h: int, thickness: int) -> None:
    """An outlined box whose OUTER edge is (x, y, w, h)."""
    half = thickness / 2.0
    cv2.rectangle(layer, (round(x + half - 0.5), round(y + half - 0.5)),
                  (round(x + w - half - 0.5), round(y + h - half - 0.5)), 1.0, thickness)


def vertical(layer: np.ndarray, x: int, y0: int, y1: int, thickness: int) -> None:
    """A vertical line whose LEFT edge is x."""
    layer[y0:y1, x : x + thickness] = 1.0


def horizontal(layer: np.ndarray, y: int, x0: int, x1: int, thickness: int) -> None:
    layer[y : y + thickness, x0:x1] = 1.0
