"""Reviewed fields as training data: `python -m worker.export_corrections --output FILE.npz`.

For every field a person corrected or confirmed, its page is read again from the stored
original with the same pipeline, and the field's glyphs are labelled with the person's digits
(when the glyph count matches the value's length; other fields are counted and left out).
The file holds `glyphs` (N, 28, 28) float32 and `labels` (N,), ready for
`python -m models.train --extra FILE.npz`. Whole fields (crop and value) for the string
reader: `reviewed_fields`, used by `worker.improve`.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import select

from core.db import session_scope
from core.files import Limits, page
from core.processing import KINDS
from core.schema import REVIEWED, Batch, Document, Field, Page
from core.settings import Settings
from core.storage import Storage
from segmentation.structure import iou
from worker.recognition import get_reader

MATCH_IOU = 0.8  # the field read again must be the same box


@dataclass(frozen=True)
class Reviewed:
    """A field a person reviewed: its crop of the page as the worker read it, and the value."""

    field_id: int
    image: np.ndarray  # the field's box cut from the page (what the string readers read)
    value: str
    kind: str = "field"  # "comb", "box" (found on a page) or "field" (an image or a region)
    box: tuple[int, int, int, int] = (0, 0, 0, 0)  # on its page
    page: tuple[str, str, int] = ("", "", 0)  # its document's sha256 and media type, page number
    template: str | None = None  # of its batch
    rotation: int = 0  # the turn its page was read after (0, 90 or 270: a page on its side)


def reviewed_fields(settings: Settings, batch_id: str | None = None) -> list[Reviewed]:
    """Every reviewed field with a value (not marked unreadable), as whole-string training data
    for the string reader; fields whose page cannot be read again are left out."""
    query = (select(Field.id, Field.x, Field.y, Field.width, Field.height, Field.value, Page.number,
                    Document.sha256, Document.media_type, Field.kind, Batch.template, Page.rotation)
             .join(Page, Field.page_id == Page.id).join(Document, Field.document_id == Document.id)
             .join(Batch, Field.batch_id == Batch.id)
             .where(Field.status == REVIEWED, Field.unreadable.is_(False), Field.value != "")
             .order_by(Field.id))
    if batch_id:
        query = query.where(Field.batch_id == batch_id)
    with session_scope(settings) as session:
        rows = session.execute(query).all()
    limits, storage = Limits.of(settings), Storage(settings.originals_dir)
    out: list[Reviewed] = []
    cached: tuple[tuple[str, int], np.ndarray] | None = None  # rows come by field id: mostly by page
    for field_id, x, y, w, h, value, number, sha256, media_type, kind, template, rotation in rows:
        key = (sha256, number)
        if cached is None or cached[0] != key:
            try:
                cached = (key, page(storage.path(sha256), KINDS[media_type], number, limits))
            except Exception:  # noqa: BLE001 - an original gone or unreadable: that field is left out
                continue
        pixels = cached[1]
        crop = pixels[max(0, y) : y + h, max(0, x) : x + w]
        if crop.size:
            out.append(Reviewed(field_id, np.ascontiguousarray(crop), value, kind, (x, y, w, h),
                                (sha256, media_type, number), template, rotation or 0))
    return out


def export(settings: Settings, batch_id: str | None = None,
           field_ids: list[int] | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Glyphs and labels from reviewed fields (of one batch, or these fields only), with counts
    of what was used and left out."""
    query = (select(Field, Page, Document).join(Page, Field.page_id == Page.id)
             .join(Document, Field.document_id == Document.id)
             .where(Field.status == REVIEWED, Field.unreadable.is_(False))
             .order_by(Document.id, Page.number, Field.position))
    if batch_id:
        query = query.where(Field.batch_id == batch_id)
    if field_ids is not None:
        query = query.where(Field.id.in_(field_ids))
    with session_scope(settings) as session:
        rows = [(f.x, f.y, f.width, f.height, f.value, p.number, d.sha256, d.media_type)
                for f, p, d in session.execute(query)]
    reader = get_reader(str(settings.model_path), settings.max_page_pixels)
    limits = Limits.of(settings)
    storage = Storage(settings.originals_dir)
    glyphs: list[np.ndarray] = []
    labels: list[int] = []
    counts = {"fields": len(rows), "used": 0, "count_mismatch": 0, "not_found": 0}
    pages: dict[tuple[str, int], object] = {}
    for x, y, w, h, value, number, sha256, media_type in rows:
        key = (sha256, number)
        if key not in pages:
            pixels = page(storage.path(sha256), KINDS[media_type], number, limits)
            pages[key] = reader.read_page(pixels, None)
        result = pages[key]
        match = max(result.fields, key=lambda f: iou(f.box, (x, y, w, h)), default=None)
        if match is None or iou(match.box, (x, y, w, h)) < MATCH_IOU:
            counts["not_found"] += 1
            continue
        if len(match.digits) != len(value):
            counts["count_mismatch"] += 1
            continue
        counts["used"] += 1
        glyphs.extend(d.glyph for d in match.digits)
        labels.extend(int(c) for c in value)
    if not glyphs:
        return np.zeros((0, 28, 28), np.float32), np.zeros(0, np.int64), counts
    return np.stack(glyphs).astype(np.float32), np.array(labels, np.int64), counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m worker.export_corrections",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--batch", default=None, help="only this batch's reviewed fields")
    args = parser.parse_args(argv)
    glyphs, labels, counts = export(Settings.from_env(), args.batch)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.output, glyphs=glyphs, labels=labels)
    print(f"{len(labels)} glyphs from {counts['used']} of {counts['fields']} reviewed fields written to "
          f"{args.output} ({counts['count_mismatch']} left out: glyph count differs from the "
          f"reviewed value; {counts['not_found']} not found again)")


if __name__ == "__main__":
    main()
