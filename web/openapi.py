"""The OpenAPI 3.1 description of every /api/ route, served at /api/openapi.json.

Written out here, next to the handlers it describes, and kept true by a test that has
schemathesis call every operation with generated requests and check every answer against it
(`tests/web/test_openapi.py`).
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from core.export import CSV_COLUMNS
from core.schema import LAYOUTS

bp = Blueprint("openapi", __name__)


def _error(description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _json(description: str, ref: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


def _id(name: str, description: str) -> dict:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "integer", "minimum": 0}}


BATCH_ID = {"name": "batch_id", "in": "path", "required": True, "description": "The batch's id.",
            "schema": {"type": "string"}}
UNAUTHORISED = _error("API_TOKEN is set and no valid 'Authorization: Bearer <token>' was sent.")
TOO_MANY = _error("Too many wrong tokens from this client: try again after Retry-After seconds.")
DOWN = _error("The database is not answering (Retry-After: 3).")
COMMON = {"401": UNAUTHORISED, "429": TOO_MANY, "503": DOWN}
COUNTS = {"type": "object", "properties": {"total": {"type": "integer"}, "done": {"type": "integer"}}}
BOX = {"type": "object", "required": ["x", "y", "width", "height"],
       "properties": {k: {"type": "integer"} for k in ("x", "y", "width", "height")}}

SCHEMAS: dict[str, dict] = {
    "Error": {"type": "object", "required": ["error"], "properties": {
        "error": {"type": "string", "description": "What is wrong, naming the file when there is one."}}},
    "BatchCreated": {"type": "object", "required": ["id", "status", "status_url", "documents", "errors"],
                     "properties": {
                         "id": {"type": "string"}, "status": {"const": "queued"},
                         "status_url": {"type": "string"}, "documents": {"type": "integer"},
                         "errors": {"type": "array", "items": {"$ref": "#/components/schemas/DocumentError"}},
                         "warning": {"type": "string"}}},
    "DocumentError": {"type": "object", "required": ["document", "error"], "properties": {
        "document": {"type": "string"}, "error": {"type": "string"}}},
    "BatchSummary": {"type": "object", "required": ["id", "status", "documents", "pages", "fields"],
                     "properties": {
                         "id": {"type": "string"},
                         "status": {"enum": ["queued", "processing", "done", "partial", "failed"]},
                         "documents": {"type": "object", "properties": {
                             k: {"type": "integer"} for k in ("total", "done", "failed")}},
                         "pages": COUNTS,
                         "fields": {"type": "object", "properties": {
                             k: {"type": "integer"} for k in ("total", "needs_review")}},
                         "template": {"type": ["string", "null"]},
                         "layout": {"enum": list(LAYOUTS)},
                         "review_threshold": {"type": "number"},
                         "created_at": {"type": ["string", "null"]},
                         "finished_at": {"type": ["string", "null"]},
                         "status_url": {"type": "string"},
                         "callback": {"type": "object", "description": "With a callback_url only.",
                                      "required": ["url", "status", "attempts"], "properties": {
                                          "url": {"type": "string"},
                                          "status": {"enum": ["pending", "sending", "delivered", "failed"]},
                                          "attempts": {"type": "integer"},
                                          "error": {"type": ["string", "null"]},
                                          "last_attempt_at": {"type": ["string", "null"]}}}}},
    "BatchStatus": {"allOf": [{"$ref": "#/components/schemas/BatchSummary"}, {
        "type": "object", "required": ["errors"], "properties": {
            "errors": {"type": "array", "items": {"$ref": "#/components/schemas/DocumentError"}}}}]},
    "BatchList": {"type": "object", "required": ["batches", "page", "per_page", "total", "next"],
                  "properties": {
                      "batches": {"type": "array", "items": {"$ref": "#/components/schemas/BatchSummary"}},
                      "page": {"type": "integer"}, "per_page": {"type": "integer"},
                      "total": {"type": "integer"}, "next": {"type": ["string", "null"]}}},
    "Documents": {"type": "object", "required": ["documents"], "properties": {
        "documents": {"type": "array", "items": {"type": "object", "required": ["id", "name", "status"],
                                                 "properties": {"id": {"type": "integer"},
                                                                "name": {"type": "string"},
                                                                "status": {"type": "string"}}}}}},
    "Digit": {"type": "object", "required": ["value", "confidence", "box"], "properties": {
        "value": {"type": "string"}, "confidence": {"type": "number"}, "box": BOX,
        "alternatives": {"type": "array"}, "doubtful": {"type": "boolean"}}},
    "Field": {"type": "object",
              "required": ["id", "document", "page", "field", "value", "confidence", "status"],
              "properties": {
                  "id": {"type": "integer"}, "document": {"type": "string"},
                  "document_id": {"type": "integer"},
                  "page": {"type": "integer"}, "field": {"type": "string"},
                  "kind": {"enum": ["comb", "box", "field"]}, "position": {"type": "integer"}, "box": BOX,
                  "value": {"type": "string"}, "recognized_value": {"type": "string"},
                  "confidence": {"type": "number"},
                  "status": {"enum": ["auto", "needs_review", "reviewed"]}, "unreadable": {"type": "boolean"},
                  "readings": {"type": "object", "additionalProperties": {"type": "string"}},
                  "rule_error": {"type": ["string", "null"], "description": (
                      "Why no reading keeps the rule of the field's template region (the field "
                      "then waits for review); null when it has no rule or keeps it.")},
                  "warnings": {"type": "array", "items": {"type": "string"}, "description": (
                      "What the reader noticed about this field, e.g. that a line was struck "
                      "through its writing (it then waits for review)")},
                  "reviewed_by": {"type": ["string", "null"]}, "reviewed_at": {"type": ["string", "null"]},
                  "digits": {"type": "array", "items": {"$ref": "#/components/schemas/Digit"}},
                  "history": {"type": "array"}, "crop_url": {"type": "string"}}},
    "Export": {"type": "object", "required": ["batch_id", "fields"], "properties": {
        "batch_id": {"type": "string"},
        "fields": {"type": "array", "items": {"$ref": "#/components/schemas/Field"}}}},
    "PageFields": {"type": "object", "required": ["document", "page", "width", "height", "fields"],
                   "properties": {"document": {"type": "string"}, "page": {"type": "integer"},
                                  "width": {"type": "integer"}, "height": {"type": "integer"},
                                  "fields": {"type": "array"}}},
    "ReviewQueue": {"type": "object", "required": ["left", "fields"], "properties": {
        "left": {"type": "integer"},
        "fields": {"type": "array", "items": {"$ref": "#/components/schemas/Field"}}}},
    "Correction": {"type": "object", "properties": {
        "value": {"type": "string", "pattern": "^[0-9]*$", "description": "The field's digits."},
        "unreadable": {"type": "boolean"}, "reviewer": {"type": "string"}}},
    "ModelVersion": {"type": "object",
                     "required": ["id", "name", "status", "files", "metrics", "created_at", "promoted_at"],
                     "properties": {
                         "id": {"type": "integer"}, "name": {"type": "string"},
                         "status": {"enum": ["candidate", "promoted", "retired"]},
                         "files": {"type": "object", "additionalProperties": {"type": "string"},
                                   "description": ("Role (digits, strings, strings_pages, "
                                                   "combination) -> SHA-256 of its file; a role "
                                                   "not here is the shipped file.")},
                         "metrics": {"type": ["object", "null"], "description": "Its evaluation."},
                         "note": {"type": ["string", "null"]},
                         "created_at": {"type": ["string", "null"]},
                         "promoted_at": {"type": ["string", "null"]}}},
    "ImproveRun": {"type": "object", "required": ["state", "log"], "properties": {
        "state": {"enum": ["none", "queued", "running", "done", "failed"]},
        "log": {"type": "array", "items": {"type": "string"}, "description": "Its last progress lines."},
        "version": {"type": "integer", "description": "The candidate registered (when done)."},
        "promoted": {"type": "boolean"}, "metrics": {"type": "object"},
        "error": {"type": "string"}, "status_url": {"type": "string"}}},
    "ModelVersions": {"type": "object", "required": ["active", "models"], "properties": {
        "active": {"type": ["integer", "null"],
                   "description": "The promoted version; null: workers read with the shipped files."},
        "models": {"type": "array", "items": {"$ref": "#/components/schemas/ModelVersion"}}}},
}


def _model_change(summary: str, operation_id: str, which: str, done: str,
                  conflict: str | None = None, description: str | None = None) -> dict:
    """A POST that changes a registered model version's status (web.api._change_model)."""
    responses = {"200": _json(done, "ModelVersion"),
                 "403": _error("A browser request without CSRF token."),
                 "404": _error("No such registered version.")}
    if conflict:
        responses["409"] = _error(conflict)
    operation = {"summary": summary, "operationId": operation_id,
                 "parameters": [_id("version_id", which)], "responses": {**responses, **COMMON}}
    if description:
        operation["description"] = description
    return {"post": operation}


