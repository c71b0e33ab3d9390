"""The review queue and corrections: who changed which field, when, from what to what."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.export import field_json
from core.schema import NEEDS_REVIEW, REVIEWED, Digit, Document, Field, Page, Review, iso_utc, utcnow

DOUBTFUL = 0.9  # a digit under this confidence is marked for the reviewer's eye
MAX_VALUE_CHARS = 64
VALUE = re.compile(r"^[0-9]*$")


class ReviewError(ValueError):
    """The correction cannot be taken; the message says why."""


@dataclass(frozen=True)
class Correction:
    value: str | None  # None with unreadable=True
    unreadable: bool = False
    reviewer: str = "anonymous"


def _scope(batch_id: str | None) -> list:
    conditions = [Field.status == NEEDS_REVIEW]
    if batch_id:
        conditions.append(Field.batch_id == batch_id)
    return conditions


def queue(session: Session, batch_id: str | None = None, after: int | None = None,
          count: int = 3) -> dict:
    """The next `count` fields waiting for a person (after field id `after`, wrapping around),
    and how many wait in all."""
    conditions = _scope(batch_id)
    left = session.scalar(select(func.count()).select_from(Field).where(*conditions)) or 0
    query = select(Field.id).where(*conditions).order_by(Field.id)
    ids = list(session.scalars(query.where(Field.id > (after or 0)).limit(count)))
    if len(ids) < count:  # wrap around to the fields skipped earlier
        ids += [i for i in session.scalars(query.limit(count)) if i not in ids][: count - len(ids)]
    return {"left": left, "fields": [detail(session, i) for i in ids]}


def detail(session: Session, field_id: int) -> dict | None:
    row = session.execute(select(Field, Page, Document).join(Page, Field.page_id == Page.id)
                          .join(Document, Field.document_id == Document.id)
                          .where(Field.id == field_id)).first()
    if row is None:
        return None
    f, page, doc = row
    digits = list(session.scalars(select(Digit).where(Digit.field_id == f.id).order_by(Digit.position)))
    last = session.scalars(select(Review).where(Review.field_id == f.id)
                           .order_by(Review.id.desc()).limit(1)).first()
    out = field_json(f, page, doc, digits, last)
    out["batch_id"] = f.batch_id
    for digit in out["digits"]:
        digit["doubtful"] = digit["confidence"] < DOUBTFUL
    out["crop_url"] = f"/api/fields/{f.id}/crop.png"
    return out


def correct(session: Session, field_id: int, correction: Correction) -> dict:
    """Record a person's reading of a field (the field row is locked: two reviewers at once
    both get recorded, the later one wins)."""
    f = session.get(Field, field_id, with_for_update=True)
    if f is None:
        raise LookupError(f"no field {field_id}")
    if correction.unreadable:
        new_value, action = "", "unreadable"
    else:
        new_value = (correction.value or "").strip()
        if len(new_value) > MAX_VALUE_CHARS or not VALUE.match(new_value):
            raise ReviewError(f"a value is digits only, at most {MAX_VALUE_CHARS}; got {new_value[:80]!r}")
        action = "confirm" if new_value == f.value and f.status == NEEDS_REVIEW else "correct"
    reviewer = (correction.reviewer or "anonymous").strip()[:200] or "anonymous"
    page_number = session.scalar(select(Page.number).where(Page.id == f.page_id))
    session.add(Review(field_id=f.id, batch_id=f.batch_id, document_id=f.document_id,
                       page_number=page_number, field_position=f.position, reviewer=reviewer,
                       action=action, old_value=f.value, new_value=new_value))
    f.value, f.unreadable, f.status, f.updated_at = new_value, correction.unreadable, REVIEWED, utcnow()
    session.flush()
    return detail(session, f.id) or {}


def history(session: Session, field_id: int) -> list[dict]:
    reviews = session.scalars(select(Review).where(Review.field_id == field_id).order_by(Review.id))
    return [{"reviewer": r.reviewer, "at": iso_utc(r.created_at), "action": r.action,
             "old_value": r.old_value, "new_value": r.new_value} for r in reviews]
