"""Exports of a batch's fields, streamed row by row: a 10,000-field batch costs no memory.

CSV columns are the public contract (see DESIGN.md); columns after `status` are additions.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.schema import REVIEWED, Digit, Document, Field, Page, Review, iso_utc

CSV_COLUMNS = ["batch_id", "document", "page", "field", "x", "y", "width", "height",
               "page_width", "page_height", "value", "recognized_value", "confidence", "status",
               # additions, after the contract's columns:
               "kind", "unreadable", "reviewed_by", "reviewed_at", "rule_error"]
ROWS_PER_FETCH = 1000
# A spreadsheet runs a cell starting with one of these as a formula (OWASP, "CSV Injection"):
# such text cells are written with a leading apostrophe. The JSON export keeps raw values.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(text: str) -> str:
    """A text cell a spreadsheet shows as text: neutralised when it would start a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _rows(session: Session, batch_id: str) -> Iterator[tuple[Field, Page, Document]]:
    query = (select(Field, Page, Document).join(Page, Field.page_id == Page.id)
             .join(Document, Field.document_id == Document.id)
             .where(Field.batch_id == batch_id)
             .order_by(Document.position, Page.number, Field.position)
             .execution_options(yield_per=ROWS_PER_FETCH))
    yield from session.execute(query)


def _last_reviews(session: Session, field_ids: list[int]) -> dict[int, Review]:
    if not field_ids:
        return {}
    reviews = session.scalars(select(Review).where(Review.field_id.in_(field_ids))
                              .order_by(Review.field_id, Review.id)).all()
    return {r.field_id: r for r in reviews if r.field_id is not None}


def _chunks(session: Session, batch_id: str) -> Iterator[list[tuple[Field, Page, Document, Review | None]]]:
    """Rows in fetch-sized chunks, each with the field's last review (one query per chunk)."""
    chunk: list[tuple[Field, Page, Document]] = []

    def flush() -> list[tuple[Field, Page, Document, Review | None]]:
        reviewed = [f.id for f, _, _ in chunk if f.status == REVIEWED]
        last = _last_reviews(session, reviewed)
        return [(f, p, d, last.get(f.id)) for f, p, d in chunk]

    for row in _rows(session, batch_id):
        chunk.append(row)
        if len(chunk) >= ROWS_PER_FETCH:
            yield flush()
            chunk = []
    if chunk:
        yield flush()


def csv_lines(session: Session, batch_id: str) -> Iterator[str]:
    """The CSV export: a header, then one line per field in document, page, reading order."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def take() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(CSV_COLUMNS)
    yield take()
    for chunk in _chunks(session, batch_id):
        for f, page, doc, review in chunk:
            writer.writerow([
                batch_id, safe_cell(doc.name), page.number, safe_cell(f.name), f.x, f.y, f.width,
                f.height, page.width, page.height, safe_cell(f.value), safe_cell(f.recognized_value),
                f"{f.confidence:.4f}", f.status, f.kind, "true" if f.unreadable else "false",
                safe_cell(review.reviewer) if review else "",
                iso_utc(review.created_at) if review else "", f.rule_error or ""])
        yield take()


def field_warnings(page: Page, name: str) -> list[str]:
    """The page's warnings about this field (those that begin with its name): what a reviewer
    should know of it, as "struck through"."""
    return [w for w in page.warnings or [] if w.startswith(f"{name}: ")]


def field_json(f: Field, page: Page, doc: Document, digits: list[Digit],
               review: Review | None = None) -> dict:
    return {
        "id": f.id, "document": doc.name, "document_id": doc.id, "page": page.number,
        "field": f.name, "kind": f.kind, "position": f.position,
        "box": {"x": f.x, "y": f.y, "width": f.width, "height": f.height},
        "page_size": {"width": page.width, "height": page.height},
        "cells": f.cells, "value": f.value, "recognized_value": f.recognized_value,
        "confidence": round(f.confidence, 4), "status": f.status, "unreadable": f.unreadable,
        "readings": f.readings or {},
        "rule_error": f.rule_error,
        "warnings": field_warnings(page, f.name),
        "reviewed_by": review.reviewer if review else None,
        "reviewed_at": iso_utc(review.created_at) if review else None,
        "digits": [{"value": d.value, "confidence": round(d.confidence, 4),
                    "box": {"x": d.x, "y": d.y, "width": d.width, "height": d.height},
                    "alternatives": d.alternatives} for d in digits],
    }


def json_chunks(session: Session, batch_id: str) -> Iterator[str]:
    """The JSON export: {"batch_id": ..., "fields": [...]} written as it is read."""
    yield json.dumps({"batch_id": batch_id})[:-1] + ', "fields": ['
    first = True
    for chunk in _chunks(session, batch_id):
        ids = [f.id for f, _, _, _ in chunk]
        digits: dict[int, list[Digit]] = {}
        for d in session.scalars(select(Digit).where(Digit.field_id.in_(ids))
                                 .order_by(Digit.field_id, Digit.position)):
            digits.setdefault(d.field_id, []).append(d)
        parts = [json.dumps(field_json(f, p, doc, digits.get(f.id, []), r)) for f, p, doc, r in chunk]
        yield ("" if first else ",") + ",".join(parts)
        first = False
    yield "]}"
