"""A batch built while its upload arrives: each document is queued as soon as its file is stored.

Reading used to start only once the whole request was stored: a 300 MB upload kept the workers
idle for its 2-3 seconds. Now the batch row is made with the first readable file, and each
document is committed and handed to the broker as soon as its file is complete; the batch
appears at once and its documents arrive.

The guarantees of a one-shot upload are kept:
- A request that is refused (a bad option, too many files, over the size limit) or that dies
  half way (the client went away) creates nothing: the batch and every document of it are
  deleted, with any results already saved, and the client, who got no 202, sends it again.
  Stored originals stay in the content-addressed store (the same bytes sent again are not
  stored twice).
- Options (`template`, `layout`, `review_threshold`) may come after the files, as a form field
  anywhere in the body: documents already queued are then read again with the final options
  (a reader that finishes with options that changed under it hands the document back;
  worker.documents). Clients that send the options first lose nothing.
- A document committed but not handed to the broker (it went away, or this process died) is
  sent by the recovery sweep (worker.sweep), as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import BinaryIO

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from core import callbacks
from core.batches import Created, Publish, UploadRejected, zip_limits
from core.ingest import Incoming, clean_name, ingest
from core.schema import DONE, FAILED, LAYOUTS, PAGE_LAYOUT, QUEUED, Batch, Document, Page, utcnow
from core.settings import Settings
from core.storage import Storage
from segmentation.templates import TemplateError, find_template

log = logging.getLogger(__name__)
OPTIONS = ("template", "layout", "review_threshold", "callback_url")


def parse_options(settings: Settings, raw: dict[str, str]) -> tuple[str | None, str, float]:
    """Template, layout and review threshold from the form's text; UploadRejected if unusable."""
    template = raw.get("template") or None
    layout = raw.get("layout") or PAGE_LAYOUT
    text = raw.get("review_threshold")
    try:
        threshold = float(text) if text not in (None, "") else settings.review_threshold
    except ValueError:
        raise UploadRejected(400, f"review_threshold must be a number within 0..1, got {text!r}") from None
    if layout not in LAYOUTS:
        raise UploadRejected(400, f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if template and layout != PAGE_LAYOUT:
        raise UploadRejected(400, "a template names the fields of pages: with layout=field each image "
                                  "is one field (field_1), so send no template")
    if not 0.0 <= threshold <= 1.0:
        raise UploadRejected(400, f"review_threshold must be within 0..1, got {threshold}")
    if template:
        try:
            find_template(settings.form_templates_dir, template)
        except TemplateError as exc:
            raise UploadRejected(400, str(exc)) from None
    return template, layout, threshold


class Receiver:
    """Takes an upload's parts in order (`option`, `file`), then `finish` or `discard`."""

    def __init__(self, session: Session, settings: Settings, publish: Publish | None,
                 notify: Callable[[str], None] | None = None, batch_id: str | None = None) -> None:
        """`publish` None: documents are committed unsent, for the recovery sweep (or a test);
        `notify(batch_id)` hands a finished batch's callback to the queue (core.callbacks);
        `batch_id` is the id to give the batch (the hot folder names its claims by it)."""
        self.notify, self.batch_id = notify, batch_id
        self.session, self.settings, self.publish = session, settings, publish
        self.storage = Storage(settings.originals_dir)
        self.raw: dict[str, str] = {}
        self.batch: Batch | None = None
        self.options: tuple[str | None, str, float] | None = None  # those the batch has now
        self.files = 0
        self.entries = 0  # documents, ZIP members counted: their positions in the batch
        self.waiting: list[tuple[int, Incoming]] = []  # rejected before the batch existed
        self.rejected: list[Incoming] = []
        self.queued: list[int] = []
        self.unsent = 0
        self.broker_down = False

    def option(self, name: str, value: str) -> None:
        if name in OPTIONS:
            self.raw[name] = value

    def file(self, name: str | None, stream: BinaryIO) -> None:
        """Store one uploaded file and queue its documents now (a ZIP gives one per member)."""
        self.files += 1
        if self.files > self.settings.max_files_per_batch:
            raise UploadRejected(400, f"more than {self.settings.max_files_per_batch} files, over the "
                                      "limit per batch")
        incoming = ingest(clean_name(name, f"file-{self.files}"), stream, self.storage,
                          zip_limits(self.settings), self.settings.max_upload_bytes)
        if self.entries + len(incoming) > self.settings.max_files_per_batch:
            raise UploadRejected(400, f"{self.entries + len(incoming)} files (ZIPs opened), over the "
                                      f"limit of {self.settings.max_files_per_batch} per batch")
        numbered = list(enumerate(incoming, start=self.entries))  # positions in upload order
        self.entries += len(incoming)
        self.rejected.extend(i for i in incoming if i.error)
        if self.batch is None:
            self.waiting.extend(numbered)
            if all(i.error for i in incoming):
                return  # no batch for unreadable files alone (yet)
            self.options = parse_options(self.settings, self.raw)
            self._callback_url()  # refused before any document is queued
            template, layout, threshold = self.options
            self.batch = Batch(template=template, review_threshold=threshold, layout=layout)
            if self.batch_id:
                self.batch.id = self.batch_id
            self.session.add(self.batch)
            numbered, self.waiting = self.waiting, []
        self._add(numbered)

    def _add(self, numbered: list[tuple[int, Incoming]]) -> None:
        """Commit the documents (claimed for the broker, as the sweep claims), then hand them over."""
        now = utcnow()
        documents = [Document(
            batch=self.batch, position=position, name=item.name,
            sha256=item.stored.sha256 if item.stored else None,
            size=item.stored.size if item.stored else 0, media_type=item.media_type,
            status=FAILED if item.error else QUEUED,
            error=f"{item.name}: {item.error}" if item.error else None,
            finished_at=now if item.error else None,
            enqueued_at=None if item.error or self.broker_down or self.publish is None else now)
            for position, item in numbered]
        self.session.add_all(documents)
        self.session.commit()
        for doc in documents:
            if doc.status != QUEUED:
                continue
            self.queued.append(doc.id)
            if self.publish is None:
                continue
            if self.broker_down:
                self.unsent += 1
                continue
            try:
                self.publish(doc.id)
            except Exception:  # noqa: BLE001 - any broker failure: the sweep sends the rest
                self.broker_down = True
                self.unsent += 1
                self.session.execute(update(Document).where(Document.id == doc.id).values(enqueued_at=None))
                self.session.commit()

    def finish(self) -> Created:
        """The request is complete: apply options that came after the files, and say what was made."""
        if self.files == 0:
            raise UploadRejected(400, "no files: send one or more files in the 'files' field")
        if self.batch is None:
            unsupported = all(i.error and i.error.startswith("not a PNG") for i in self.rejected)
            raise UploadRejected(415 if unsupported else 400,
                                 "; ".join(f"{i.name}: {i.error}" for i in self.rejected))
        final = parse_options(self.settings, self.raw)
        callback = self._callback_url()
        if final != self.options:
            self._reread(final)
        if callback:  # only now: a batch read before its options came must not be reported
            self.batch.callback_url, self.batch.callback_status = callback, callbacks.PENDING
            self.session.commit()
            if self.notify is not None and callbacks.claim_if_finished(self.session, self.batch.id):
                try:
                    self.notify(self.batch.id)
                except Exception:  # noqa: BLE001 - the broker is down: the sweep sends it later
                    log.warning("batch %s: its callback could not be queued now", self.batch.id)
        return Created(self.batch, list(self.queued), list(self.rejected))

    def _callback_url(self) -> str | None:
        url = self.raw.get("callback_url") or self.settings.callback_url
        if not url:
            return None
        try:
            return callbacks.check_url(self.settings, url)
        except callbacks.CallbackRefused as exc:
            raise UploadRejected(400, str(exc)) from None

    def _reread(self, options: tuple[str | None, str, float]) -> None:
        """Options that came after files: the batch takes them, and what was read is read again."""
        assert self.batch is not None
        batch_id = self.batch.id
        template, layout, threshold = options
        self.session.execute(update(Batch).where(Batch.id == batch_id).values(
            template=template, layout=layout, review_threshold=threshold))
        again = self.session.scalars(
            update(Document).where(Document.batch_id == batch_id, Document.status == DONE)
            .values(status=QUEUED, attempts=0, error=None, started_at=None, finished_at=None,
                    enqueued_at=utcnow()).returning(Document.id)).all()
        self.session.execute(delete(Page).where(Page.document_id.in_(again)))
        self.session.commit()
        self.session.refresh(self.batch)
        log.info("batch %s: options came after %d document(s) were read: read again", batch_id, len(again))
        for document_id in again:
            if self.broker_down or self.publish is None:
                break
            try:
                self.publish(document_id)
            except Exception:  # noqa: BLE001
                self.broker_down = True
        self.options = options

    def discard(self) -> None:
        """The upload was refused or died half way: delete the batch made so far (results too)."""
        self.session.rollback()
        if self.batch is not None and self.batch.id is not None:
            self.session.execute(delete(Batch).where(Batch.id == self.batch.id))
            self.session.commit()
            log.info("batch %s: upload refused or interrupted after %d file(s): deleted",
                     self.batch.id, self.files)
        self.batch = None


def create_batch(session: Session, settings: Settings, files: Sequence[tuple[str | None, BinaryIO]],
                 options: dict[str, str] | None = None, publish: Publish | None = None) -> Created:
    """A whole upload at once (files already at hand): what the API does part by part."""
    receiver = Receiver(session, settings, publish)
    for name, value in (options or {}).items():
        receiver.option(name, value)
    try:
        for name, stream in files:
            receiver.file(name, stream)
        return receiver.finish()
    except BaseException:
        receiver.discard()
        raise
