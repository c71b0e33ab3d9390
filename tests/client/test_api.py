"""The client as a library, against the service with API_TOKEN set: the token sent, the
options sent before the files, progress shown per byte and per document, the CSV exported."""

from __future__ import annotations

import csv
import io

import pytest

from client import Client, HttpError, Progress
from tests.client.running import TOKEN, write


def test_the_library_uploads_with_the_token_waits_and_exports(served, cheques, tmp_path) -> None:  # type: ignore[no-untyped-def]
    scan = write(tmp_path / "cheque.png", cheques[2][0])
    log = io.StringIO()
    digits = Client(served.token_url, token=TOKEN)
    sent = digits.upload([scan], threshold=1.0, progress=Progress(log, tty=False))
    assert sent.problems == [] and len(sent.ids) == 1 and sent.created[0]["documents"] == 1
    [status] = digits.wait(sent.ids, Progress(log, tty=False))
    assert status["status"] == "done" and status["review_threshold"] == 1.0  # the option was sent
    assert status["fields"] == {"total": cheques[2][1], "needs_review": cheques[2][1]}
    out = io.BytesIO()
    digits.export_csv(sent.ids, out)
    found = list(csv.DictReader(io.StringIO(out.getvalue().decode("utf-8"))))
    assert len(found) == cheques[2][1] and {r["status"] for r in found} == {"needs_review"}
    shown = log.getvalue().splitlines()
    assert any(line.startswith("uploading [") and line.endswith("100%") for line in shown), shown
    assert f"reading [{'#' * 30}] 1/1 documents 100%" in shown, shown
    with pytest.raises(HttpError) as refused:
        Client(served.token_url).status(sent.ids[0])  # no token
    assert refused.value.status == 401 and served.token_url in str(refused.value)
