"""How a synthetic page is scanned: the scanner, pen and paper of one page (`Style`, drawn at
random over the range real scanners and pens cover; `hard_style`, the hard end of it), and the
degradations a scan adds to the clean page (`degrade`)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import cv2
import numpy as np

DPIS = (150, 200, 240, 300)
STYLES = ("ours", "hard")


@dataclass(frozen=True)
class Style:
    dpi: int = 200
    skew_deg: float = 0.0
    colour: bool = True
    ink_rgb: tuple[float, float, float] = (0.08, 0.08, 0.1)
    box_rgb: tuple[float, float, float] = (0.1, 0.1, 0.1)
    paper_rgb: tuple[float, float, float] = (0.98, 0.98, 0.96)
    pen_mm: float = 0.5
    line_mm: float = 0.3
    blur_sigma: float = 0.0
    noise_sigma: float = 0.0
    specks: int = 0
    jpeg_quality: int | None = None
    light: float = 0.0  # depth of the uneven-light shading (0 = even)
    touching_share: float = 0.5  # of open boxes, how many have touching digits
    fill: tuple[float, float] = (0.55, 0.82)  # a comb digit's height, share of the cell's
    off_centre: float = 0.12  # a comb digit's sideways offset, share of the cell's width
    overflow: float = 0.08  # chance that a comb digit runs over the top or bottom line
    blots: int = 0  # ink blots dropped near fields (spilling over their lines)
    bilevel: bool = False  # scanned black and white (thresholded)


def hard_style(rng: np.random.Generator) -> Style:
    """The hard end of the randomisation (`make eval`'s second style), as paper the project
    did not make shows it: pens up to 1 mm, digits filling 55-90% of the cell, off-centre and
    now and then across a wall or over a line, blots spilling over lines, bilevel 300-dpi
    scans now and then."""
    base = random_style(rng, dpi=int(rng.choice((150, 200, 300), p=(0.25, 0.4, 0.35))))
    bilevel = bool(rng.random() < 0.25)
    # A bilevel scan drops light and dropout-coloured lines altogether (that is what dropout
    # colours are for): such a form's boxes cannot be found, so bilevel pages have dark boxes.
    box = (float(rng.uniform(0.0, 0.3)),) * 3 if bilevel else base.box_rgb
    return dataclasses.replace(
        base, pen_mm=float(rng.uniform(0.3, 1.0)), fill=(0.55, 0.9), off_centre=0.2, overflow=0.15,
        blots=int(rng.integers(0, 5)), bilevel=bilevel, colour=base.colour and not bilevel,
        box_rgb=box, touching_share=0.6, jpeg_quality=None if bilevel else base.jpeg_quality)


def random_style(rng: np.random.Generator, dpi: int | None = None, clean: bool = False) -> Style:
    """A random scanner and pen; `clean` gives an unskewed, undegraded page for simple tests."""
    dpi = dpi or int(rng.choice(DPIS, p=(0.25, 0.4, 0.1, 0.25)))
    if clean:
        return Style(dpi=dpi)
    blue = rng.random() < 0.4
    ink = (rng.uniform(0.05, 0.25), rng.uniform(0.1, 0.3), rng.uniform(0.5, 0.75)) if blue else \
        (rng.uniform(0.0, 0.15),) * 3
    box_kind = rng.choice(["black", "grey", "dropout"], p=(0.4, 0.3, 0.3))
    if box_kind == "black":
        box = (rng.uniform(0.0, 0.2),) * 3
    elif box_kind == "grey":
        box = (rng.uniform(0.35, 0.6),) * 3
    else:  # dropout colours: light red or light blue, lighter than any ink
        box = (0.95, rng.uniform(0.55, 0.7), rng.uniform(0.55, 0.7)) if rng.random() < 0.5 else \
            (rng.uniform(0.55, 0.7), rng.uniform(0.7, 0.8), 0.97)
    paper = rng.uniform(0.9, 1.0)
    return Style(
        dpi=dpi,
        skew_deg=float(rng.uniform(-5, 5)) if rng.random() < 0.85 else 0.0,
        colour=bool(rng.random() < 0.6),
        ink_rgb=tuple(float(c) for c in ink),
        box_rgb=tuple(float(c) for c in box),
        paper_rgb=(paper, paper, paper * rng.uniform(0.95, 1.0)),
        pen_mm=float(rng.uniform(0.3, 0.8)),
        line_mm=float(rng.uniform(0.2, 0.5)),  # thinner lines vanish in a 150-dpi scan
        blur_sigma=float(rng.uniform(0.0, 0.9)) * dpi / 200,
        noise_sigma=float(rng.uniform(0.0, 0.04)),
        specks=int(rng.integers(0, 150)),
        jpeg_quality=int(rng.integers(35, 92)) if rng.random() < 0.5 else None,
        light=float(rng.uniform(0.0, 0.35)),
    )


def degrade(page: np.ndarray, s: Style, rng: np.random.Generator) -> np.ndarray:
    """The clean page (float RGB 0..1) as the scanner of `s` gives it: uint8 RGB or grey."""
    h, w = page.shape[:2]
    if s.light > 0:
        # Smooth shading: a tilted plane plus a dark corner, drawn small and scaled up.
        yy, xx = np.mgrid[0:16, 0:16].astype(np.float32) / 15.0
        angle = rng.uniform(0, 2 * math.pi)
        plane = (xx * math.cos(angle) + yy * math.sin(angle))
        plane = (plane - plane.min()) / max(1e-6, np.ptp(plane))
        cx, cy = rng.uniform(0, 1, 2)
        spot = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 0.15)
        shade = 1.0 - s.light * (0.6 * plane + 0.4 * spot)
        page *= cv2.resize(shade, (w, h), interpolation=cv2.INTER_CUBIC)[..., None]
    if s.blur_sigma > 0.2:
        page = cv2.GaussianBlur(page, (0, 0), s.blur_sigma)
    image = np.clip(page * 255.0, 0, 255).astype(np.uint8)
    if s.noise_sigma > 0:
        noise = np.empty((h, w), np.int16)
        cv2.setRNGSeed(int(rng.integers(2**31)))  # OpenCV's own generator, seeded from ours
        cv2.randn(noise, 0, s.noise_sigma * 255)
        image = np.clip(image.astype(np.int16) + noise[..., None], 0, 255).astype(np.uint8)
    if not s.colour:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if s.bilevel:  # a black-and-white scan: the grey page thresholded at its paper's middle
        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        image = np.where(grey > 0.6 * float(np.percentile(grey, 90)), 255, 0).astype(np.uint8)
    if s.jpeg_quality:
        encoded = cv2.imencode(".jpg", image[..., ::-1] if image.ndim == 3 else image,
                               [cv2.IMWRITE_JPEG_QUALITY, s.jpeg_quality])[1]
        image = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)
        if image.ndim == 3:
            image = image[..., ::-1]
    return np.ascontiguousarray(image)
