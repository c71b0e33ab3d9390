"""The pages people use: upload, batches, a batch's documents and page images; login; health."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, jsonify, redirect, render_template, request, url_for
from sqlalchemy import text

from core.schema import Batch
from segmentation.templates import available
from web import sessions
from web.auth import csrf_token, token_matches
from web.extensions import celery, db, settings

bp = Blueprint("pages", __name__)


@bp.get("/")
def upload() -> str:
    return render_template("upload.html", templates=available(settings().form_templates_dir),
                           threshold=settings().review_threshold,
                           max_upload=settings().max_upload_bytes)


@bp.get("/batches")
def batches() -> str:
    return render_template("batches.html")


@bp.get("/batches/<batch_id>")
def batch(batch_id: str) -> str:
    if len(batch_id) > 32 or db().get(Batch, batch_id) is None:
        abort(404)
    return render_template("batch.html", batch_id=batch_id)


@bp.get("/models")
def models() -> str:
    return render_template("models.html")


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response | tuple[str, int]:
    message, status = "", 200
    if request.method == "POST":
        wait = sessions.refused_for() if settings().api_token else None
        if request.form.get("csrf_token") != csrf_token():
            message = "The form expired: please try again."
        elif wait is not None:
            message, status = f"Too many wrong tokens from your address: try again in {wait} s.", 429
        elif settings().api_token and not token_matches(request.form.get("token")):
            sessions.failed()
            message = "That token is not right."
        else:
            sessions.start((request.form.get("name") or "").strip()[:200] or "reviewer")
            return redirect(local_target(request.args.get("next")))
    page = render_template("login.html", message=message, needs_token=bool(settings().api_token))
    return (page, status) if status != 200 else page


def local_target(target: str | None) -> str:
    """Where to go after the login: a path on this site, never another site. Browsers drop
    tabs and newlines from URLs and read a backslash as a slash, so "/\t/evil.example" or
    "/\\evil.example" would leave the site: anything but plain path characters is refused."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if any(ord(c) < 0x21 or ord(c) == 0x7F or c == "\\" for c in target):
        return "/"
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else "/"


@bp.post("/logout")
def logout() -> Response:
    sessions.end()
    return redirect(url_for("pages.login"))


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    checks = {"database": "ok", "broker": "ok"}
    try:
        db().execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - report, never raise
        checks["database"] = f"unavailable: {type(exc).__name__}"
    try:
        with celery().connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=settings().broker_timeout_s)
    except Exception as exc:  # noqa: BLE001
        checks["broker"] = f"unavailable: {type(exc).__name__}"
    healthy = all(v == "ok" for v in checks.values())
    return jsonify(status="ok" if healthy else "unavailable", **checks), 200 if healthy else 503
