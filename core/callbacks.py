"""Telling a back office that a batch is finished: one signed JSON POST to its callback URL.

The upload names the URL (`callback_url`, else the CALLBACK_URL setting). When the batch's last
document is finished, whoever finished it (a worker, or the upload itself when the options
came last) claims the delivery once (`claim`) and hands it to a Celery task, which POSTs
`payload` and, on any failure, tries again with back-off; every attempt is recorded on the
batch (its status API shows `callback`).

Where requests may go is an allow-list (CALLBACK_HOSTS: host or host:port): a user cannot make
the service call arbitrary internal addresses, and redirects are never followed. Each POST is
signed: `X-Digits-Signature: sha256=<hex>` is the HMAC-SHA256, under CALLBACK_SECRET, of the
`X-Digits-Timestamp` header's value, a dot, and the body; a receiver recomputes it and refuses
old timestamps (a replayed POST).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.schema import DONE, Batch, Document, utcnow
from core.schema import FAILED as FAILED_DOCUMENT
from core.settings import Settings

PENDING, SENDING, DELIVERED, FAILED = "pending", "sending", "delivered", "failed"
SIGNATURE_HEADER = "X-Digits-Signature"
TIMESTAMP_HEADER = "X-Digits-Timestamp"
EVENT = "batch.finished"
MAX_ERROR_CHARS = 500  # of a receiver's answer, recorded with a failed attempt


class CallbackRefused(ValueError):
    """The callback URL cannot be used; the message says why and which setting decides."""


def allowed_hosts(settings: Settings) -> set[str]:
    return {h.strip().lower() for h in settings.callback_hosts.split(",") if h.strip()}


def check_url(settings: Settings, url: str) -> str:
    """The URL if callbacks may go there, else CallbackRefused naming the problem."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CallbackRefused(f"callback_url must be an http or https URL, got {url!r}")
    if parts.username or parts.password:
        raise CallbackRefused("callback_url must not carry a user name or password")
    if not settings.callback_secret:
        raise CallbackRefused("callbacks are not set up on this service (CALLBACK_SECRET is unset)")
    host = parts.hostname.lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    allowed = allowed_hosts(settings)
    if host not in allowed and f"{host}:{port}" not in allowed:
        raise CallbackRefused(f"callback_url's host {host}:{port} is not among the hosts callbacks "
                              "may go to (CALLBACK_HOSTS)")
    return url


def payload(summary: dict) -> dict:
    """What the receiver is told: the batch's status summary and where to fetch its results."""
    batch_id = summary["id"]
    return {"event": EVENT, "batch": batch_id, "status": summary["status"],
            "documents": summary["documents"], "pages": summary["pages"], "fields": summary["fields"],
            "finished_at": summary["finished_at"], "status_url": f"/api/batches/{batch_id}",
            "export": {"csv": f"/api/batches/{batch_id}/export.csv",
                       "json": f"/api/batches/{batch_id}/export.json"}}


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def claim_if_finished(session: Session, batch_id: str) -> bool:
    """Take the batch's delivery to send it (committed) if the batch is finished and its
    callback still waits; False otherwise, or if another process took it first."""
    unfinished = session.scalar(select(func.count()).select_from(Document).where(
        Document.batch_id == batch_id, Document.status.not_in((DONE, FAILED_DOCUMENT))))
    if unfinished:
        return False
    claimed = session.execute(update(Batch).where(Batch.id == batch_id, Batch.callback_status == PENDING)
                              .values(callback_status=SENDING, callback_at=utcnow())).rowcount
    session.commit()
    return bool(claimed)


def overdue(session: Session, settings: Settings) -> list[str]:
    """Batches whose delivery was claimed but has not been tried for far longer than its
    longest back-off: its task was lost (the broker restarted empty, a send failed)."""
    quiet = settings.lost_after_s + settings.callback_backoff_s * 2 ** settings.callback_retries
    return list(session.scalars(select(Batch.id).where(
        Batch.callback_status == SENDING, Batch.callback_at < utcnow() - timedelta(seconds=quiet))).all())


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a 3xx is an answer like any other: an allowed host cannot send us elsewhere


def post(settings: Settings, url: str, body: bytes) -> None:
    """One signed POST; raises OSError (urllib's errors included) unless the answer is 2xx."""
    check_url(settings, url)  # the settings may have changed since the upload
    timestamp = str(int(time.time()))
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "digits-callbacks",
        "X-Digits-Event": EVENT, TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(settings.callback_secret, timestamp, body)})
    opener = urllib.request.build_opener(_NoRedirects)
    try:
        with opener.open(request, timeout=settings.callback_timeout_s) as answer:
            status = answer.status
    except urllib.error.HTTPError as exc:
        text = exc.read(MAX_ERROR_CHARS).decode(errors="replace").strip()
        raise OSError(f"HTTP {exc.code} {exc.reason}" + (f": {text}" if text else "")) from None
    if not 200 <= status < 300:
        raise OSError(f"HTTP {status}")


def record(session: Session, batch_id: str, error: str | None, final: bool) -> None:
    """One attempt's outcome on the batch: delivered, failed for good, or to be tried again."""
    status = DELIVERED if error is None else FAILED if final else SENDING
    session.execute(update(Batch).where(Batch.id == batch_id, Batch.callback_status == SENDING).values(
        callback_status=status, callback_attempts=Batch.callback_attempts + 1,
        callback_error=error[:MAX_ERROR_CHARS] if error else None, callback_at=utcnow()))


def body_of(summary: dict) -> bytes:
    return json.dumps(payload(summary), separators=(",", ":")).encode()
