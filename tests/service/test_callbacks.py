"""Callbacks: when a batch finishes, its callback_url gets one POST signed with HMAC-SHA256,
sent by a real worker to a real HTTP receiver on loopback; a failing receiver is tried again
with back-off, then the failure is recorded; hosts off the allow-list are refused at upload."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from core.callbacks import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature
from synth import documents
from synth.pages import make_page
from synth.scanner import random_style
from tests.conftest import BACKENDS
from tests.services import Service, start_service, wait_until

SECRET = "callback-test-secret"
RETRIES = 2  # so a receiver that always fails is given up after 3 attempts, within seconds
WAIT_S = 120.0


class Receiver(ThreadingHTTPServer):
    """A back office's endpoint: records each POST, answers with the next of `answers`."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.posts: list[dict] = []
        self.answers: dict[str, list[int]] = {}  # path → statuses to answer in turn (then 200)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def to(self, path: str) -> list[dict]:
        return [p for p in self.posts if p["path"] == path]

    def received(self, path: str, count: int) -> list[dict]:
        wait_until(lambda: len(self.to(path)) >= count, WAIT_S, f"{count} POSTs to {path}",
                   lambda: f"{len(self.to(path))} came")
        return self.to(path)


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.posts.append({"path": self.path, "headers": dict(self.headers), "body": body})
        queue = self.server.answers.get(self.path, [])
        status = queue.pop(0) if queue else 200
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b"busy" if status >= 500 else b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.thread.start()
    yield server
    server.shutdown()


@pytest.fixture(scope="module", params=BACKENDS)
def service(request: pytest.FixtureRequest, receiver: Receiver,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    overrides: dict[str, object] = {
        "callback_hosts": f"127.0.0.1:{receiver.server_address[1]}", "callback_secret": SECRET,
        "callback_retries": RETRIES, "callback_backoff_s": 0.5}
    if request.param == "postgres+redis":
        overrides.update(database_url=request.getfixturevalue("pg_url"),
                         broker_url=request.getfixturevalue("redis_broker"))
    with start_service(tmp_path_factory.mktemp(request.param.replace("+", "-")), **overrides) as running:
        yield running


@pytest.fixture(scope="module")
def cheques(digits) -> list[bytes]:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(51)
    pages = [make_page(digits, rng, "cheque", random_style(rng, dpi=200, clean=True)) for _ in range(2)]
    return [documents.png_bytes(page.image) for page in pages]


def upload(service: Service, cheques: list[bytes], url: str) -> str:
    response = service.upload([(f"cheque-{i}.png", c) for i, c in enumerate(cheques)], callback_url=url)
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


def test_a_finished_batch_is_told_once_with_a_signed_post(service, receiver, cheques) -> None:  # type: ignore[no-untyped-def]
    path = f"/done-{len(receiver.posts)}-{service.settings.is_sqlite}"
    batch_id = upload(service, cheques, receiver.url + path)
    status = service.wait(batch_id)
    (post,) = receiver.received(path, 1)
    headers = {k.lower(): v for k, v in post["headers"].items()}
    timestamp = headers[TIMESTAMP_HEADER.lower()]
    assert headers[SIGNATURE_HEADER.lower()] == signature(SECRET, timestamp, post["body"])
    assert abs(int(timestamp) - time.time()) < WAIT_S
    told = json.loads(post["body"])
    assert told["event"] == "batch.finished" and told["batch"] == batch_id
    assert told["status"] == status["status"] == "done" and told["documents"] == status["documents"]
    assert told["export"]["csv"] == f"/api/batches/{batch_id}/export.csv"
    wait_until(lambda: service.status(batch_id)["callback"]["status"] == "delivered", 10,
               "the delivery recorded on the batch")
    callback = service.status(batch_id)["callback"]
    assert callback["status"] == "delivered" and callback["attempts"] == 1 and callback["error"] is None
    time.sleep(3)  # a sweep or two later: still one POST
    assert len(receiver.to(path)) == 1


def test_a_failing_receiver_is_tried_again_then_given_up(service, receiver, cheques) -> None:  # type: ignore[no-untyped-def]
    flaky, down = f"/flaky-{service.settings.is_sqlite}", f"/down-{service.settings.is_sqlite}"
    receiver.answers[flaky] = [500]
    receiver.answers[down] = [503] * (RETRIES + 1)
    recovered, lost = upload(service, cheques[:1], receiver.url + flaky), upload(service, cheques[1:],
                                                                                 receiver.url + down)
    receiver.received(flaky, 2)
    receiver.received(down, RETRIES + 1)
    wait_until(lambda: [service.status(b)["callback"]["status"] for b in (recovered, lost)]
               == ["delivered", "failed"], WAIT_S, "one delivered at last, the other given up")
    states = [service.status(b)["callback"] for b in (recovered, lost)]
    assert states[0]["attempts"] == 2 and states[0]["error"] is None, states
    assert states[1]["attempts"] == RETRIES + 1 and "HTTP 503" in states[1]["error"], states


@pytest.mark.parametrize("url, problem", [("http://10.1.2.3/hook", "CALLBACK_HOSTS"),
                                          ("ftp://127.0.0.1/hook", "http or https"),
                                          ("http://user:pw@127.0.0.1/hook", "password")])
def test_callbacks_go_only_to_allowed_hosts(service, cheques, url, problem) -> None:  # type: ignore[no-untyped-def]
    response = service.upload([("cheque.png", cheques[0])], callback_url=url)
    assert response.status_code == 400 and problem in response.get_json()["error"], response.get_json()
