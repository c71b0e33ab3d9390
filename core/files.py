"""Recognising uploaded files and turning documents into page images.

Types are told by their first bytes, never by their names. PDFs are rasterised with PDFium
(pypdfium2) at the configured resolution; TIFF (one or many pages), PNG and JPEG are decoded
with Pillow. Sizes are checked from the headers before any pixel is decoded, so a
decompression bomb is refused before it takes memory.
"""

from __future__ import annotations

import struct
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from core.pdfrender import PAGE_TIMEOUT_S, Renderer, RenderError
from core.settings import Settings
from segmentation.prepare import darkest_channel

MEDIA_TYPES = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "tiff": "image/tiff",
    "pdf": "application/pdf",
    "zip": "application/zip",
}
POINTS_PER_INCH = 72.0
PDF_HEADER_WINDOW = 1024  # PDF readers accept "%PDF-" anywhere in the first kilobyte
# Only TIFF pages are pages: the extra frames of a PNG (APNG) or JPEG (MPO, as phones write
# them) are animations, previews, depth or gain maps of the one picture.
MULTI_PAGE_KINDS = ("tiff",)
# What Pillow raises on damaged data: those Image.open itself takes as "not this format"
# (SyntaxError, IndexError, TypeError, struct.error) and those of decoding.
PILLOW_ERRORS = (OSError, ValueError, SyntaxError, IndexError, TypeError, EOFError, struct.error)
# Why PDFium cannot open a PDF, by FPDF_ERR_* code (FPDF_ERR_PASSWORD is told on its own).
PDFIUM_ERRORS = {1: "unknown error", 2: "the file cannot be accessed", 3: "damaged or not a PDF",
                 5: "encrypted with an unsupported security scheme", 6: "damaged page tree"}

# Pillow's own bomb check is replaced by ours (a clear message naming the limit).
Image.MAX_IMAGE_PIXELS = None


class UnreadableFile(Exception):
    """The whole file cannot be read; the message says why (without the file's name)."""


@dataclass(frozen=True)
class Limits:
    max_pages: int = 200
    max_page_pixels: int = 40_000_000
    pdf_dpi: int = 200
    page_timeout_s: float = PAGE_TIMEOUT_S  # a PDF page's rendering budget (core.pdfrender)
    max_page_bytes: int = 200_000_000  # a page's pixels as decoded, before any conversion

    @staticmethod
    def of(settings: Settings) -> Limits:
        """The limits the service's settings set (web and worker must read pages alike)."""
        return Limits(settings.max_pages_per_document, settings.max_page_pixels, settings.pdf_dpi,
                      settings.page_timeout_s, settings.max_page_bytes)


@dataclass(frozen=True)
class PageImage:
    number: int  # 1-based
    image: np.ndarray | None  # None when `error` says why this page could not be read
    error: str | None = None


