"""A field's box as segmentation found it: the upright frame it was measured in, its line
and wall bands, and the page geometry that cutting and reading share."""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

MAX_SKEW_DEG = 15.0  # boxes leaning more than this are not trusted for the page skew


@dataclass(frozen=True)
class Frame:
    """A region of the page turned upright: page → frame is `matrix` (2×3, page coordinates)."""

    matrix: np.ndarray
    size: tuple[int, int]  # width, height

    def to_page(self, points: np.ndarray) -> np.ndarray:
        inverse = cv2.invertAffineTransform(self.matrix)
        pts = np.asarray(points, np.float64).reshape(-1, 2)
        return pts @ inverse[:, :2].T + inverse[:, 2]

    def box_to_page(self, x0: float, y0: float, x1: float, y1: float) -> tuple[int, int, int, int]:
        """Axis-aligned page box around a frame rectangle (what a person sees on the scan)."""
        pts = self.to_page(np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]]))
        px0, py0 = np.floor(pts.min(axis=0)).astype(int)
        px1, py1 = np.ceil(pts.max(axis=0)).astype(int)
        return int(px0), int(py0), int(px1 - px0), int(py1 - py0)

    def warp(self, image: np.ndarray, interpolation: int = cv2.INTER_LINEAR,
             border: float = 0) -> np.ndarray:
        return cv2.warpAffine(image, self.matrix, self.size, flags=interpolation,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=border)


@dataclass(frozen=True)
class Structure:
    """One field's box in its upright frame: line bands as (first, last) pixel, inclusive, and
    the frame's darkness (0 = paper, 1 = black) for cutting the glyphs."""

    frame: Frame
    top: tuple[int, int]
    bottom: tuple[int, int]
    walls: tuple[tuple[int, int], ...]  # left edge, dividers..., right edge (column bands)
    skew_deg: float
    darkness: np.ndarray = dataclasses.field(repr=False, compare=False, default=None)  # type: ignore[assignment]
    vertical_stack: bool = False  # one of several cells stacked vertically: a page on its side
    square: bool = True  # sharp inside corners, as drawn boxes have (a digit's loop has not)

    @property
    def kind(self) -> str:
        return "comb" if len(self.walls) > 2 else "box"

    @property
    def outer(self) -> tuple[int, int, int, int]:
        """x0, y0, x1, y1 of the outer edges, in the frame (exclusive end)."""
        return self.walls[0][0], self.top[0], self.walls[-1][1] + 1, self.bottom[1] + 1

    @functools.cached_property
    def page_box(self) -> tuple[int, int, int, int]:
        """The box on the page as given (computed once: duplicate and nesting checks ask often)."""
        return self.frame.box_to_page(*self.outer)

    @property
    def inside_height(self) -> int:
        """Rows between the top line and the bottom one."""
        return self.bottom[0] - self.top[1] - 1

    def cells(self) -> list[tuple[int, int, int, int]]:
        """Cell interiors x0, y0, x1, y1 in the frame (exclusive end)."""
        return [(a[1] + 1, self.top[1] + 1, b[0], self.bottom[0])
                for a, b in zip(self.walls, self.walls[1:])]


def upright_frame(region: tuple[int, int, int, int], skew_deg: float) -> Frame:
    """Frame turning the page region (x0, y0, x1, y1) by -skew about its centre, with room."""
    x0, y0, x1, y1 = region
    w, h = x1 - x0, y1 - y0
    rad = math.radians(abs(skew_deg))
    out_w = int(math.ceil(w * math.cos(rad) + h * math.sin(rad))) + 2
    out_h = int(math.ceil(h * math.cos(rad) + w * math.sin(rad))) + 2
    centre = (x0 + w / 2.0, y0 + h / 2.0)
    matrix = cv2.getRotationMatrix2D(centre, skew_deg, 1.0)
    matrix[0, 2] += out_w / 2.0 - centre[0]
    matrix[1, 2] += out_h / 2.0 - centre[1]
    return Frame(matrix, (out_w, out_h))


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two (x, y, width, height) boxes."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = min(ax + aw, bx + bw) - max(ax, bx)
    h = min(ay + ah, by + bh) - max(ay, by)
    inter = max(0, w) * max(0, h)
    return inter / float(aw * ah + bw * bh - inter)


def page_skew(structures: list[Structure]) -> float:
    """The page's skew: the width-weighted median lean of its boxes (0 when there are none)."""
    usable = [s for s in structures if abs(s.skew_deg) <= MAX_SKEW_DEG]
    if not usable:
        return 0.0
    order = sorted(usable, key=lambda s: s.skew_deg)
    weights = np.cumsum([s.outer[2] - s.outer[0] for s in order], dtype=np.float64)
    return float(order[int(np.searchsorted(weights, weights[-1] / 2))].skew_deg)
