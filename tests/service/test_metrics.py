"""GET /metrics after a batch read by a real worker: what the worker's pool process counted (in
prometheus_client's multiprocess files) and what the database holds, by name and by value.
Runs on PostgreSQL + Redis and on the embedded default."""

from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np
import pytest

from synth import documents
from synth.pages import make_page
from synth.scanner import random_style
from tests.services import Samples, Service, sample, wait_until
from web import create_app
from worker.metrics import FAILURE_KINDS, UNREADABLE_FILE

WAIT_S = 60.0  # a worker's counts land a moment after its commit; generous for a loaded machine
PAGES = 3  # the batch's readable pages: a two-page TIFF and a PNG


def documents_counted(samples: Samples) -> float:
    """Documents the workers have counted, read or failed."""
    return sum(v for (name, _), v in samples.items()
               if name in ("digits_documents_read_total", "digits_documents_failed_total"))


@pytest.fixture(scope="module")
def batch(service: Service, digits) -> dict:  # type: ignore[no-untyped-def]
    """A batch read by the worker: two good documents (three pages) and one it cannot read."""
    wait_until(lambda: sample(service.metrics(), "digits_pages_read_total") is not None, WAIT_S,
               "the pool process's counters, at 0, before any document", service.worker.tail)
    before = service.metrics()
    rng = np.random.default_rng(31)
    form, cheque = (make_page(digits, rng, kind, random_style(rng, dpi=200, clean=True))
                    for kind in ("form", "cheque"))
    png = documents.png_bytes(form.image)
    response = service.upload([("two-pages.tif", documents.tiff_bytes([form.image, cheque.image])),
                               ("form.png", png), ("truncated.png", png[: len(png) // 2])])
    assert response.status_code == 202, response.get_json()
    status = service.wait(response.get_json()["id"])
    assert status["documents"] == {"total": 3, "done": 2, "failed": 1}, status
    return {"id": status["id"], "status": status, "before": before}


def test_a_batch_is_counted_by_name_and_value(service: Service, batch: dict) -> None:
    before = batch["before"]
    for kind in FAILURE_KINDS:  # every series is there before anything happens, at 0
        assert sample(before, "digits_documents_failed_total", kind=kind) == 0.0, kind
    for name in ("digits_documents_read_total", "digits_pages_read_total", "digits_pages_failed_total",
                 "digits_page_read_seconds_count"):
        assert sample(before, name) == 0.0, name
    # The worker counts a moment after the batch's last commit: wait for it, then all of it.
    wait_until(lambda: documents_counted(service.metrics()) >= 3, WAIT_S,
               "the batch's three documents counted", lambda: str(service.metrics()))
    after = service.metrics()
    assert sample(after, "digits_documents_read_total") == 2.0
    assert sample(after, "digits_pages_read_total") == PAGES
    assert sample(after, "digits_pages_failed_total") == 0.0
    assert sample(after, "digits_page_read_seconds_count") == PAGES
    assert sample(after, "digits_page_read_seconds_bucket", le="+Inf") == PAGES
    assert 0.0 < sample(after, "digits_page_read_seconds_sum") < PAGES * WAIT_S
    failed = {kind: sample(after, "digits_documents_failed_total", kind=kind) for kind in FAILURE_KINDS}
    assert failed == {kind: 1.0 if kind == UNREADABLE_FILE else 0.0 for kind in FAILURE_KINDS}
    # Fields, as the worker gave them their status and as the database holds them.
    statuses = Counter(row["status"] for row in service.csv_rows(batch["id"]))
    assert sum(statuses.values()) == batch["status"]["fields"]["total"] > 0
    assert statuses["needs_review"] == batch["status"]["fields"]["needs_review"]
    for status in ("auto", "needs_review"):
        assert sample(after, "digits_fields_read_total", status=status) == statuses[status], status
        # the database is shared with the session's other tests: this batch's part of the count
        added = sample(after, "digits_fields", status=status) - sample(before, "digits_fields", status=status)
        assert added == statuses[status], status
    reviewed_before = sample(before, "digits_fields", status="reviewed")
    assert sample(after, "digits_fields", status="reviewed") == reviewed_before
    # The queue, from the database: empty now, the documents done or failed.
    assert sample(after, "digits_queue_depth") == 0.0
    documents_added = {status: sample(after, "digits_documents", status=status)
                       - sample(before, "digits_documents", status=status)
                       for status in ("queued", "processing", "done", "failed")}
    assert documents_added == {"queued": 0.0, "processing": 0.0, "done": 2.0, "failed": 1.0}


def test_a_review_is_counted(service: Service, batch: dict) -> None:
    before = service.metrics()
    field = service.client.get(f"/api/batches/{batch['id']}/export.json").get_json()["fields"][0]
    response = service.client.patch(f"/api/fields/{field['id']}",
                                    json={"value": field["value"] + "1", "reviewer": "ana"})
    assert response.status_code == 200, response.get_json()
    after = service.metrics()
    assert sample(after, "digits_reviews_total", action="correct") == \
        sample(before, "digits_reviews_total", action="correct") + 1
    assert sample(after, "digits_reviews_total", action="confirm") == \
        sample(before, "digits_reviews_total", action="confirm")
    assert sample(after, "digits_fields", status="reviewed") == \
        sample(before, "digits_fields", status="reviewed") + 1
    assert sample(after, "digits_fields", status=field["status"]) == \
        sample(before, "digits_fields", status=field["status"]) - 1


def test_with_a_token_a_scrape_needs_it(service: Service) -> None:
    app = create_app(dataclasses.replace(service.settings, api_token="scrape-token"))
    app.testing = True
    client = app.test_client()
    refused = client.get("/metrics")
    assert refused.status_code == 401 and "Bearer" in refused.headers["WWW-Authenticate"]
    answered = client.get("/metrics", headers={"Authorization": "Bearer scrape-token"})
    assert answered.status_code == 200 and b"digits_pages_read_total" in answered.data