def spec() -> dict:
    """The OpenAPI 3.1 document."""
    get, post, patch = "get", "post", "patch"
    paths = {
        "/api/batches": {
            post: {"summary": "Upload a batch of scans", "operationId": "createBatch",
                   "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                       "type": "object", "required": ["files"], "properties": {
                           "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                           "template": {"type": "string"},
                           "review_threshold": {"type": "number", "minimum": 0, "maximum": 1},
                           "layout": {"enum": list(LAYOUTS), "default": "page"},
                           "callback_url": {"type": "string", "description": (
                               "Told with a signed POST when the batch finishes (hosts in "
                               "CALLBACK_HOSTS only; see the README)")}}}}}},
                   "responses": {"202": _json("Accepted: the documents are queued.", "BatchCreated"),
                                 "400": _error("Bad input."),
                                 "403": _error("A browser request without CSRF token."),
                                 "413": _error("Too large, or too many files."),
                                 "415": _error("No file of a supported type."), **COMMON}},
            get: {"summary": "Batches, newest first", "operationId": "listBatches",
                  "parameters": [{"name": "page", "in": "query", "schema": {"type": "integer"}},
                                 {"name": "per_page", "in": "query", "schema": {"type": "integer"}}],
                  "responses": {"200": _json("A page of batches.", "BatchList"),
                                "400": _error("Not a whole number."), **COMMON}}},
        "/api/batches/{batch_id}": {get: {
            "summary": "A batch's status and progress", "operationId": "batchStatus",
            "parameters": [BATCH_ID],
            "responses": {"200": _json("The batch.", "BatchStatus"), "404": _error("No such batch."),
                          **COMMON}}},
        "/api/batches/{batch_id}/documents": {get: {
            "summary": "A batch's documents", "operationId": "batchDocuments", "parameters": [BATCH_ID],
            "responses": {"200": _json("Its documents.", "Documents"), "404": _error("No such batch."),
                          **COMMON}}},
        "/api/batches/{batch_id}/export.csv": {get: {
            "summary": "One CSV row per field", "operationId": "exportCsv", "parameters": [BATCH_ID],
            "description": "Columns: " + ", ".join(CSV_COLUMNS),
            "responses": {"200": {"description": "The CSV.",
                                  "content": {"text/csv": {"schema": {"type": "string"}}}},
                          "404": _error("No such batch."), **COMMON}}},
        "/api/batches/{batch_id}/export.json": {get: {
            "summary": "Every field with its digits", "operationId": "exportJson", "parameters": [BATCH_ID],
            "responses": {"200": _json("The fields.", "Export"), "404": _error("No such batch."), **COMMON}}},
        "/api/documents/{document_id}/reprocess": {post: {
            "summary": "Read a document again", "operationId": "reprocess",
            "parameters": [_id("document_id", "The document.")],
            "responses": {"202": {"description": "Queued.", "content": {"application/json": {"schema": {
                "type": "object", "required": ["id", "status"]}}}},
                "403": _error("A browser request without CSRF token."),
                "404": _error("No readable document."), **COMMON}}},
        "/api/documents/{document_id}/pages/{number}": {get: {
            "summary": "A page's fields", "operationId": "pageFields",
            "parameters": [_id("document_id", "The document."), _id("number", "The page, from 1.")],
            "responses": {"200": _json("The page.", "PageFields"), "404": _error("No such page."),
                          **COMMON}}},
        "/api/documents/{document_id}/pages/{number}/image": {get: {
            "summary": "A page's image, scaled", "operationId": "pageImage",
            "parameters": [_id("document_id", "The document."), _id("number", "The page, from 1."),
                           {"name": "max_width", "in": "query", "schema": {"type": "integer"}}],
            "responses": {"200": {"description": "JPEG.", "content": {"image/jpeg": {}}},
                          "400": _error("Bad max_width."), "404": _error("No such page."),
                          "422": _error("The page cannot be rendered."), **COMMON}}},
        "/api/templates": {get: {
            "summary": "The form templates", "operationId": "templates",
            "responses": {"200": {"description": "Their names.", "content": {"application/json": {"schema": {
                "type": "object", "required": ["templates"],
                "properties": {"templates": {"type": "array", "items": {"type": "string"}}}}}}}, **COMMON}}},
        "/api/review/next": {get: {
            "summary": "The next fields waiting for a person", "operationId": "reviewNext",
            "parameters": [{"name": "batch", "in": "query", "schema": {"type": "string"}},
                           {"name": "after", "in": "query", "schema": {"type": "integer"}},
                           {"name": "count", "in": "query", "schema": {"type": "integer"}}],
            "responses": {"200": _json("Fields to review.", "ReviewQueue"),
                          "400": _error("Not a whole number."), **COMMON}}},
        "/api/fields/{field_id}": {
            get: {"summary": "A field, its digits and its history", "operationId": "field",
                  "parameters": [_id("field_id", "The field.")],
                  "responses": {"200": _json("The field.", "Field"), "404": _error("No such field."),
                                **COMMON}},
            patch: {"summary": "A person's reading of a field", "operationId": "correct",
                    "parameters": [_id("field_id", "The field.")],
                    "requestBody": {"required": True, "content": {"application/json": {"schema": {
                        "$ref": "#/components/schemas/Correction"}}}},
                    "responses": {"200": _json("The field as corrected.", "Field"),
                                  "400": _error("Not digits, or unreadable not a boolean."),
                                  "403": _error("A browser request without CSRF token."),
                                  "404": _error("No such field."), **COMMON}}},
        "/api/fields/{field_id}/crop.png": {get: {
            "summary": "The field's crop", "operationId": "crop",
            "parameters": [_id("field_id", "The field.")],
            "responses": {"200": {"description": "PNG.", "content": {"image/png": {}}},
                          "404": _error("No such field."), "422": _error("The page cannot be rendered."),
                          **COMMON}}},
        "/api/models": {get: {
            "summary": "Registered model versions, newest first", "operationId": "listModels",
            "responses": {"200": _json("The versions and the active one.", "ModelVersions"), **COMMON}}},
        "/api/models/improve": {
            get: {"summary": "The last run of improving from corrections", "operationId": "improveStatus",
                  "responses": {"200": _json("Its state, progress and outcome.", "ImproveRun"), **COMMON}},
            post: {"summary": "Improve the readers from the reviewed fields", "operationId": "improveModels",
                   "description": "A candidate is trained on the reviewed fields, judged against the "
                                  "readers in use and promoted only if better (worker.improve); "
                                  "follow it at GET /api/models/improve.",
                   "responses": {"202": _json("Queued.", "ImproveRun"),
                                 "403": _error("A browser request without CSRF token."),
                                 "409": _error("A run is going on already."), **COMMON}}},
        "/api/models/{version_id}/promote": _model_change(
            "Make a version the one workers read with", "promoteModel", "The registered version.",
            "The version, now promoted.",
            description="Workers take it up as they start their next document; the version active "
                        "before is retired."),
        "/api/models/{version_id}/rollback": _model_change(
            "Make a version that was active before active again", "rollbackModel", "A retired version.",
            "The version, promoted again.",
            conflict="The version is active already, or was never promoted."),
        "/api/models/{version_id}/retire": _model_change(
            "Retire the active version: back to the shipped files", "retireModel", "The active version.",
            "The version, now retired.", conflict="The version is not the active one."),
        "/api/openapi.json": {get: {
            "summary": "This description", "operationId": "openapi",
            "responses": {"200": {"description": "OpenAPI 3.1.", "content": {"application/json": {}}},
                          **COMMON}}},
    }
    return {"openapi": "3.1.0",
            "info": {"title": "Digits", "version": "1",
                     "description": "Batch digit recognition for scanned forms and cheques."},
            "servers": [{"url": "/"}],
            "security": [{"bearer": []}, {}],
            "components": {"schemas": SCHEMAS,
                           "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                                          "description": "API_TOKEN, when it is set."}}},
            "paths": paths}


@bp.get("/api/openapi.json")
def openapi() -> Response:
    return jsonify(spec())