def sniff(head: bytes) -> str | None:
    """The file type from its first bytes: png, jpeg, tiff, pdf, zip, or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if b"%PDF-" in head[:PDF_HEADER_WINDOW]:
        return "pdf"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    return None


def _check_pixels(width: int, height: int, limits: Limits, what: str) -> None:
    if width <= 0 or height <= 0:
        raise UnreadableFile(f"{what} has no pixels ({width}×{height})")
    if width * height > limits.max_page_pixels:
        raise UnreadableFile(
            f"{what} is {width}×{height} = {width * height:,} pixels, over the limit of "
            f"{limits.max_page_pixels:,} pixels per page")


def _check_bytes(image: Image.Image, limits: Limits, what: str) -> None:
    """The page's pixels as its decoder makes them (channels × bytes per sample): a 16-bit
    RGBA page takes eight bytes a pixel where a grey scan takes one."""
    rawmode = image.tile[0].args if image.tile and isinstance(image.tile[0].args, str) else ""
    per_sample = 4 if image.mode in ("I", "F") else 2 if "16" in (rawmode or image.mode) else 1
    size = image.width * image.height * len(image.getbands()) * per_sample
    if size > limits.max_page_bytes:
        raise UnreadableFile(
            f"{what} decodes to {size / 1e6:,.0f} MB ({image.width}×{image.height}, "
            f"{len(image.getbands())} channels of {8 * per_sample} bits), over the limit of "
            f"{limits.max_page_bytes / 1e6:,.0f} MB per page (MAX_PAGE_BYTES)")


def flatten(pixels: np.ndarray) -> np.ndarray:
    """uint8 grey or RGB, an alpha channel composited on white paper, by integer arithmetic
    on one channel at a time (float copies of a 40 Mpx RGBA page took 0.5 GB)."""
    if pixels.dtype == np.bool_:
        return np.where(pixels, np.uint8(255), np.uint8(0))
    if pixels.dtype != np.uint8:
        top = 65535.0 if pixels.dtype == np.uint16 else float(max(pixels.max(initial=0), 1))
        pixels = cv2.convertScaleAbs(pixels.astype(np.float32), alpha=255.0 / top)
    if pixels.ndim == 2 or pixels.shape[2] in (1, 3):
        return pixels if pixels.ndim == 2 or pixels.shape[2] == 3 else pixels[..., 0]
    alpha = pixels[..., -1]
    planes = [_on_white(pixels[..., k], alpha) for k in range(pixels.shape[2] - 1)]
    return planes[0] if len(planes) == 1 else cv2.merge(planes)


def _on_white(channel: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """channel × alpha + white × (1 − alpha), in uint8."""
    covered = cv2.multiply(channel, alpha, scale=1 / 255)
    return cv2.add(covered, np.uint8(255) - alpha)


def grey_of(pixels: np.ndarray) -> np.ndarray:
    """A page as the worker reads it: uint8 grey, the darkest channel of each pixel (blue ink
    stays dark, dropout-coloured lines light); 1-bit pages stay boolean. Made as soon as a page
    is decoded, so a colour page is held in colour only once."""
    if pixels.dtype == np.bool_ or (pixels.ndim == 2 and pixels.dtype == np.uint8):
        return pixels
    flat = flatten(pixels)
    if flat.ndim == 2:
        return flat
    return darkest_channel(flat)


def to_array(image: Image.Image) -> np.ndarray:
    """Pixels as NumPy in a type the pipeline reads: bool (1-bit), uint8/uint16/float grey,
    or uint8 RGB(A). Palette, CMYK, YCbCr and LAB images become RGB."""
    mode = image.mode
    if mode in ("P", "PA"):
        image = image.convert("RGBA" if "transparency" in image.info or mode == "PA" else "RGB")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        image = image.convert("RGB")
    elif mode.startswith("I;16"):
        return np.asarray(image).astype(np.uint16)
    return np.asarray(image)


def _image_pages(path: Path, kind: str, limits: Limits, only: int | None = None,
                 grey: bool = False) -> Iterator[PageImage]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's TIFF tag warnings
            image = Image.open(path)
    except Image.UnidentifiedImageError:
        raise UnreadableFile("not a readable image (unknown or damaged format)") from None
    except OSError as exc:
        raise UnreadableFile(f"cannot be opened as an image ({exc})") from None
    except ValueError as exc:  # Pillow's guard against text chunks that expand to a bomb
        if "too large" in str(exc):
            raise UnreadableFile("a text chunk of the image expands to far more data than any "
                                 "scan holds (a decompression bomb?): refused") from None
        raise UnreadableFile(_pillow_problem(exc)) from None
    with image:
        count, broken = _frames(image, limits) if kind in MULTI_PAGE_KINDS else (1, None)
        if count > limits.max_pages:
            raise UnreadableFile(f"more than {limits.max_pages} pages, over the limit of "
                                 f"{limits.max_pages} per document")
        single = count == 1 and broken is None
        for number in range(1, count + 1) if only is None else [only] if 0 < only <= count else []:
            try:
                array = _fast_png(path, image, limits, grey) if single and kind == "png" else None
                if array is None:
                    array = _read_frame(image, number, limits)
            except UnreadableFile as exc:
                if single:
                    raise
                yield PageImage(number, None, str(exc))
            except PILLOW_ERRORS as exc:
                if single:
                    raise UnreadableFile(_pillow_problem(exc)) from None
                yield PageImage(number, None, f"page {number}: {_pillow_problem(exc)}")
            else:
                yield PageImage(number, array)
        if broken is not None and only in (None, count + 1):
            yield PageImage(count + 1, None, f"page {count + 1}: {broken}")


def _frames(image: Image.Image, limits: Limits) -> tuple[int, str | None]:
    """How many pages of a TIFF can be reached (counted to one past the limit), and why the
    next one cannot when its directory is damaged: pages after it cannot be found."""
    count = 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's TIFF tag warnings
        while count <= limits.max_pages:
            try:
                image.seek(count)
            except EOFError:  # no more pages
                break
            except PILLOW_ERRORS as exc:
                return count, f"the page directory is damaged ({str(exc) or type(exc).__name__})"
            count += 1
    return count, None


def _read_frame(image: Image.Image, number: int, limits: Limits) -> np.ndarray:
    """The pixels of one page, its size checked before any is decoded."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's TIFF tag warnings
        image.seek(number - 1)
        _check_pixels(image.width, image.height, limits, f"page {number}")
        _check_bytes(image, limits, f"page {number}")
        image.load()
        return to_array(image).copy()


def _fast_png(path: Path, image: Image.Image, limits: Limits, grey: bool = False) -> np.ndarray | None:
    """An 8-bit grey or RGB PNG decoded by OpenCV's libpng, faster than Pillow (same
    pixels, RGB order as Pillow gives; with `grey`, a colour page straight to `grey_of`'s
    darkest channel, from OpenCV's BGR without turning it to RGB first). None for any other
    PNG, or one OpenCV cannot decode: Pillow reads those and names the problem."""
    if image.mode not in ("L", "RGB") or "transparency" in image.info:
        return None
    _check_pixels(image.width, image.height, limits, "page 1")
    _check_bytes(image, limits, "page 1")
    array = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None or array.dtype != np.uint8 or array.shape[:2] != (image.height, image.width):
        return None
    if array.ndim == 3:
        if grey:
            return darkest_channel(array)  # the darkest of three is the same in any order
        return cv2.cvtColor(array, cv2.COLOR_BGR2RGB)  # review crops show the page's colours
    return array


