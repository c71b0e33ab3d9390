"""Glyphs and field images cut by the service's own segmentation from synthetic scans, labelled.

The surest way to make the recogniser fit what segmentation really produces (lines erased
under strokes, clipped bars, JPEG, blur, pens of every width) is to show it exactly that:
pages are drawn from the given digits (training digits for training, held-out ones for
validation and test — never mixed), cut by `segmentation`, and each glyph labelled from the
page's truth: comb glyphs by their cell, open-box glyphs in order when their count matches.
`harvest_lines` does the same for the line readers: what they read of each comb and open box
(`CutField.line_image`: lines erased, a comb cut to its written cells), with the field's value.
Harvests are cached on disk, keyed by the arguments and the code that makes them.
"""

from __future__ import annotations

import hashlib
import multiprocessing
from pathlib import Path

import numpy as np

from segmentation.glyph import GLYPH_SIZE
from segmentation.pipeline import segment_fields
from segmentation.structure import iou
from synth import PoolWriters

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = PROJECT_ROOT / "var" / "cache"
MATCH_IOU = 0.5
PAGES_PER_TASK = 25
LINE_PAGES_PER_TASK = 10
LINE_KINDS = ("comb", "box")  # the fields of a page that line readers read whole


_digits = None  # set in each pool process by _init


def _init(images: np.ndarray, labels: np.ndarray) -> None:
    global _digits
    import cv2

    from synth.render import DigitSource

    cv2.setNumThreads(1)
    _digits = DigitSource(images, labels)


def _page_glyphs(seed: int) -> tuple[np.ndarray, np.ndarray]:
    from synth.pages import make_page

    digits = _digits
    rng = np.random.default_rng(seed)
    glyphs, found = [], []
    for _ in range(PAGES_PER_TASK):
        page = make_page(digits, rng)
        fields, _, _, _ = segment_fields(page.image)
        for truth in page.fields:
            match = _found(fields, truth.box)
            if match is None:
                continue
            if truth.kind == "comb" and match.structure.kind == "comb" \
                    and len(match.structure.walls) - 1 == len(truth.cell_values):
                for piece in match.pieces:
                    if piece.cell is not None and truth.cell_values[piece.cell]:
                        glyphs.append(piece.glyph())
                        found.append(int(truth.cell_values[piece.cell]))
            elif truth.kind == "box":
                for piece, value in _box_glyphs(match, truth):
                    glyphs.append(piece.glyph())
                    found.append(int(value))
    if not glyphs:
        return np.zeros((0, GLYPH_SIZE, GLYPH_SIZE), np.float32), np.zeros(0, np.int64)
    return np.stack(glyphs).astype(np.float32), np.array(found, np.int64)


def _found(fields: list, box: tuple[int, int, int, int]):  # type: ignore[no-untyped-def]
    """The field segmentation found where a true field lies (box overlap ≥ MATCH_IOU), or None."""
    match = max(fields, key=lambda f: iou(f.page_box, box), default=None)
    return match if match is not None and iou(match.page_box, box) >= MATCH_IOU else None


def _box_glyphs(match, truth) -> list[tuple[object, str]]:  # type: ignore[no-untyped-def]
    """Each digit of an open box with its piece: pieces holding several touching digits are cut
    between the digits' true centres, as a good split would cut them."""
    from segmentation import split

    matrix = match.structure.frame.matrix
    xs = [float(matrix[0] @ np.array([cx, cy, 1.0])) for cx, cy in truth.digit_centres]
    labelled = []
    for piece in match.pieces:
        inside = [k for k, x in enumerate(xs) if piece.x0 <= x < piece.x1]
        if len(inside) == 1:
            labelled.append((piece, truth.value[inside[0]]))
        elif len(inside) > 1:
            cuts = [round((xs[a] + xs[b]) / 2) - piece.x0 for a, b in zip(inside, inside[1:])]
            parts = split.split(piece, cuts)
            if parts is not None and len(parts) == len(inside):
                labelled.extend(zip(parts, (truth.value[k] for k in inside)))
    return labelled


