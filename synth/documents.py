"""Synthetic pages packed as the files people upload: PNG, JPEG, TIFF (multi-page), PDF, ZIP."""

from __future__ import annotations

import io
import zipfile

import numpy as np
from PIL import Image


def _image(page: np.ndarray) -> Image.Image:
    return Image.fromarray(page, "RGB" if page.ndim == 3 else "L")


def png_bytes(page: np.ndarray, dpi: int = 200) -> bytes:
    buffer = io.BytesIO()
    _image(page).save(buffer, "PNG", dpi=(dpi, dpi), compress_level=3)
    return buffer.getvalue()


def jpeg_bytes(page: np.ndarray, quality: int = 90, dpi: int = 200) -> bytes:
    buffer = io.BytesIO()
    _image(page).save(buffer, "JPEG", quality=quality, dpi=(dpi, dpi))
    return buffer.getvalue()


def tiff_bytes(pages: list[np.ndarray], dpi: int = 200, compression: str = "tiff_deflate") -> bytes:
    images = [_image(p) for p in pages]
    buffer = io.BytesIO()
    images[0].save(buffer, "TIFF", save_all=True, append_images=images[1:], dpi=(dpi, dpi),
                   compression=compression)
    return buffer.getvalue()


def pdf_bytes(pages: list[np.ndarray], dpi: int = 200) -> bytes:
    """A PDF with one scanned image per page, at `dpi` (a reader rendering it at another
    resolution scales every box by the ratio)."""
    images = [_image(p).convert("RGB") for p in pages]
    buffer = io.BytesIO()
    images[0].save(buffer, "PDF", save_all=True, append_images=images[1:], resolution=float(dpi))
    return buffer.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()
