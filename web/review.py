"""Review: the queue of doubtful fields, a field's crop and digits, and corrections."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, render_template, request

from core import review
from core.processing import KINDS
from core.schema import Document, Field, Page
from web import images
from web.api import error
from web.auth import logged_in, reviewer_name
from web.extensions import db, settings
from web.ids import MAX_ID, query_int

bp = Blueprint("review", __name__)


@bp.get("/review")
def review_page() -> str:
    return render_template("review.html", batch_id=request.args.get("batch", ""),
                           field_id=request.args.get("field", ""))


@bp.get("/api/review/next")
def next_fields() -> Response | tuple[Response, int]:
    try:
        after = query_int("after", 0, -MAX_ID, MAX_ID)
        count = min(10, max(1, query_int("count", 3, -MAX_ID, MAX_ID)))
    except ValueError as exc:
        return error(400, str(exc))
    return jsonify(review.queue(db(), request.args.get("batch") or None, after, count))


@bp.get("/api/fields/<int:field_id>")
def field(field_id: int) -> Response | tuple[Response, int]:
    found = review.detail(db(), field_id)
    if found is None:
        return error(404, f"no field {field_id}")
    found["history"] = review.history(db(), field_id)
    return jsonify(found)


@bp.patch("/api/fields/<int:field_id>")
def correct(field_id: int) -> Response | tuple[Response, int]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error(400, 'send JSON: {"value": "123"} or {"unreadable": true}')
    unreadable = body.get("unreadable", False)
    if not isinstance(unreadable, bool):
        return error(400, f"'unreadable' must be true or false (a JSON boolean), got {unreadable!r}")
    value = body.get("value")
    if not unreadable and not isinstance(value, str):
        return error(400, "'value' must be a string of digits (or send 'unreadable': true)")
    # A logged-in person is who the session says; API clients (token holders) may name one.
    named = body.get("reviewer") if isinstance(body.get("reviewer"), str) else None
    reviewer = reviewer_name() if logged_in() or not named else named
    try:
        result = review.correct(db(), field_id, review.Correction(value, unreadable, reviewer))
    except LookupError:
        return error(404, f"no field {field_id}")
    except review.ReviewError as exc:
        return error(400, str(exc))
    db().commit()
    return jsonify(result)


@bp.get("/api/fields/<int:field_id>/crop.png")
def crop(field_id: int) -> Response | tuple[Response, int]:
    row = db().query(Field, Page, Document).join(Page, Field.page_id == Page.id).join(
        Document, Field.document_id == Document.id).filter(Field.id == field_id).first()
    if row is None:
        return error(404, f"no field {field_id}")
    f, page, doc = row
    try:
        pixels = images.page_pixels(settings(), doc.sha256 or "", KINDS.get(doc.media_type or "", ""),
                                    page.number)
    except Exception as exc:  # noqa: BLE001 - the original cannot be shown: say why
        return error(422, f"{doc.name}: page {page.number} cannot be shown ({exc})")
    response = Response(images.encode_png(images.crop(pixels, f.x, f.y, f.width, f.height)),
                        mimetype="image/png")
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response