def _code_hash() -> str:
    digest = hashlib.sha256()
    for folder in ("segmentation", "synth"):
        for path in sorted((PROJECT_ROOT / folder).glob("*.py")):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def harvest(images: np.ndarray, labels: np.ndarray, pages: int, seed: int,
            processes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """About 60 labelled glyphs per page from `pages` synthetic pages written with `images`."""
    key = hashlib.sha256(images.tobytes()[:1_000_000] + labels.tobytes()
                         + f"{len(images)}-{pages}-{seed}-{_code_hash()}".encode()).hexdigest()[:20]
    cache = CACHE_DIR / f"pipeline-glyphs-{key}.npz"
    if cache.exists():
        with np.load(cache) as data:
            return data["glyphs"], data["labels"]
    seeds = [seed * 100_003 + i for i in range((pages + PAGES_PER_TASK - 1) // PAGES_PER_TASK)]
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes or min(2, multiprocessing.cpu_count()), initializer=_init,
                      initargs=(images, labels)) as pool:
        parts = pool.map(_page_glyphs, seeds)
    glyphs = np.concatenate([p[0] for p in parts])
    found = np.concatenate([p[1] for p in parts])
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cache, glyphs=glyphs, labels=found)
    return glyphs, found


_writers = PoolWriters()  # `harvest_lines`' writers, loaded by a pool process's first task


def _init_lines(part: str, mnist_dir: str | None) -> None:
    """Each pool process names its writers; its first task loads them (`PoolWriters`)."""
    import cv2

    cv2.setNumThreads(1)
    _writers.name(part, mnist_dir)


def _page_lines(seed: int) -> list[tuple[np.ndarray, str]]:
    """The line inputs of LINE_PAGES_PER_TASK pages' combs and open boxes, with their values;
    every other page in the hard style."""
    from reading.lines import line_input
    from synth.hands import HandDigits
    from synth.pages import make_page

    hands = HandDigits(_writers.get())
    rng = np.random.default_rng(seed)
    out = []
    for k in range(LINE_PAGES_PER_TASK):
        page = make_page(hands, rng, style="hard" if (seed + k) % 2 else None)
        fields, _, _, _ = segment_fields(page.image)
        for truth in page.fields:
            if truth.kind not in LINE_KINDS or not truth.value:
                continue
            match = _found(fields, truth.box)
            if match is None or match.kind != truth.kind:
                continue
            image, _ = match.line_image()
            out.append(((line_input(image) * 255).astype(np.uint8), truth.value))
    return out


def harvest_lines(pages: int, seed: int, part: str = "train", mnist_dir: Path | None = None,
                  processes: int | None = None) -> list[tuple[np.ndarray, str]]:
    """About 12 (uint8 line input, value) pairs a page, from `pages` synthetic pages (half of
    them in the hard style) written by the writers of `part` (`synth.hands.load_writers`),
    each field as segmentation found it and as the line readers read it."""
    key = hashlib.sha256(f"lines-{pages}-{seed}-{part}-{mnist_dir}-{_code_hash()}".encode()).hexdigest()[:20]
    cache = CACHE_DIR / f"pipeline-lines-{key}.npz"
    if cache.exists():
        with np.load(cache) as data:
            return list(zip(np.split(data["pixels"], data["ends"][:-1], axis=1), data["values"].tolist()))
    seeds = [seed * 100_003 + i for i in range((pages + LINE_PAGES_PER_TASK - 1) // LINE_PAGES_PER_TASK)]
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes or min(2, multiprocessing.cpu_count()), initializer=_init_lines,
                      initargs=(part, str(mnist_dir) if mnist_dir else None)) as pool:
        out = [item for part_out in pool.map(_page_lines, seeds) for item in part_out]
    if out:  # stored side by side: one (32, total width) array and where each field ends
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(cache, pixels=np.concatenate([a for a, _ in out], axis=1),
                            ends=np.cumsum([a.shape[1] for a, _ in out]),
                            values=np.array([v for _, v in out]))
    return out
