"""gunicorn's threaded worker, with a time limit on every read from a client.

gunicorn's gthread worker waits for a new connection's first bytes without a thread, but once
a request has begun, the thread reading it waits for the rest with no time limit: eight
connections that sent half a request header held all 2 × 4 threads, and /healthz and every
page timed out. Here each read from (and write to) a client gives up after READ_TIMEOUT_S
without progress, freeing its thread; a client sending a header a byte at a time can still
hold a thread for longer, which is why, in production, a proxy that buffers requests (nginx,
a load balancer) stands in front (see the README's production setup).

Used as `gunicorn --worker-class web.server.TimedThreadWorker` (run.py, the Dockerfile).
"""

from __future__ import annotations

import errno
import os
import socket

from gunicorn.workers.gthread import TConn, ThreadWorker

# A client that sends or takes nothing for this long is let go: far longer than any pause of
# a real browser or API client on a working network, far shorter than gunicorn's 300 s.
READ_TIMEOUT_S = float(os.environ.get("WEB_READ_TIMEOUT_S") or 20)


class TimedSocket:
    """A client socket whose blocking mode is a blocking mode with a time limit."""

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        self._sock, self._timeout = sock, timeout

    def setblocking(self, flag: bool) -> None:
        if flag:
            self._sock.settimeout(self._timeout)
        else:
            self._sock.setblocking(False)

    def __getattr__(self, name: str) -> object:
        return getattr(self._sock, name)


class TimedThreadWorker(ThreadWorker):
    """gthread, but every connection's socket reads and writes time out (TimedSocket)."""

    def accept(self, listener: socket.socket) -> None:  # gunicorn's own, on a TimedSocket
        try:
            client_sock, client_addr = listener.accept()
            self.nr_conns += 1
            timed = TimedSocket(client_sock, READ_TIMEOUT_S)
            timed.setblocking(True)
            self.enqueue_req(TConn(self.cfg, timed, client_addr, listener.getsockname()))
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
