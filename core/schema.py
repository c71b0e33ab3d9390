"""The database schema: batches of documents, their pages, fields and digits, reviews, models.

The database is the source of truth for job state: a batch's status is derived from its
documents' states (`core.batches`), never kept twice. Image bytes are never stored here: a
document points at its original by content hash (`core.storage`).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Document states, in the order they happen.
QUEUED, PROCESSING, DONE, FAILED = "queued", "processing", "done", "failed"
# Field states: read with confidence, waiting for a person, read by a person.
AUTO, NEEDS_REVIEW, REVIEWED = "auto", "needs_review", "reviewed"
# How a batch's images are laid out: pages holding drawn fields, or each image one field.
PAGE_LAYOUT, FIELD_LAYOUT = "page", "field"
LAYOUTS = (PAGE_LAYOUT, FIELD_LAYOUT)
# A registered model version's states (core.models_registry).
CANDIDATE, PROMOTED, RETIRED = "candidate", "promoted", "retired"


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso_utc(value: datetime | None) -> str | None:
    """ISO 8601 in UTC (SQLite hands datetimes back without their zone: they were stored UTC)."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def new_id() -> str:
    return uuid.uuid4().hex


class Base(DeclarativeBase):
    type_annotation_map = {datetime: DateTime(timezone=True)}


class ModelVersion(Base):
    """Readers that produced results. Either recorded by a worker under the name of the shipped
    files it read with (`status` None), or registered (`core.models_registry`): its files by
    role, kept content-addressed in the data directory, and its place in the registry."""

    __tablename__ = "model_versions"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)  # human-readable
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Registered versions only: CANDIDATE, then PROMOTED (one at a time), then RETIRED.
    status: Mapped[str | None] = mapped_column(String(16))
    files: Mapped[dict[str, str] | None] = mapped_column(JSON)  # role -> sha256 (missing: shipped)
    metrics: Mapped[dict | None] = mapped_column(JSON)  # the evaluation that argues for it
    note: Mapped[str | None] = mapped_column(Text)
    promoted_at: Mapped[datetime | None]  # the last time it was made the active one
    __table_args__ = (
        # The database keeps "exactly one promoted at a time", whatever runs at once.
        Index("uq_model_versions_promoted", "status", unique=True,
              sqlite_where=text("status = 'promoted'"), postgresql_where=text("status = 'promoted'")),
    )


class Batch(Base):
    __tablename__ = "batches"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    template: Mapped[str | None] = mapped_column(String(64))
    review_threshold: Mapped[float] = mapped_column(Float)
    # "page": find the digit fields on each page; "field": each image is one whole field.
    layout: Mapped[str] = mapped_column(String(8), default=PAGE_LAYOUT, server_default=PAGE_LAYOUT)
    # Told with a signed POST when the batch finishes (core.callbacks): where, and how it went
    # (CALLBACK_PENDING until the batch finishes, then sending, delivered or failed).
    callback_url: Mapped[str | None] = mapped_column(String(2048))
    callback_status: Mapped[str | None] = mapped_column(String(16))
    callback_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    callback_error: Mapped[str | None] = mapped_column(Text)
    callback_at: Mapped[datetime | None]  # the last attempt's time
    documents: Mapped[list[Document]] = relationship(back_populates="batch", order_by="Document.position")


class Document(Base):
    """One uploaded file (or one file inside an uploaded ZIP)."""

    __tablename__ = "documents"
    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # order in the upload
    name: Mapped[str] = mapped_column(Text)  # file name; inside a ZIP, its path there
    sha256: Mapped[str | None] = mapped_column(String(64))  # content address of the original
    size: Mapped[int] = mapped_column(Integer, default=0)
    media_type: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default=QUEUED, index=True)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    page_count: Mapped[int | None] = mapped_column(Integer)
    pages_done: Mapped[int] = mapped_column(Integer, default=0)
    enqueued_at: Mapped[datetime | None]  # None: not yet handed to the broker
    started_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]  # last sign of life from the worker reading it
    finished_at: Mapped[datetime | None]
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    batch: Mapped[Batch] = relationship(back_populates="documents")
    pages: Mapped[list[Page]] = relationship(back_populates="document", order_by="Page.number",
                                             cascade="all, delete-orphan", passive_deletes=True)
    __table_args__ = (Index("ix_documents_batch_position", "batch_id", "position"),)


