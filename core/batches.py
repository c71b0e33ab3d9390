"""Creating batches from uploads, handing their documents to the queue, and reporting status.

A batch's status is derived from its documents every time it is asked for: nothing to keep in
step, nothing to go stale when a worker dies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from core.ingest import Incoming, ZipLimits
from core.schema import (
    DONE,
    FAILED,
    NEEDS_REVIEW,
    PROCESSING,
    QUEUED,
    Batch,
    Document,
    Field,
    iso_utc,
    utcnow,
)
from core.settings import Settings

Publish = Callable[[int], None]  # hands one document id to the broker; raises if it cannot


class UploadRejected(Exception):
    """Nothing in the upload can be processed; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Created:
    batch: Batch
    queued: list[int]  # ids of the documents to process
    rejected: list[Incoming]  # files of the upload that cannot be processed


def zip_limits(settings: Settings) -> ZipLimits:
    return ZipLimits(settings.max_zip_members, settings.max_zip_uncompressed_bytes,
                     settings.max_zip_ratio, settings.max_zip_depth)


def enqueue(session: Session, document_ids: Sequence[int], publish: Publish) -> int:
    """Hand documents to the broker and mark those it accepted (one commit); returns how many
    could not be handed over (they stay queued unmarked: the recovery sweep retries them, as it
    would after a crash between handing over and marking — a second copy is harmless). At the
    first refusal the broker is taken to be down, so an upload never waits on a dead broker
    once per document."""
    handed: list[int] = []
    for document_id in document_ids:
        try:
            publish(document_id)
        except Exception:  # noqa: BLE001 - any broker failure: leave the rest to the sweep
            break
        handed.append(document_id)
    if handed:
        session.execute(update(Document).where(Document.id.in_(handed)).values(enqueued_at=utcnow()))
        session.commit()
    return len(document_ids) - len(handed)


def _status(total: int, done: int, failed: int, active: int, with_errors: int) -> str:
    if total and done + failed == total:
        if failed == total:
            return "failed"
        return "partial" if failed or with_errors else "done"
    return "processing" if active or done or failed else "queued"


def summaries(session: Session, batches: Sequence[Batch]) -> list[dict]:
    """Status and progress of each batch, in two grouped queries whatever their number."""
    ids = [b.id for b in batches]
    if not ids:
        return []
    docs = {row.batch_id: row for row in session.execute(
        select(Document.batch_id,
               func.count().label("total"),
               func.sum(case((Document.status == DONE, 1), else_=0)).label("done"),
               func.sum(case((Document.status == FAILED, 1), else_=0)).label("failed"),
               func.sum(case((Document.status == PROCESSING, 1), else_=0)).label("active"),
               func.sum(case(((Document.status == DONE) & Document.error.is_not(None), 1),
                             else_=0)).label("with_errors"),
               func.coalesce(func.sum(Document.page_count), 0).label("pages"),
               func.coalesce(func.sum(Document.pages_done), 0).label("pages_done"),
               func.max(Document.finished_at).label("finished_at"))
        .where(Document.batch_id.in_(ids)).group_by(Document.batch_id))}
    fields = {row.batch_id: row for row in session.execute(
        select(Field.batch_id, func.count().label("total"),
               func.sum(case((Field.status == NEEDS_REVIEW, 1), else_=0)).label("needs_review"))
        .where(Field.batch_id.in_(ids)).group_by(Field.batch_id))}
    out = []
    for batch in batches:
        d, f = docs.get(batch.id), fields.get(batch.id)
        total, done, failed = (d.total, int(d.done), int(d.failed)) if d else (0, 0, 0)
        status = _status(total, done, failed, int(d.active) if d else 0,
                         int(d.with_errors) if d else 0)
        out.append({
            "id": batch.id,
            "status": status,
            "documents": {"total": total, "done": done, "failed": failed},
            "pages": {"total": int(d.pages) if d else 0, "done": int(d.pages_done) if d else 0},
            "fields": {"total": f.total if f else 0, "needs_review": int(f.needs_review) if f else 0},
            "template": batch.template,
            "layout": batch.layout,
            "review_threshold": batch.review_threshold,
            "created_at": iso_utc(batch.created_at),
            "finished_at": iso_utc(d.finished_at) if d and status in ("done", "partial", "failed") else None,
            "status_url": f"/api/batches/{batch.id}",
        })
        if batch.callback_url:
            out[-1]["callback"] = {"url": batch.callback_url, "status": batch.callback_status,
                                   "attempts": batch.callback_attempts, "error": batch.callback_error,
                                   "last_attempt_at": iso_utc(batch.callback_at)
                                   if batch.callback_attempts else None}
    return out


def batch_status(session: Session, batch: Batch) -> dict:
    """The status API's answer: summary plus every document error."""
    summary = summaries(session, [batch])[0]
    errors = session.execute(
        select(Document.name, Document.error).where(Document.batch_id == batch.id,
                                                    Document.error.is_not(None))
        .order_by(Document.position)).all()
    summary["errors"] = [{"document": name, "error": error} for name, error in errors]
    return summary


def list_batches(session: Session, page: int, per_page: int) -> dict:
    total = session.scalar(select(func.count()).select_from(Batch)) or 0
    batches = session.scalars(select(Batch).order_by(Batch.created_at.desc(), Batch.id.desc())
                              .offset((page - 1) * per_page).limit(per_page)).all()
    has_next = page * per_page < total
    return {"batches": summaries(session, batches), "page": page, "per_page": per_page,
            "total": total, "next": f"/api/batches?page={page + 1}&per_page={per_page}" if has_next else None}


def documents_of(session: Session, batch_id: str) -> list[dict]:
    """Each document of a batch with its state, for the batch page."""
    counts = dict(session.execute(select(Field.document_id, func.count()).where(
        Field.batch_id == batch_id).group_by(Field.document_id)).all())
    review = dict(session.execute(select(Field.document_id, func.count()).where(
        Field.batch_id == batch_id, Field.status == NEEDS_REVIEW).group_by(Field.document_id)).all())
    docs = session.scalars(select(Document).where(Document.batch_id == batch_id)
                           .order_by(Document.position)).all()
    return [{"id": d.id, "name": d.name, "status": d.status, "error": d.error,
             "pages": {"total": d.page_count, "done": d.pages_done},
             "fields": {"total": counts.get(d.id, 0), "needs_review": review.get(d.id, 0)},
             "attempts": d.attempts, "media_type": d.media_type, "size": d.size}
            for d in docs]


def reprocess(session: Session, document_id: int) -> bool:
    """Put a finished document back in the queue to be read again (its results are replaced
    when it is); False if there is no such document or it cannot be read at all."""
    doc = session.get(Document, document_id, with_for_update=True)
    if doc is None or doc.sha256 is None:
        return False
    doc.status, doc.attempts, doc.error = QUEUED, 0, None
    doc.enqueued_at = doc.started_at = doc.finished_at = None
    return True
