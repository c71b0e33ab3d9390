"""Page images for people: field crops for review and page views for the batch page.

Pages are rendered from the stored original exactly as the worker read them (same rasteriser,
same resolution), so the boxes on record fall where they should. A few recent pages are kept
decoded, so stepping through the fields of one page does not decode it again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import cv2
import numpy as np

from core.files import Limits, flatten, page
from core.settings import Settings
from core.storage import Storage

CACHED_PAGES = 6  # a reviewer's next fields are mostly on the same few pages
CACHE_BYTES = 200_000_000  # ... but never more than this of decoded pages per web process
CROP_MARGIN = 0.25  # of the field's height, around the field, so the reviewer sees context
MIN_CROP_HEIGHT = 160  # crops are shown large: small fields are scaled up to this
MAX_VIEW_WIDTH = 2000

_cache: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()
_lock = threading.Lock()


def displayable(pixels: np.ndarray) -> np.ndarray:
    """uint8 RGB or grey, whatever the page's original type."""
    return flatten(pixels)


def page_pixels(settings: Settings, sha256: str, kind: str, number: int) -> np.ndarray:
    key = (sha256, number)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    limits = Limits.of(settings)
    pixels = displayable(page(Storage(settings.originals_dir).path(sha256), kind, number, limits))
    with _lock:
        _cache[key] = pixels
        while len(_cache) > CACHED_PAGES or (len(_cache) > 1 and _cached_bytes() > CACHE_BYTES):
            _cache.popitem(last=False)
    return pixels


def _cached_bytes() -> int:
    return sum(p.nbytes for p in _cache.values())


def encode_png(pixels: np.ndarray) -> bytes:
    bgr = pixels[..., ::-1] if pixels.ndim == 3 else pixels
    ok, data = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise ValueError("the image could not be encoded")
    return data.tobytes()


def encode_jpeg(pixels: np.ndarray, quality: int = 85) -> bytes:
    bgr = pixels[..., ::-1] if pixels.ndim == 3 else pixels
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("the image could not be encoded")
    return data.tobytes()


def crop(pixels: np.ndarray, x: int, y: int, width: int, height: int) -> np.ndarray:
    """The field with a margin around it, scaled up when small."""
    margin = int(CROP_MARGIN * height) + 4
    h, w = pixels.shape[:2]
    x0, y0 = max(0, x - margin), max(0, y - margin)
    x1, y1 = min(w, x + width + margin), min(h, y + height + margin)
    region = pixels[y0:y1, x0:x1]
    if region.size == 0:
        return np.full((MIN_CROP_HEIGHT, MIN_CROP_HEIGHT), 255, np.uint8)
    if region.shape[0] < MIN_CROP_HEIGHT:
        scale = MIN_CROP_HEIGHT / region.shape[0]
        region = cv2.resize(region, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    return region


def view(pixels: np.ndarray, max_width: int) -> tuple[np.ndarray, float]:
    """The page scaled down to `max_width` (never up); returns the image and the scale."""
    width = max(100, min(max_width, MAX_VIEW_WIDTH))
    h, w = pixels.shape[:2]
    if w <= width:
        return pixels, 1.0
    scale = width / w
    return cv2.resize(pixels, (width, max(1, round(h * scale))), interpolation=cv2.INTER_AREA), scale
