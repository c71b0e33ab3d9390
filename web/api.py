"""The JSON API: batches in, status and exports out. Handlers are thin: the work is in core."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, jsonify, request, stream_with_context
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from core import batches, export, improve_runs
from core import models_registry as registry
from core.receiving import Receiver
from core.schema import Batch, Document, Page
from segmentation.templates import available
from web import images, uploads
from web.extensions import celery, db, notify, publish, settings
from web.ids import MAX_ID, query_int
from worker.celery_app import IMPROVE_MODELS, TRAINING_QUEUE

bp = Blueprint("api", __name__, url_prefix="/api")
MAX_PER_PAGE = 100


def error(status: int, message: str) -> tuple[Response, int]:
    return jsonify(error=message), status


def too_large(exc: RequestEntityTooLarge) -> Response | tuple[Response, int]:
    limit = settings().max_upload_bytes
    if request.content_length is not None and request.content_length <= limit:
        return error(413, f"too many files in one request: at most "
                          f"{settings().max_files_per_batch} per batch")
    return error(413, f"the upload is larger than the limit of {limit} bytes "
                      f"({limit / 1048576:.0f} MiB): send fewer or smaller files per batch")


def database_down(exc: OperationalError) -> Response | tuple[Response, int]:
    if not request.path.startswith("/api/"):
        raise exc
    response, status = error(503, "the database is not answering; try again in a few seconds")
    response.headers["Retry-After"] = "3"
    return response, status


def http_error(exc: HTTPException) -> Response | HTTPException | tuple[Response, int]:
    if not request.path.startswith("/api/"):
        return exc  # pages get Flask's own HTML error pages
    return error(exc.code or 500, exc.description or exc.name)


def init_app(app: Flask) -> None:
    """Errors under /api/ are answered in JSON, whichever blueprint (or none) raised them."""
    app.register_error_handler(RequestEntityTooLarge, too_large)
    app.register_error_handler(OperationalError, database_down)
    app.register_error_handler(HTTPException, http_error)


def _batch(batch_id: str) -> Batch | None:
    return db().get(Batch, batch_id) if len(batch_id) <= 32 else None


@bp.post("/batches")
def create_batch() -> tuple[Response, int]:
    receiver = Receiver(db(), settings(), publish, notify)
    try:
        created = uploads.receive(request, receiver)
    except batches.UploadRejected as exc:
        receiver.discard()
        return error(exc.status, exc.message)
    except BaseException:  # refused by the server's limits, or the client went away
        receiver.discard()
        raise
    body = {"id": created.batch.id, "status": "queued",
            "status_url": f"/api/batches/{created.batch.id}",
            "documents": len(created.batch.documents),
            "errors": [{"document": i.name, "error": f"{i.name}: {i.error}"} for i in created.rejected]}
    if receiver.unsent:
        body["warning"] = (f"the broker is not answering: {receiver.unsent} document(s) are kept and will "
                           "be queued automatically as soon as it is back")
    return jsonify(body), 202


@bp.get("/batches")
def list_batches() -> Response | tuple[Response, int]:
    try:
        page = max(1, query_int("page", 1, -MAX_ID, MAX_ID))
        per_page = min(MAX_PER_PAGE, max(1, query_int("per_page", 20, -MAX_ID, MAX_ID)))
    except ValueError as exc:
        return error(400, str(exc))
    return jsonify(batches.list_batches(db(), page, per_page))


@bp.get("/batches/<batch_id>")
def batch_status(batch_id: str) -> Response | tuple[Response, int]:
    batch = _batch(batch_id)
    if batch is None:
        return error(404, f"no batch {batch_id}")
    return jsonify(batches.batch_status(db(), batch))


@bp.get("/batches/<batch_id>/documents")
def batch_documents(batch_id: str) -> Response | tuple[Response, int]:
    if _batch(batch_id) is None:
        return error(404, f"no batch {batch_id}")
    return jsonify(documents=batches.documents_of(db(), batch_id))


def _stream(batch_id: str, produce: object, mimetype: str, filename: str) -> Response:
    factory = db  # the request's session stays open while the response streams

    def generate():  # type: ignore[no-untyped-def]
        yield from produce(factory(), batch_id)  # type: ignore[operator]

    response = Response(stream_with_context(generate()), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.get("/batches/<batch_id>/export.csv")
def export_csv(batch_id: str) -> Response | tuple[Response, int]:
    if _batch(batch_id) is None:
        return error(404, f"no batch {batch_id}")
    return _stream(batch_id, export.csv_lines, "text/csv", f"batch-{batch_id}.csv")


@bp.get("/batches/<batch_id>/export.json")
def export_json(batch_id: str) -> Response | tuple[Response, int]:
    if _batch(batch_id) is None:
        return error(404, f"no batch {batch_id}")
    return _stream(batch_id, export.json_chunks, "application/json", f"batch-{batch_id}.json")


@bp.post("/documents/<int:document_id>/reprocess")
def reprocess(document_id: int) -> tuple[Response, int]:
    if not batches.reprocess(db(), document_id):
        return error(404, f"no readable document {document_id}")
    db().commit()
    unsent = batches.enqueue(db(), [document_id], publish)
    body = {"id": document_id, "status": "queued"}
    if unsent:
        body["warning"] = "the broker is not answering: it will be queued as soon as it is back"
    return jsonify(body), 202


@bp.get("/documents/<int:document_id>/pages/<int:number>")
def page_fields(document_id: int, number: int) -> Response | tuple[Response, int]:
    row = db().execute(select(Page, Document).join(Document, Page.document_id == Document.id)
                       .where(Page.document_id == document_id, Page.number == number)).first()
    if row is None:
        return error(404, f"no page {number} in document {document_id}")
    page, doc = row
    return jsonify({
        "document": doc.name, "document_id": doc.id, "page": page.number,
        "pages": doc.page_count, "width": page.width, "height": page.height,
        "skew_deg": page.skew_deg, "rotation": page.rotation, "warnings": page.warnings,
        "error": page.error, "image_url": f"/api/documents/{doc.id}/pages/{page.number}/image",
        "fields": [{"id": f.id, "field": f.name, "status": f.status, "value": f.value,
                    "confidence": round(f.confidence, 4), "unreadable": f.unreadable,
                    "box": {"x": f.x, "y": f.y, "width": f.width, "height": f.height}}
                   for f in page.fields]})


@bp.get("/documents/<int:document_id>/pages/<int:number>/image")
def page_image(document_id: int, number: int) -> Response | tuple[Response, int]:
    try:
        max_width = query_int("max_width", 1400, 1, 20000)
    except ValueError as exc:
        return error(400, f"{exc} (pixels)")
    doc = db().get(Document, document_id)
    if doc is None or doc.sha256 is None or not doc.page_count or not 1 <= number <= doc.page_count:
        return error(404, f"no page {number} in document {document_id}")
    from core.processing import KINDS

    try:
        pixels = images.page_pixels(settings(), doc.sha256, KINDS.get(doc.media_type or "", ""), number)
    except Exception as exc:  # noqa: BLE001 - the worker recorded why; say it again
        return error(422, f"{doc.name}: page {number} cannot be shown ({exc})")
    shown, _ = images.view(pixels, max_width)
    response = Response(images.encode_jpeg(shown), mimetype="image/jpeg")
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@bp.get("/templates")
def templates() -> Response:
    return jsonify(templates=available(settings().form_templates_dir))


@bp.get("/models")
def list_models() -> Response:
    active = registry.active(db())
    return jsonify(active=active.id if active else None,
                   models=[registry.describe(v) for v in registry.versions(db())])


def _change_model(change: object, version_id: int) -> Response | tuple[Response, int]:
    try:
        version = change(db(), version_id)  # type: ignore[operator]
    except registry.UnknownVersion as exc:
        return error(404, str(exc))
    except registry.RegistryError as exc:
        return error(409, str(exc))
    db().commit()
    return jsonify(registry.describe(version))


@bp.get("/models/improve")
def improve_status() -> Response:
    return jsonify(improve_runs.status(settings()))


@bp.post("/models/improve")
def improve_models() -> tuple[Response, int]:
    try:
        state = improve_runs.mark_queued(settings())
    except improve_runs.Busy as exc:
        return error(409, str(exc))
    try:
        celery().send_task(IMPROVE_MODELS, queue=TRAINING_QUEUE)
    except Exception as exc:  # noqa: BLE001 - the broker does not answer: say so, nothing queued
        improve_runs.record(settings(), {**state, "state": "failed", "error": f"not queued: {exc}"})
        return error(503, f"the broker does not answer: nothing was queued ({exc})")
    return jsonify({**state, "status_url": "/api/models/improve"}), 202


@bp.post("/models/<int:version_id>/promote")
def promote_model(version_id: int) -> Response | tuple[Response, int]:
    return _change_model(registry.promote, version_id)


@bp.post("/models/<int:version_id>/rollback")
def rollback_model(version_id: int) -> Response | tuple[Response, int]:
    return _change_model(registry.rollback, version_id)


@bp.post("/models/<int:version_id>/retire")
def retire_model(version_id: int) -> Response | tuple[Response, int]:
    return _change_model(registry.retire, version_id)
