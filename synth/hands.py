"""Handwritten digits from several sets of writers, drawn at any size with any pen.

Three sources, each split by WRITER so that a test can use hands the training never saw:
- MNIST (images; its own split: training digits for training, test digits for tests);
- UNIPEN (pen trajectories from 268+ writers at 17 institutions): redrawn with any pen
  width, slant and size, which MNIST's fixed rendering cannot give;
- optdigits (32×32 bitmaps, 43 writers; its part 2 is 13 writers of their own).

Every `Hand` draws a digit as a float alpha image (ink = 1) `height` pixels tall with strokes
about `pen` pixels wide. Writers outside MNIST often cross their 7s and put a long flag on
their 1s (Latin America, Europe); `continental` adds those strokes to a drawn digit.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from synth.render import digit_alpha

DEFAULT_WRITERS_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "writers"
# Share of UNIPEN's writers (by a hash of institution and writer id, so the split never
# changes) kept out of every training run: half of them to calibrate confidences on, half to
# test on (the held-out-writer figures of `make eval-real`).
HELD_OUT_SHARE = 0.2
PARTS = ("train", "calibration", "test")
SUPERSAMPLE = 3  # strokes are drawn this much larger, then shrunk: anti-aliased, sub-pixel pens
MAX_TRACE_ASPECT = 2.5  # a trace wider than this × its height is drawn as if this wide
P_CROSSED_SEVEN = 0.35  # of 7s, crossed with a bar (common on Latin American cheques)
P_FLAGGED_ONE = 0.45  # of 1s, given a long flag when they have none
FLAG_LENGTH = (0.2, 0.75)  # of the digit's height
# The flag's angle from the vertical, going down to the left. Flatter than 55 degrees it is a
# 7's bar, not a 1's upstroke: drawn so on a plain upright 1 (pen 0.09 of its height, 40 px),
# the shipped glyph classifier read the UNIPEN test writers' 1s as 7 in 6-77% of draws at
# 70 degrees and at most 3% at 50; by eye too they are 7s. Up to 2026-12-06 flags went to 70
# degrees: of 2,000 1s drawn by the test hands (`HandDigits`), 3.6% were read as 7 (0.4% since;
# 0.35% with no flag flatter than 20 degrees): 7s labelled 1 on the hard pages and in the
# synthetic fields (README, "Flagged ones that were sevens").
FLAG_ANGLE_DEG = (20.0, 55.0)
# A UNIPEN trajectory labelled anything but 1 whose points all lie near one straight line (the
# lesser spread of its points under this share of the greater) has lost strokes in the data
# set's segmentation: on 2026-12-06, 47 of UNIPEN's 15,953 digits (a 4 or a 0 left as "/",
# "|", "-" or a dot; 4 of them by the test writers, 2.2% of their 4s), every one of them
# looked at by eye. Between 0.1 and 0.2 lie 18 more, 16 of them whole narrow 8s, 6s, 3s and 9s.
LOST_STROKES_SPREAD = 0.1


class Hand(Protocol):
    def draw(self, digit: int, height: int, pen: float, rng: np.random.Generator) -> np.ndarray:
        """Alpha image (float32, ink = 1) of `digit`, `height` px tall, pen about `pen` px."""


def writers_dir() -> Path:
    """Where the writer sets are: $WRITERS_DIR, else `../shared/data/writers` beside the project."""
    return Path(os.environ.get("WRITERS_DIR") or DEFAULT_WRITERS_DIR)


def writer_part(key: str) -> str:
    """Which part a writer (e.g. "ibm/abc") belongs to — train, calibration or test — by a
    stable hash of the key."""
    digest = hashlib.sha1(key.encode()).digest()
    if digest[0] >= HELD_OUT_SHARE * 256:
        return "train"
    return "calibration" if digest[1] % 2 == 0 else "test"


class BitmapHand:
    """Digits from bitmaps with ink bright (MNIST's convention): resized, pen brought close."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images = images
        self.by_label = [np.flatnonzero(labels == d) for d in range(10)]
        if any(len(b) == 0 for b in self.by_label):
            raise ValueError("every digit needs at least one bitmap")

    def __len__(self) -> int:
        return len(self.images)

    def draw(self, digit: int, height: int, pen: float, rng: np.random.Generator) -> np.ndarray:
        choices = self.by_label[digit]
        image = self.images[choices[int(rng.integers(len(choices)))]]
        return digit_alpha(image, max(4, height), pen, rng)


@dataclass(frozen=True)
class Strokes:
    """UNIPEN's digits: points (M×2, y down), stroke offsets, digit offsets, labels, writers."""

    pts: np.ndarray
    stroke_off: np.ndarray
    digit_off: np.ndarray
    labels: np.ndarray
    writers: tuple[str, ...]

    def strokes(self, i: int) -> list[np.ndarray]:
        first, last = self.digit_off[i], self.digit_off[i + 1]
        return [self.pts[self.stroke_off[j] : self.stroke_off[j + 1]] for j in range(first, last)]


def lost_strokes(data: Strokes) -> np.ndarray:
    """Which trajectories are not the digit of their label: strokes lost, what is left one
    straight line (LOST_STROKES_SPREAD). No reader could read them right; drawn on a test page
    they are errors of the truth, and in training they teach that a bar may be a 4."""
    # The spreads are the square roots of the eigenvalues of each trajectory's 2×2 covariance,
    # from sums over its points (all trajectories at once: ~10 ms, against ~0.4 s point by point).
    counts = data.stroke_off[data.digit_off[1:]] - data.stroke_off[data.digit_off[:-1]]
    owner = np.repeat(np.arange(len(counts)), counts)  # the trajectory of each point, in order
    points = data.pts[data.stroke_off[data.digit_off[0]] : data.stroke_off[data.digit_off[-1]]]
    x, y = points[:, 0].astype(np.float64), points[:, 1].astype(np.float64)
    n = np.maximum(counts, 1).astype(np.float64)

    def mean(values: np.ndarray) -> np.ndarray:
        return np.bincount(owner, weights=values, minlength=len(counts)) / n

    mean_x, mean_y = mean(x), mean(y)
    var_x, var_y = mean(x * x) - mean_x**2, mean(y * y) - mean_y**2
    cov = mean(x * y) - mean_x * mean_y
    half_trace, gap = (var_x + var_y) / 2, np.sqrt(((var_x - var_y) / 2) ** 2 + cov**2)
    greater, lesser = np.sqrt(np.maximum(half_trace + gap, 0)), np.sqrt(np.maximum(half_trace - gap, 0))
    straight = (lesser < LOST_STROKES_SPREAD * greater) | (greater == 0) | (counts < 2)
    return straight & (data.labels != 1)


def part_indices(data: Strokes, part: str) -> np.ndarray:
    """The trajectories of `part`'s writers (train, calibration or test), those with lost
    strokes left out."""
    lost = lost_strokes(data)
    return np.array([i for i, w in enumerate(data.writers) if writer_part(w) == part and not lost[i]],
                    np.int64)


def load_unipen(folder: Path | None = None) -> Strokes:
    folder = Path(folder or writers_dir()) / "unipen_1a"
    with np.load(folder / "strokes.npz") as data:
        pts, stroke_off, digit_off = data["pts"], data["stroke_off"], data["digit_off"]
    labels = np.load(folder / "labels.npy")
    info = json.loads((folder / "info.json").read_text())
    writers = tuple(f"{institution}/{writer}" for institution, _, writer, _ in info)
    return Strokes(pts, stroke_off, digit_off, labels, writers)


class StrokeHand:
    """UNIPEN digits redrawn: scaled to the height, slanted, with a round pen of any width."""

    def __init__(self, data: Strokes, indices: Sequence[int] | np.ndarray) -> None:
        self.data = data
        indices = np.asarray(indices)
        self.by_label = [indices[data.labels[indices] == d] for d in range(10)]
        if any(len(b) == 0 for b in self.by_label):
            raise ValueError("every digit needs at least one trajectory")
        self.count = len(indices)

    def __len__(self) -> int:
        return self.count

    def draw(self, digit: int, height: int, pen: float, rng: np.random.Generator,
             slant: float | None = None) -> np.ndarray:
        choices = self.by_label[digit]
        strokes = self.data.strokes(int(choices[int(rng.integers(len(choices)))]))
        slant = float(rng.uniform(-0.12, 0.12)) if slant is None else slant  # the string leans too
        return draw_strokes(strokes, height, pen, slant, aspect=float(rng.uniform(0.8, 1.2)))


def draw_strokes(strokes: list[np.ndarray], height: int, pen: float, slant: float = 0.0,
                 aspect: float = 1.0) -> np.ndarray:
    """Pen trajectories (y down) drawn `height` px tall (ink box, pen included), sheared by
    `slant` (x moves by slant × height from bottom to top) and stretched across by `aspect`."""
    points = np.concatenate(strokes).astype(np.float64)
    y0, y1 = points[:, 1].min(), points[:, 1].max()
    x0 = points[:, 0].min()
    # A flat trace (a slip of the set, a dash) is not blown up to a page-wide line.
    span = max(y1 - y0, (points[:, 0].max() - x0) / MAX_TRACE_ASPECT, 1.0)
    pen = max(0.6, float(pen))
    inner = max(2.0, height - pen)
    scale = inner / span
    s = SUPERSAMPLE
    shaped = []
    for stroke in strokes:
        p = stroke.astype(np.float64)
        x = (p[:, 0] - x0) * scale * aspect
        y = (p[:, 1] - y0) * scale
        x = x + slant * (inner - y)
        shaped.append(np.stack([x, y], axis=1))
    allx = np.concatenate([p[:, 0] for p in shaped])
    left = allx.min()
    width = allx.max() - left
    pad = pen / 2 + 1
    canvas = np.zeros((round((inner + 2 * pad) * s), round((width + 2 * pad) * s) + 1), np.uint8)
    thickness = max(1, round(pen * s))
    for p in shaped:
        q = np.round(((p - [left, 0.0]) + pad) * s).astype(np.int32).reshape(-1, 1, 2)
        if len(q) == 1 or np.ptp(q[:, 0, :], axis=0).max() == 0:
            cv2.circle(canvas, tuple(int(v) for v in q[0, 0]), max(1, thickness // 2), 255, -1,
                       cv2.LINE_AA)
        else:
            cv2.polylines(canvas, [q], False, 255, thickness, cv2.LINE_AA)
    out_w = max(1, round(canvas.shape[1] / s))
    out_h = max(1, round(canvas.shape[0] / s))
    return cv2.resize(canvas, (out_w, out_h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255


class Mixture:
    """Several hands, one picked per digit by weight (or once per string: `pick`)."""

    def __init__(self, hands: Sequence[Hand], weights: Sequence[float]) -> None:
        self.hands = list(hands)
        total = float(sum(weights))
        self.weights = np.asarray(weights, np.float64) / total

    def pick(self, rng: np.random.Generator) -> Hand:
        return self.hands[int(rng.choice(len(self.hands), p=self.weights))]

    def draw(self, digit: int, height: int, pen: float, rng: np.random.Generator) -> np.ndarray:
        return self.pick(rng).draw(digit, height, pen, rng)


def continental(alpha: np.ndarray, digit: int, pen: float, rng: np.random.Generator,
                p_seven: float = P_CROSSED_SEVEN, p_one: float = P_FLAGGED_ONE) -> np.ndarray:
    """Sometimes cross a 7 with a bar, or give a 1 a long flag, as many writers do."""
    if digit == 7 and rng.random() < p_seven:
        return _cross_seven(alpha, pen, rng)
    if digit == 1 and rng.random() < p_one:
        return _flag_one(alpha, pen, rng)
    return alpha


def _cross_seven(alpha: np.ndarray, pen: float, rng: np.random.Generator) -> np.ndarray:
    h, w = alpha.shape
    row = int(h * rng.uniform(0.45, 0.62))
    cols = np.flatnonzero(alpha[row] > 0.5)
    if cols.size == 0:
        return alpha
    centre = float(cols.mean())
    half = h * rng.uniform(0.14, 0.24)
    pad = int(math.ceil(max(0.0, half - centre, centre + half - w))) + 1
    out = cv2.copyMakeBorder(alpha, 0, 0, pad, pad, cv2.BORDER_CONSTANT, value=0.0)
    tilt = h * rng.uniform(-0.05, 0.05)
    p0 = (round((pad + centre - half) * 4), round((row + tilt) * 4))
    p1 = (round((pad + centre + half) * 4), round((row - tilt) * 4))
    return _line(out, p0, p1, pen)


def _flag_one(alpha: np.ndarray, pen: float, rng: np.random.Generator) -> np.ndarray:
    h, w = alpha.shape
    rows = np.flatnonzero(alpha.max(axis=1) > 0.5)
    if rows.size == 0:
        return alpha
    top = int(rows[0])
    cols = np.flatnonzero(alpha[top] > 0.5)
    tip = float(cols.mean())
    length = h * rng.uniform(*FLAG_LENGTH)
    angle = math.radians(rng.uniform(*FLAG_ANGLE_DEG))  # from the vertical, down to the left
    dx, dy = length * math.sin(angle), length * math.cos(angle)
    pad = int(math.ceil(max(0.0, dx - tip))) + 1
    out = cv2.copyMakeBorder(alpha, 0, 0, pad, 0, cv2.BORDER_CONSTANT, value=0.0)
    p0 = (round((pad + tip) * 4), round(top * 4))
    p1 = (round((pad + tip - dx) * 4), round((top + dy) * 4))
    return _line(out, p0, p1, pen)


def _line(alpha: np.ndarray, p0: tuple[int, int], p1: tuple[int, int], pen: float) -> np.ndarray:
    """`alpha` with a pen line from p0 to p1 (coordinates ×4, sub-pixel)."""
    layer = np.zeros(alpha.shape, np.uint8)
    cv2.line(layer, p0, p1, 255, max(1, round(pen)), cv2.LINE_AA, shift=2)
    return np.maximum(alpha, layer.astype(np.float32) / 255)


@dataclass(frozen=True)
class Writers:
    """The hands of one part of the split (train, calibration or test), ready to draw."""

    mnist: BitmapHand | None
    unipen: StrokeHand | None
    optdigits: BitmapHand | None

    def mixture(self, weights: tuple[float, float, float, float] = (0.3, 0.42, 0.13, 0.15),
                styles: bool = True) -> Mixture:
        """The writer sets mixed by weight (MNIST, UNIPEN, optdigits, regional letter-forms
        drawn from templates: `styles=False` leaves those out)."""
        hands: list[Hand | None] = [self.mnist, self.unipen, self.optdigits,
                                    TemplateHand(self.unipen) if styles and self.unipen else None]
        pairs = [(h, w) for h, w in zip(hands, weights) if h is not None]
        return Mixture([h for h, _ in pairs], [w for _, w in pairs])


def optdigits_bitmaps(parts: Sequence[int], folder: Path | None = None) -> BitmapHand:
    """optdigits' bitmaps of the given parts (0, 1: training writers; 2: other writers), inverted
    to MNIST's convention (ink bright) and padded like MNIST's 20-in-28."""
    with np.load(Path(folder or writers_dir()) / "optdigits" / "optdigits.npz") as data:
        keep = np.isin(data["part"], parts)
        images, labels = data["images"][keep], data["labels"][keep]
    ink = 255 - images
    ink = np.pad(ink, ((0, 0), (6, 6), (6, 6)))
    return BitmapHand(ink, labels)


# optdigits' parts by our split: its training writers' training digits to train on, the same
# writers' validation digits to calibrate on, its 13 other writers to test on.
OPTDIGITS_PARTS = {"train": (0,), "calibration": (1,), "test": (2,)}


def load_writers(part: str, mnist_images: np.ndarray | None = None,
                 mnist_labels: np.ndarray | None = None, folder: Path | None = None) -> Writers:
    """The hands of `part` (train, calibration or test): UNIPEN's writers of that part and
    optdigits' (OPTDIGITS_PARTS); MNIST as given (its training digits for training, its test
    digits otherwise)."""
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}")
    unipen = load_unipen(folder)
    chosen = part_indices(unipen, part)
    mnist = BitmapHand(mnist_images, mnist_labels) if mnist_images is not None else None
    return Writers(mnist, StrokeHand(unipen, chosen), optdigits_bitmaps(OPTDIGITS_PARTS[part], folder))


class HandDigits:
    """A page generator's digit source (`synth.render.DigitSource`'s `pick`) drawing from
    hands instead of MNIST's images: each digit drawn, then made a 28×28 MNIST-style image
    (ink bright) that the page generator redraws with its own pen."""

    SIZE = 40  # drawn this tall before being fitted into MNIST's 20×20

    def __init__(self, hands: Mixture) -> None:
        self.hands = hands

    def pick(self, digit: int, rng: np.random.Generator) -> np.ndarray:
        from segmentation.glyph import to_mnist

        alpha = self.hands.draw(digit, self.SIZE, self.SIZE * float(rng.uniform(0.06, 0.12)), rng)
        alpha = continental(alpha, digit, 3.0, rng)
        return (to_mnist(alpha) * 255).astype(np.uint8)


# Letter-forms taught in Latin American and European schools that neither MNIST nor UNIPEN
# holds often: control points of each stroke (x right, y down, the digit 1 tall), smoothed
# into curves and jittered at every draw. Seen on cheques: the 5 written as a check mark under
# its bar ("√‾"), the 2 with a loop at its foot, zeros wide or left open at the top, the 8
# as an S closed by a diagonal, the 4 open at the top, the 1 with a long flag and a foot.
STYLE_TEMPLATES: dict[int, list[list[list[tuple[float, float]]]]] = {
    0: [[[(0.35, 0.02), (0.05, 0.3), (0.08, 0.8), (0.45, 0.98), (0.8, 0.7), (0.75, 0.15), (0.4, 0.0)]],
        [[(0.5, 0.05), (0.1, 0.2), (0.0, 0.6), (0.35, 0.98), (0.95, 0.75), (1.0, 0.3), (0.7, 0.03)]],
        [[(0.6, 0.1), (0.3, 0.0), (0.05, 0.4), (0.2, 0.95), (0.6, 0.95), (0.75, 0.5), (0.62, 0.12)]]],
    1: [[[(0.0, 0.45), (0.35, 0.0), (0.32, 1.0)]],
        [[(0.05, 0.3), (0.4, 0.0), (0.38, 1.0)], [(0.1, 1.0), (0.65, 0.98)]]],
    2: [[[(0.05, 0.25), (0.35, 0.0), (0.65, 0.2), (0.4, 0.65), (0.05, 0.95), (0.25, 0.8), (0.3, 0.97),
          (0.75, 0.95)]],
        [[(0.0, 0.3), (0.3, 0.02), (0.6, 0.15), (0.55, 0.45), (0.05, 1.0), (0.7, 0.97)]]],
    4: [[[(0.35, 0.0), (0.05, 0.65), (0.7, 0.62)], [(0.55, 0.25), (0.5, 1.0)]],
        [[(0.1, 0.0), (0.05, 0.55), (0.65, 0.55)], [(0.6, 0.0), (0.55, 1.0)]]],
    5: [[[(0.05, 0.55), (0.2, 0.98), (0.45, 0.05), (0.9, 0.0)]],
        [[(0.1, 0.5), (0.22, 0.95), (0.4, 0.55), (0.55, 0.05), (0.95, 0.02)]],
        [[(0.3, 0.02), (0.15, 0.45), (0.55, 0.45), (0.65, 0.75), (0.35, 1.0), (0.0, 0.85)],
         [(0.3, 0.02), (0.75, 0.0)]]],
    7: [[[(0.0, 0.12), (0.1, 0.0), (0.7, 0.02), (0.3, 1.0)], [(0.2, 0.55), (0.65, 0.5)]]],
    8: [[[(0.7, 0.1), (0.4, 0.0), (0.1, 0.15), (0.3, 0.45), (0.65, 0.7), (0.45, 1.0), (0.1, 0.85),
          (0.7, 0.05)]]],
    9: [[[(0.65, 0.15), (0.35, 0.0), (0.05, 0.25), (0.3, 0.5), (0.65, 0.3), (0.65, 0.05), (0.6, 1.0)]],
        [[(0.7, 0.2), (0.4, 0.0), (0.05, 0.2), (0.2, 0.48), (0.7, 0.25), (0.45, 1.0)]]],
}
TEMPLATE_JITTER = 0.045  # of the digit's height, per control point


def _smooth(points: np.ndarray, per_segment: int = 8) -> np.ndarray:
    """A Catmull-Rom curve through the control points."""
    if len(points) < 3:
        return points
    padded = np.vstack([points[0], points, points[-1]])
    t = np.linspace(0.0, 1.0, per_segment, endpoint=False)[:, None]
    out = []
    for i in range(1, len(padded) - 2):
        p0, p1, p2, p3 = padded[i - 1], padded[i], padded[i + 1], padded[i + 2]
        out.append(0.5 * (2 * p1 + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t ** 2
                          + (-p0 + 3 * p1 - 3 * p2 + p3) * t ** 3))
    out.append(points[-1:])
    return np.vstack(out)


class TemplateHand:
    """Digits in the regional letter-forms of STYLE_TEMPLATES, jittered at every draw, for the
    digits that have some; other digits come from `fallback`."""

    def __init__(self, fallback: Hand) -> None:
        self.fallback = fallback

    def draw(self, digit: int, height: int, pen: float, rng: np.random.Generator) -> np.ndarray:
        forms = STYLE_TEMPLATES.get(digit)
        if not forms:
            return self.fallback.draw(digit, height, pen, rng)
        form = forms[int(rng.integers(len(forms)))]
        scale = 100.0
        strokes = []
        for stroke in form:
            points = np.asarray(stroke, np.float64)
            points = points + rng.normal(0.0, TEMPLATE_JITTER, points.shape)
            points[:, 0] *= rng.uniform(0.8, 1.3)
            strokes.append(_smooth(points) * scale)
        return draw_strokes(strokes, height, pen, float(rng.uniform(-0.15, 0.15)), 1.0)
