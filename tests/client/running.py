"""Running the client as a user does, against the Flask app served over real HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from core.settings import PROJECT_ROOT
from tests.services import Service

TOKEN = "client-test-token"  # API_TOKEN of the second app, on the same database and worker
SMALL_LIMIT = 1 << 20  # MAX_UPLOAD_BYTES of the third app: 1 MiB
CLI_TIMEOUT_S = 240  # one run of the command, reading included, on a busy 2-core machine


@dataclass
class Served:
    service: Service
    url: str  # the service without a token
    token_url: str  # the same service, with API_TOKEN=TOKEN
    small_url: str  # the same service, with MAX_UPLOAD_BYTES=SMALL_LIMIT


@contextmanager
def http_server(app: object) -> Iterator[str]:
    """`app` served over real HTTP on a free loopback port, in a thread."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def write(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def closed_port() -> int:
    """A loopback port nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_cli(*args: str, token: str | None = None, url: str | None = None) -> subprocess.CompletedProcess:
    """`python -m client ARGS` as a user runs it: a process of its own, API_TOKEN and
    DIGITS_URL as given (unset otherwise), stderr not a terminal."""
    env = {k: v for k, v in os.environ.items() if k not in ("API_TOKEN", "DIGITS_URL")}
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    for name, value in (("API_TOKEN", token), ("DIGITS_URL", url)):
        if value is not None:
            env[name] = value
    return subprocess.run([sys.executable, "-m", "client", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=CLI_TIMEOUT_S)


def printed(run: subprocess.CompletedProcess) -> list[tuple[str, str]]:
    """The command's stdout: one `<batch id> <status>` line per batch."""
    return [tuple(line.split()) for line in run.stdout.splitlines()]  # type: ignore[misc]
