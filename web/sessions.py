"""Logins that can end: server-side browser sessions, and a limit on wrong tokens per client.

The signed cookie only names a session; the session itself is a database row. Logging out
deletes it, so a copied cookie stops working too, and each row is bound to the API token in
force when it was made: a restart with a new API_TOKEN ends every older session. Wrong tokens
(login form or Bearer header) are counted per client address; past LOGIN_MAX_FAILURES within
LOGIN_WINDOW_S, that client is refused (429) until the window has passed.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import g, request, session
from sqlalchemy import delete, func, select

from core.schema import LoginFailure, WebSession, utcnow
from web.extensions import db, settings

# A person mistyping the token a few times is never refused; a script trying tokens is, after
# ten tries in ten minutes (300 tries took 1.2 s before this limit).
LOGIN_MAX_FAILURES = 10
LOGIN_WINDOW_S = 600


def _token_hash() -> str:
    token = settings().api_token
    return hashlib.sha256(token.encode()).hexdigest() if token else ""


def start(user: str) -> None:
    """Log this browser in as `user`: a new session row, named by the cookie."""
    end()
    sid = secrets.token_urlsafe(32)
    db().add(WebSession(id=sid, user=user, token_hash=_token_hash()))
    db().commit()
    session.clear()
    session["sid"] = sid


def end() -> None:
    """Log this browser out: its session row goes, so the cookie (or a copy) opens nothing."""
    sid = session.get("sid")
    if sid:
        db().execute(delete(WebSession).where(WebSession.id == sid))
        db().commit()
    session.clear()
    g.pop("web_user", None)


def current_user() -> str | None:
    """Who this browser is logged in as, or None (no session, logged out, or made under
    another API token). Looked up once per request."""
    if "web_user" not in g:
        sid = session.get("sid")
        row = db().get(WebSession, sid) if isinstance(sid, str) and len(sid) <= 64 else None
        g.web_user = row.user if row is not None and row.token_hash == _token_hash() else None
    return g.web_user


def _client() -> str:
    return (request.remote_addr or "unknown")[:64]


def refused_for() -> int | None:
    """Seconds this client must wait before trying a token again, or None if it may try."""
    since = utcnow() - timedelta(seconds=LOGIN_WINDOW_S)
    count, oldest = db().execute(select(func.count(), func.min(LoginFailure.at)).where(
        LoginFailure.client == _client(), LoginFailure.at >= since)).one()
    db().rollback()  # a read: end its transaction (SQLite would hold the lock otherwise)
    if count < LOGIN_MAX_FAILURES:
        return None
    if oldest.tzinfo is None:  # SQLite gives naive times back
        oldest = oldest.replace(tzinfo=since.tzinfo)
    return max(1, int((oldest - since).total_seconds()) + 1)


def failed() -> None:
    """Count a wrong token from this client (and forget failures older than the window)."""
    now = utcnow()
    db().execute(delete(LoginFailure).where(LoginFailure.at < now - timedelta(seconds=LOGIN_WINDOW_S)))
    db().add(LoginFailure(client=_client(), at=now))
    db().commit()
