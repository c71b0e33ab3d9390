"""Slow clients do not take the web down: connections that send half a request and stop are
let go after WEB_READ_TIMEOUT_S, and the web answers others meanwhile (gunicorn as run.py
starts it, over real sockets)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from core.migrate import upgrade
from core.settings import PROJECT_ROOT, Settings
from tests.services import environment

THREADS = 2


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_half_sent_requests_do_not_hold_every_thread(tmp_path: Path) -> None:
    settings = Settings.from_env({}, data_dir=tmp_path)
    upgrade(settings)
    port = _free_port()
    env = dict(environment(settings), WEB_READ_TIMEOUT_S="3")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "web.wsgi:app", "--bind", f"127.0.0.1:{port}",
         "--worker-class", "web.server.TimedThreadWorker", "--workers", "1", "--threads", str(THREADS)],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    slow: list[socket.socket] = []
    try:
        url = f"http://127.0.0.1:{port}/healthz"
        deadline = time.time() + 60
        while True:
            try:
                requests.get(url, timeout=5)
                break
            except requests.RequestException:
                assert time.time() < deadline, "the web did not start"
                time.sleep(0.3)
        for _ in range(4 * THREADS):  # every thread, and more, given a request that never ends
            connection = socket.create_connection(("127.0.0.1", port))
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            slow.append(connection)
        time.sleep(1)
        started = time.time()
        answer = requests.get(url, timeout=30)
        assert answer.status_code in (200, 503)  # answered: the database or broker may be cold
        assert time.time() - started < 15
    finally:
        for connection in slow:
            connection.close()
        server.terminate()
        server.wait(timeout=30)