def _pillow_problem(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if "truncated" in text:
        return "the image data is truncated (incomplete file)"
    if "Decompressed data too large" in text:
        return "a part of the image expands to far more data than any scan holds (a decompression bomb?)"
    return f"the image data is damaged ({text})"


def _pdf_pages(path: Path, limits: Limits, only: int | None = None) -> Iterator[PageImage]:
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    # Opened raw: pypdfium2 refuses a PDF without pages with PDFium's last error, which is then
    # stale (a previous file's, e.g. "password"). PDFium sets it afresh when it cannot open one.
    raw = pdfium_c.FPDF_LoadDocument(bytes(path) + b"\0", None)
    if not raw:
        code = pdfium_c.FPDF_GetLastError()
        if code == pdfium_c.FPDF_ERR_PASSWORD:
            raise UnreadableFile("the PDF is encrypted (password protected)")
        raise UnreadableFile(f"not a readable PDF ({PDFIUM_ERRORS.get(code, f'PDFium error {code}')})")
    pdf = pdfium.PdfDocument(raw)
    try:
        count = len(pdf)
        if count == 0:
            raise UnreadableFile("the PDF has no pages")
        if count > limits.max_pages:
            raise UnreadableFile(f"{count} pages, over the limit of {limits.max_pages} per document")
        scale = limits.pdf_dpi / POINTS_PER_INCH
        sizes = {index: _page_size(pdf, index) for index in range(count)}  # no page is parsed
    finally:
        pdf.close()
    # Pages are parsed and drawn by a child process with a time and memory budget: a hostile
    # page (forms nested in forms) cannot hold the reader (core.pdfrender).
    with Renderer(path, limits.pdf_dpi, limits.page_timeout_s) as renderer:
        for index in range(count) if only is None else [only - 1] if 0 < only <= count else []:
            number = index + 1
            if sizes[index] is None:
                yield PageImage(number, None, f"page {number}: cannot be rendered (it is not a page)")
                continue
            try:
                width, height = (round(v * scale) for v in sizes[index])
                _check_pixels(width, height, limits, f"page {number} at {limits.pdf_dpi} dpi")
                yield PageImage(number, renderer.render(index).copy())
            except UnreadableFile as exc:
                yield PageImage(number, None, str(exc))
            except RenderError as exc:
                yield PageImage(number, None, f"page {number}: {exc}")


def _page_size(pdf: object, index: int) -> tuple[float, float] | None:
    """A PDF page's size in points, read without parsing its content; None if it has none."""
    import pypdfium2 as pdfium

    try:
        return pdf.get_page_size(index)  # type: ignore[attr-defined]
    except pdfium.PdfiumError:
        return None


def pages(path: Path, kind: str, limits: Limits, only: int | None = None,
          grey: bool = False) -> Iterator[PageImage]:
    """Every page of a stored document in order (or just page `only`); with `grey`, each as
    the worker reads it (`grey_of`). Raises UnreadableFile when nothing of the file can be
    read; a bad page of a multi-page file comes back with its error."""
    if kind not in ("pdf", "png", "jpeg", "tiff"):
        raise UnreadableFile(f"{kind!r} files are not documents")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise UnreadableFile(f"cannot be read ({exc.strerror})") from None
    if size == 0:
        raise UnreadableFile("the file is empty")
    found = _pdf_pages(path, limits, only) if kind == "pdf" else _image_pages(path, kind, limits, only, grey)
    if not grey:
        return found
    return (PageImage(p.number, grey_of(p.image), p.error) if p.image is not None else p for p in found)


def count_pages(path: Path, kind: str) -> int | None:
    """How many pages a document has, from its header (None if that cannot be told cheaply)."""
    try:
        if kind == "pdf":
            import pypdfium2 as pdfium

            pdf = pdfium.PdfDocument(path)
            try:
                return len(pdf)
            finally:
                pdf.close()
        with Image.open(path) as image:
            return int(getattr(image, "n_frames", 1)) if kind in MULTI_PAGE_KINDS else 1
    except Exception:  # noqa: BLE001 - reading the pages will say what is wrong
        return None


def page(path: Path, kind: str, number: int, limits: Limits) -> np.ndarray:
    """One page's pixels (for crops shown to reviewers): the same rendering the worker read."""
    for item in pages(path, kind, limits, only=number):
        if item.number == number:
            if item.image is None:
                raise UnreadableFile(item.error or f"page {number} cannot be read")
            return item.image
    raise UnreadableFile(f"there is no page {number}")