class Page(Base):
    __tablename__ = "pages"
    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # 1-based
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    skew_deg: Mapped[float] = mapped_column(Float, default=0.0)
    rotation: Mapped[int] = mapped_column(Integer, default=0)
    warnings: Mapped[list[str]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text)  # this page could not be read
    document: Mapped[Document] = relationship(back_populates="pages")
    fields: Mapped[list[Field]] = relationship(back_populates="page", order_by="Field.position",
                                               cascade="all, delete-orphan", passive_deletes=True)
    __table_args__ = (UniqueConstraint("document_id", "number"),)


class Field(Base):
    __tablename__ = "fields"
    id: Mapped[int] = mapped_column(primary_key=True)
    page_id: Mapped[int] = mapped_column(ForeignKey("pages.id", ondelete="CASCADE"), index=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)  # reading order on the page, from 1
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))  # comb | box | field (a whole field image)
    x: Mapped[int] = mapped_column(Integer)
    y: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    cells: Mapped[list[list[int]]] = mapped_column(JSON, default=list)
    recognized_value: Mapped[str] = mapped_column(Text)
    value: Mapped[str] = mapped_column(Text)  # final: the reviewer's when reviewed
    confidence: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))
    unreadable: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    readings: Mapped[dict[str, str] | None] = mapped_column(JSON)  # each reader's own reading
    # Why no reading kept the rule of the field's template region (it then waits for review).
    rule_error: Mapped[str | None] = mapped_column(Text)
    page: Mapped[Page] = relationship(back_populates="fields")
    digits: Mapped[list[Digit]] = relationship(back_populates="field", order_by="Digit.position",
                                               cascade="all, delete-orphan", passive_deletes=True)
    __table_args__ = (
        UniqueConstraint("page_id", "position"),
        Index("ix_fields_batch_status", "batch_id", "status"),
        Index("ix_fields_status_id", "status", "id"),
    )


class Digit(Base):
    __tablename__ = "digits"
    id: Mapped[int] = mapped_column(primary_key=True)
    field_id: Mapped[int] = mapped_column(ForeignKey("fields.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    value: Mapped[str] = mapped_column(String(1))
    confidence: Mapped[float] = mapped_column(Float)
    x: Mapped[int] = mapped_column(Integer)
    y: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    alternatives: Mapped[list[list[object]]] = mapped_column(JSON, default=list)
    field: Mapped[Field] = relationship(back_populates="digits")


class Review(Base):
    """Every change a person made to a field: who, when, the value before and after.
    Kept even if the field is read again (the field link is then cleared)."""

    __tablename__ = "reviews"
    id: Mapped[int] = mapped_column(primary_key=True)
    field_id: Mapped[int | None] = mapped_column(ForeignKey("fields.id", ondelete="SET NULL"), index=True)
    batch_id: Mapped[str] = mapped_column(String(32), index=True)
    document_id: Mapped[int] = mapped_column(Integer)
    page_number: Mapped[int] = mapped_column(Integer)
    field_position: Mapped[int] = mapped_column(Integer)
    reviewer: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    action: Mapped[str] = mapped_column(String(16))  # correct | confirm | unreadable
    old_value: Mapped[str] = mapped_column(Text)
    new_value: Mapped[str] = mapped_column(Text)


class WebSession(Base):
    """A browser's login: the cookie names it by `id`; logout deletes it, and it is bound to
    the API token in force when it was made (a new token ends every older session)."""

    __tablename__ = "web_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 of the API token ("" without one)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoginFailure(Base):
    """A wrong token offered by a client (login form or Bearer header), for rate limiting."""

    __tablename__ = "login_failures"
    id: Mapped[int] = mapped_column(primary_key=True)
    client: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
