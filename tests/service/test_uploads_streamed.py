"""Uploads are read as they arrive: a document is read while the rest of its upload is still on
its way, options sent after the files still apply to every document, and a refused or
interrupted upload leaves no batch behind. A real worker reads; the request body is handed to
the app in pieces, each after the previous one's effect has been seen in the database."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
from sqlalchemy import func, select

from core.db import session_scope
from core.schema import DONE, Batch, Document
from synth import documents
from synth.pages import make_page
from synth.scanner import random_style
from tests.services import wait_until

BOUNDARY = "streamed-upload-test"
WAIT_S = 120.0  # a loaded CI machine reads a page in seconds; this is far over that


def part(name: str, value: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    head = f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n"
    if filename:
        head += "Content-Type: application/octet-stream\r\n"
    return head.encode() + b"\r\n" + value + b"\r\n"


END = f"--{BOUNDARY}--\r\n".encode()


def cut_in_second(parts: list[bytes]) -> list[bytes]:
    """The body in two pieces, cut just after the second part's head: a part is known to be
    complete only once the next boundary has come (as it does at once from a real client)."""
    body = b"".join(parts)
    cut = len(parts[0]) + parts[1].index(b"\r\n\r\n") + 4
    return [body[:cut], body[cut:]]


class Paced(io.RawIOBase):
    """A request body handed over piece by piece; `between(k)` runs before piece k + 1 is
    read. `length` may claim more bytes than there are: the client then went away."""

    def __init__(self, pieces: list[bytes], between: Callable[[int], None], length: int) -> None:
        self.pieces, self.between, self.index, self.offset = pieces, between, 0, 0
        self.length, self.position = length, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:  # the test client measures the body by seeking to its end and back
        return self.position

    def seek(self, offset: int, whence: int = 0) -> int:
        self.position = self.length if whence == 2 else offset
        return self.position

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        while self.index < len(self.pieces) and self.offset == len(self.pieces[self.index]):
            self.index, self.offset = self.index + 1, 0
            if self.index < len(self.pieces):
                self.between(self.index - 1)
        if self.index >= len(self.pieces):
            return 0
        chunk = self.pieces[self.index][self.offset : self.offset + len(buffer)]
        buffer[: len(chunk)] = chunk
        self.offset += len(chunk)
        return len(chunk)


def post(service, pieces: list[bytes], between: Callable[[int], None], missing: int = 0):  # type: ignore[no-untyped-def]
    length = sum(map(len, pieces)) + missing
    return service.client.post("/api/batches", input_stream=Paced(pieces, between, length),
                               content_type=f"multipart/form-data; boundary={BOUNDARY}")


def batch_ids(service) -> set[str]:  # type: ignore[no-untyped-def]
    with session_scope(service.settings) as session:
        return set(session.scalars(select(Batch.id)).all())


def new_batch(service, known: set[str]) -> tuple[str | None, list[Document]]:  # type: ignore[no-untyped-def]
    """The batch made since `known` was taken (None before there is one), with its documents."""
    with session_scope(service.settings) as session:
        fresh = sorted(set(session.scalars(select(Batch.id)).all()) - known)
        if not fresh:
            return None, []
        assert len(fresh) == 1, fresh
        docs = session.scalars(select(Document).where(Document.batch_id == fresh[0])
                               .order_by(Document.position)).all()
        return fresh[0], list(docs)


@pytest.fixture(scope="module")
def forms(digits) -> list[bytes]:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(31)
    pages = [make_page(digits, rng, "cheque", random_style(rng, dpi=200, clean=True)) for _ in range(2)]
    return [documents.png_bytes(page.image) for page in pages]


def test_a_document_is_read_while_the_rest_of_its_upload_arrives(service, forms) -> None:  # type: ignore[no-untyped-def]
    seen: dict[str, object] = {}
    known = batch_ids(service)

    def between(index: int) -> None:  # the first file is in; the second not yet sent
        wait_until(lambda: any(d.status == DONE for d in new_batch(service, known)[1]), WAIT_S,
                   "the first document read before the upload ended", service.worker.tail)
        seen["batch"], docs = new_batch(service, known)
        seen["documents"] = len(docs)

    response = post(service, cut_in_second([part("files", forms[0], "first.png"),
                                            part("files", forms[1], "second.png") + END]), between)
    assert response.status_code == 202, response.get_data(as_text=True)
    body = response.get_json()
    assert body["id"] == seen["batch"] and seen["documents"] == 1 and body["documents"] == 2
    service.created.append(body["id"])
    status = service.wait(body["id"])
    assert status["status"] == "done" and status["documents"]["done"] == 2


def test_options_sent_after_the_files_apply_to_every_document(service, forms) -> None:  # type: ignore[no-untyped-def]
    known = batch_ids(service)

    def between(index: int) -> None:  # the page was read as a page before layout=field came
        wait_until(lambda: any(d.status == DONE for d in new_batch(service, known)[1]), WAIT_S,
                   "the first document read before its options came", service.worker.tail)

    response = post(service, cut_in_second([part("files", forms[0], "form.png"),
                                            part("layout", b"field") + part("review_threshold", b"0.5")
                                            + END]), between)
    assert response.status_code == 202, response.get_data(as_text=True)
    batch_id = response.get_json()["id"]
    service.created.append(batch_id)
    status = service.wait(batch_id)
    assert status["status"] == "done" and status["layout"] == "field" and status["review_threshold"] == 0.5
    rows = service.csv_rows(batch_id)
    assert [row["field"] for row in rows] == ["field_1"], rows  # read again as one field


@pytest.mark.parametrize("ending", ["client gone", "bad option"])
def test_an_upload_refused_or_cut_off_half_way_leaves_no_batch(service, forms, ending) -> None:  # type: ignore[no-untyped-def]
    known = batch_ids(service)
    seen: dict[str, object] = {}

    def between(index: int) -> None:
        wait_until(lambda: new_batch(service, known)[0] is not None, WAIT_S,
                   "the batch made from the first file", service.worker.tail)
        seen["batch"] = new_batch(service, known)[0]

    first = part("files", forms[0], "first.png")
    if ending == "client gone":
        response = post(service, cut_in_second([first, part("files", forms[1][:1000], "second.png")]),
                        between, missing=5000)
    else:
        response = post(service, cut_in_second([first, part("template", b"no-such-template") + END]),
                        between)
    assert response.status_code == 400, response.get_data(as_text=True)
    if ending == "bad option":
        assert "no-such-template" in response.get_json()["error"]
    assert seen["batch"] and batch_ids(service) == known
    with session_scope(service.settings) as session:
        assert session.scalar(select(func.count()).select_from(Document)
                              .where(Document.batch_id == seen["batch"])) == 0
