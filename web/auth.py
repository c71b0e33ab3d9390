"""Access: the API token, the pages' login, cross-site request forgery, security headers.

With API_TOKEN set, every /api/ request and every scrape of /metrics needs
`Authorization: Bearer <token>` (401 otherwise) or a logged-in browser session
(`web.sessions`: revocable, bound to the token); pages need the login. Wrong tokens are
limited per client (429). Requests from a browser (they carry our session cookie or an Origin
header) that change something must carry the session's CSRF token, so no other site can make
a visitor's browser upload or correct anything.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from flask import Flask, Response, abort, jsonify, redirect, request, session, url_for

from web import sessions
from web.extensions import settings

OPEN_PATHS = ("/healthz", "/login", "/static/")
# Read by programs: without the token they are answered 401, not sent to the login page.
TOKEN_PATHS = ("/api/", "/metrics")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
       "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def token_matches(given: str | None) -> bool:
    expected = settings().api_token
    return bool(expected and given and hmac.compare_digest(given.encode(), expected.encode()))


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def logged_in() -> bool:
    return sessions.current_user() is not None


def reviewer_name() -> str:
    return sessions.current_user() or request.headers.get("X-Reviewer") or "anonymous"


def _from_browser() -> bool:
    return bool(request.cookies.get("session") or request.headers.get("Origin"))


def _same_origin() -> bool:
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if not origin:
        return True
    return urlsplit(origin).netloc == request.host


def _check() -> Response | None:
    path = request.path
    if path.startswith(OPEN_PATHS):
        return None
    bearer = _bearer()
    if settings().api_token:
        if bearer is not None:
            wait = sessions.refused_for()
            if wait is not None:
                return _too_many(wait)
            if token_matches(bearer):
                return None  # an API client: no cookies, no CSRF
            sessions.failed()
            return _unauthorised()
        if not logged_in():
            if path.startswith(TOKEN_PATHS):
                return _unauthorised()
            return redirect(url_for("pages.login", next=request.full_path))
    if request.method not in SAFE_METHODS and bearer is None and _from_browser():
        given = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token")
        if not _same_origin() or not given or not hmac.compare_digest(given, csrf_token()):
            return _forbidden("missing or wrong CSRF token (reload the page)")
    return None


def _unauthorised() -> Response:
    response = jsonify(error="authentication required: send 'Authorization: Bearer <API_TOKEN>'")
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="digits"'
    return response


def _too_many(wait: int) -> Response:
    response = jsonify(error=f"too many wrong tokens from your address: try again in {wait} s")
    response.status_code = 429
    response.headers["Retry-After"] = str(wait)
    return response


def _forbidden(message: str) -> Response:
    if request.path.startswith("/api/"):
        response = jsonify(error=message)
        response.status_code = 403
        return response
    abort(403, message)


def _headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.path.startswith("/api/") and "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    app.before_request(_check)
    app.after_request(_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token
