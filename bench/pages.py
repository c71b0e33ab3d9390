"""Pages for `make bench`: files as a scanner room writes them, not only our own clean PNGs.

Two sets, both drawn from MNIST test digits by the page generator and then packed the way
scanners and capture software store them:
- `scanner_room`: a mix of JPEG (quality 75-95), noisy colour PNG, bilevel G4 TIFF at 300 dpi,
  multi-page PDF (one scanned image per page) and grey PNG, at 150-300 dpi;
- `noisy_pngs`: 200-dpi A4 pages as noisy colour PNG (~5 MB each), the kind a colour scanner
  writes without compression settings.
"""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

MIX = ("png-noisy", "jpeg", "tiff-g4", "pdf", "png-grey")  # one of each in turn
JPEG_QUALITIES = (75, 95)  # what scanners' "good" to "best" settings write
DPI_CHOICES = (150, 200, 300)
PDF_PAGES = 3  # pages of each multi-page PDF
# Sensor noise of a colour scanner without compression settings: the 60 pages were
# ~4.9 MB each at 200 dpi, which this sigma (of 255) gives to an A4 colour PNG.
SCANNER_NOISE = 0.03


@dataclass(frozen=True)
class BenchDocument:
    """One file to upload: its name, bytes, media type and how many pages it holds."""

    name: str
    data: bytes
    media_type: str
    pages: int
    kind: str  # which of MIX


def _draw(rng: np.random.Generator, digits: object, dpi: int, kind: str | None = None,
          **style: object) -> np.ndarray:
    from synth.pages import make_page
    from synth.scanner import random_style

    base = random_style(rng, dpi=dpi)
    base = dataclasses.replace(base, jpeg_quality=None, **style)  # packed below, not in the drawing
    return make_page(digits, rng, kind or str(rng.choice(("form", "order", "cheque"))), base).image


def _save(images: list[Image.Image], fmt: str, dpi: int, **options: object) -> bytes:
    buffer = io.BytesIO()
    images[0].save(buffer, fmt, dpi=(dpi, dpi), save_all=len(images) > 1,
                   append_images=images[1:], **options)
    return buffer.getvalue()


def _image(page: np.ndarray) -> Image.Image:
    return Image.fromarray(page, "RGB" if page.ndim == 3 else "L")


def scanner_room(count: int, seed: int = 11) -> list[BenchDocument]:
    """`count` documents of the mix, in turn (a PDF holds PDF_PAGES pages)."""
    import synth

    digits = synth.test_digits()
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        kind = MIX[i % len(MIX)]
        name = f"doc-{i:04d}-{kind}"
        if kind == "png-noisy":
            page = _draw(rng, digits, 200, "form", colour=True, noise_sigma=SCANNER_NOISE)
            out.append(BenchDocument(f"{name}.png", _save([_image(page)], "PNG", 200, compress_level=3),
                                     "image/png", 1, kind))
        elif kind == "jpeg":
            dpi = int(rng.choice(DPI_CHOICES))
            quality = int(rng.integers(JPEG_QUALITIES[0], JPEG_QUALITIES[1] + 1))
            page = _draw(rng, digits, dpi, colour=True)
            out.append(BenchDocument(f"{name}.jpg", _save([_image(page)], "JPEG", dpi, quality=quality),
                                     "image/jpeg", 1, kind))
        elif kind == "tiff-g4":
            page = _draw(rng, digits, 300, colour=False, bilevel=True,
                         box_rgb=(0.1, 0.1, 0.1))  # a bilevel scan drops light lines altogether
            bits = _image(page).convert("1", dither=Image.Dither.NONE)
            out.append(BenchDocument(f"{name}.tif", _save([bits], "TIFF", 300, compression="group4"),
                                     "image/tiff", 1, kind))
        elif kind == "pdf":
            dpi = int(rng.choice(DPI_CHOICES))
            images = [_image(_draw(rng, digits, dpi)).convert("RGB") for _ in range(PDF_PAGES)]
            buffer = io.BytesIO()
            images[0].save(buffer, "PDF", save_all=True, append_images=images[1:],
                           resolution=float(dpi), quality=90)
            out.append(BenchDocument(f"{name}.pdf", buffer.getvalue(), "application/pdf",
                                     PDF_PAGES, kind))
        else:
            dpi = int(rng.choice(DPI_CHOICES))
            page = _draw(rng, digits, dpi, colour=False)
            out.append(BenchDocument(f"{name}.png", _save([_image(page)], "PNG", dpi, compress_level=6),
                                     "image/png", 1, kind))
    return out


def noisy_pngs(count: int, seed: int = 13) -> list[BenchDocument]:
    """`count` 200-dpi A4 forms and order forms as noisy colour PNG."""
    import synth

    digits = synth.test_digits()
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        page = _draw(rng, digits, 200, ("form", "order")[i % 2], colour=True, noise_sigma=SCANNER_NOISE)
        out.append(BenchDocument(f"scan-{i:04d}.png", _save([_image(page)], "PNG", 200, compress_level=3),
                                 "image/png", 1, "png-noisy"))
    return out
