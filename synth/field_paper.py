"""The paper under a synthetic field image and the scanner that sees it: a cheque's security
print (guilloche waves, hatching, tint), printed rules around the amount, then blur, noise, lost
resolution, bilevel thresholding and JPEG (`scan_field`). Used by `synth.strings`."""

from __future__ import annotations

import math

import cv2
import numpy as np


def security_paper(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Darkness (0..1) of a cheque's printed background: guilloche waves, hatching, tint."""
    out = np.zeros((h, w), np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for _ in range(int(rng.integers(1, 4))):
        angle = rng.uniform(-0.6, 0.6) + (math.pi / 2 if rng.random() < 0.15 else 0.0)
        period = rng.uniform(2.5, 9.0)
        wave_len = rng.uniform(20, 120)
        amplitude = rng.uniform(0.0, 6.0)
        u = xx * math.cos(angle) + yy * math.sin(angle)
        v = -xx * math.sin(angle) + yy * math.cos(angle)
        phase = v + amplitude * np.sin(2 * math.pi * u / wave_len + rng.uniform(0, 6.3))
        lines = 0.5 + 0.5 * np.cos(2 * math.pi * phase / period)
        sharp = lines ** rng.uniform(1.0, 8.0)
        out += sharp * rng.uniform(0.04, 0.22)
    if rng.random() < 0.4:  # a tint varying slowly across the paper
        small = rng.random((max(2, h // 16), max(2, w // 16))).astype(np.float32)
        out += cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC) * rng.uniform(0.02, 0.1)
    return np.clip(out, 0, 1)


def printed_lines(h: int, w: int, baseline: int, top: int, rng: np.random.Generator) -> np.ndarray:
    """Printed rules around the amount: a line to write on, the box's edges cut in the crop."""
    out = np.zeros((h, w), np.float32)
    thick = int(rng.integers(1, 3))
    level = rng.uniform(0.3, 0.9)
    if rng.random() < 0.45:  # the line written on, at or just under the baseline
        y = min(h - thick, max(0, baseline + int(rng.integers(-2, max(3, h // 8)))))
        out[y : y + thick] = level
    if rng.random() < 0.25:
        y = max(0, min(h - thick, top - int(rng.integers(0, max(2, h // 6)))))
        out[y : y + thick] = level
    if rng.random() < 0.2:  # the crop's edge runs along the field's frame
        edge = int(rng.integers(0, 2))
        out[(0 if edge == 0 else h - thick) :][:thick] = level
    if rng.random() < 0.15:
        x = int(rng.integers(0, max(1, w // 10)))
        out[:, x : x + thick] = level
    if rng.random() < 0.1:
        x = w - 1 - int(rng.integers(0, max(1, w // 10)))
        out[:, max(0, x - thick) : x] = level
    return out


def scan_field(ink: np.ndarray, baseline: int, top: int, rng: np.random.Generator) -> np.ndarray:
    """Paper, print and ink composed, then seen by a scanner: blur, noise, resolution, JPEG."""
    h, w = ink.shape
    paper_level = rng.uniform(0.55, 1.0) if rng.random() < 0.7 else rng.uniform(0.85, 1.0)
    background = np.zeros((h, w), np.float32)
    if rng.random() < 0.6:
        background = security_paper(h, w, rng)
    background = np.maximum(background, printed_lines(h, w, baseline, top, rng))
    ink_level = rng.uniform(0.55, 0.97)
    darkness = 1 - (1 - background) * (1 - ink * ink_level)
    image = paper_level * (1 - darkness)
    if rng.random() < 0.3:  # uneven light
        gx = np.linspace(-1, 1, w, dtype=np.float32)[None, :] * rng.uniform(-0.12, 0.12)
        image = image * (1 + gx)
    if rng.random() < 0.7:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.3, 1.2))
    if rng.random() < 0.3:  # a coarser scan: resolution lost, then the field enlarged again
        factor = rng.uniform(0.4, 0.8)
        small = cv2.resize(image, (max(4, int(w * factor)), max(4, int(h * factor))),
                           interpolation=cv2.INTER_AREA)
        image = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    image = image + rng.normal(0, rng.uniform(0.0, 0.05), image.shape).astype(np.float32)
    if rng.random() < 0.08:  # a bilevel scan, thresholded between the ink's level and the paper's
        level = paper_level * (1 - ink_level * rng.uniform(0.3, 0.7))
        image = np.where(image > level, 1.0, 0.0).astype(np.float32)
    out = np.clip(image * 255, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        quality = int(rng.integers(30, 95))
        ok, data = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:
            out = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
    return out
