"""HTTP to the service with the standard library only, so the client runs anywhere Python does.

http.client rather than urllib.request: an upload is sent a chunk at a time with its length
announced first (progress per byte, nothing held in memory), and a refusal the server sends
before it has read the whole body (413) can still be read after the send fails.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

from client.multipart import Body, FileChanged

DEFAULT_TIMEOUT_S = 60.0  # per read or write on the socket, not per request
READ_BYTES = 64 << 10  # downloads are read and written 64 KiB at a time
USER_AGENT = "digits-client/1"


class ClientError(Exception):
    """The service could not be used: unreachable, or it refused the request."""


class ConnectionFailed(ClientError):
    """The service did not answer at all (refused, unknown host, timed out, cut off)."""


class HttpError(ClientError):
    """The service answered with an error status; `message` is its `error` text."""

    def __init__(self, url: str, status: int, message: str) -> None:
        super().__init__(f"{url}: HTTP {status}: {message}")
        self.url, self.status, self.message = url, status, message


class Connection:
    """One service, at `base_url` (a path prefix is kept: a service behind a proxy's path)."""

    def __init__(self, base_url: str, token: str | None = None, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        parts = urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{base_url!r} is not an http:// or https:// URL")
        self.base_url, self.token, self.timeout = base_url.rstrip("/"), token, timeout
        self.scheme, self.host, self.port, self.prefix = parts.scheme, parts.hostname, parts.port, parts.path

    def url(self, path: str) -> str:
        return self.base_url + path

    def _open(self) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        return kind(self.host, self.port, timeout=self.timeout)

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        headers.update(extra or {})
        return headers

    def _failed(self, path: str, exc: BaseException) -> ConnectionFailed:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        return ConnectionFailed(f"{self.url(path)}: cannot reach the service ({reason})")

    def get(self, path: str) -> http.client.HTTPResponse:
        """A GET whose answer is 2xx (HttpError otherwise); the caller reads and closes it."""
        connection = self._open()
        try:
            connection.request("GET", self.prefix + path, headers=self._headers())
            response = connection.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise self._failed(path, exc) from None
        if not 200 <= response.status < 300:
            raise self._error(path, response)
        return response

    def get_json(self, path: str) -> dict:
        with self.get(path) as response:
            try:
                return json.loads(response.read())
            except (OSError, http.client.HTTPException) as exc:
                raise self._failed(path, exc) from None
            except ValueError:
                raise ClientError(f"{self.url(path)}: the answer is not JSON: is this the service?") from None

    def download(self, path: str) -> Iterator[bytes]:
        """A GET's body, a piece at a time."""
        with self.get(path) as response:
            try:
                while chunk := response.read(READ_BYTES):
                    yield chunk
            except (OSError, http.client.HTTPException) as exc:
                raise self._failed(path, exc) from None

    def post_form(self, path: str, body: Body, sent: Callable[[int], None] | None = None) -> tuple[int, dict]:
        """POST a multipart body, calling `sent(n)` after each n bytes; the status and JSON
        answer, whatever the status (the caller decides what a refusal means)."""
        connection = self._open()
        try:
            connection.putrequest("POST", self.prefix + path, skip_accept_encoding=True)
            for name, value in self._headers({"Content-Type": body.content_type,
                                              "Content-Length": str(body.length())}).items():
                connection.putheader(name, value)
            connection.endheaders()
            try:
                for chunk in body.chunks():
                    connection.send(chunk)
                    if sent is not None:
                        sent(len(chunk))
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server answered before the end (a refusal) and closed: read its answer
            response = connection.getresponse()
            data = response.read()
        except FileChanged as exc:
            raise ClientError(str(exc)) from None
        except (OSError, http.client.HTTPException) as exc:
            raise self._failed(path, exc) from None
        finally:
            connection.close()
        try:
            answer = json.loads(data) if data else {}
        except ValueError:
            answer = {"error": data[:200].decode("utf-8", "replace")}
        if response.status in (401, 403, 429) or response.status >= 500 or not isinstance(answer, dict):
            raise HttpError(self.url(path), response.status, _message(answer, response.reason))
        return response.status, answer

    def _error(self, path: str, response: http.client.HTTPResponse) -> HttpError:
        try:
            data = response.read()
        except (OSError, http.client.HTTPException):
            data = b""
        finally:
            response.close()
        try:
            answer = json.loads(data)
        except ValueError:
            answer = {}
        return HttpError(self.url(path), response.status, _message(answer, response.reason))


def _message(answer: object, reason: str) -> str:
    """The service's `error` text, else the HTTP reason."""
    return str((answer.get("error") if isinstance(answer, dict) else None) or reason)

