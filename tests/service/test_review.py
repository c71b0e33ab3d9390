"""Review: the queue of doubtful fields, corrections with who and when, and corrections turned
into training data that `models.train` fine-tunes on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synth import documents
from synth.pages import make_page
from synth.scanner import random_style
from tests.conftest import BACKENDS


@pytest.fixture(scope="module")
def reviewed_batch(service, digits):  # type: ignore[no-untyped-def]
    """A clean form uploaded with threshold 1: every field waits for a person."""
    rng = np.random.default_rng(31)
    page = make_page(digits, rng, "form", random_style(rng, dpi=200, clean=True))
    response = service.upload([("form.png", documents.png_bytes(page.image))], review_threshold="1")
    batch_id = response.get_json()["id"]
    status = service.wait(batch_id)
    assert status["fields"]["needs_review"] == status["fields"]["total"] > 3
    return batch_id, page


def test_the_queue_counts_down_and_wraps_around(service, reviewed_batch) -> None:  # type: ignore[no-untyped-def]
    batch_id, page = reviewed_batch
    first = service.client.get(f"/api/review/next?batch={batch_id}&count=2").get_json()
    assert first["left"] == len(page.fields)
    assert [f["status"] for f in first["fields"]] == ["needs_review"] * 2
    field = first["fields"][0]
    assert field["crop_url"].endswith("/crop.png") and field["batch_id"] == batch_id
    assert all({"value", "confidence", "doubtful", "box"} <= d.keys() for d in field["digits"])
    crop = service.client.get(field["crop_url"])
    assert crop.status_code == 200 and crop.mimetype == "image/png" and len(crop.data) > 1000
    last_id = max(f["id"] for f in service.client.get(
        f"/api/review/next?batch={batch_id}&count=10").get_json()["fields"])
    wrapped = service.client.get(f"/api/review/next?batch={batch_id}&after={last_id}&count=1").get_json()
    assert wrapped["fields"][0]["id"] == field["id"]  # skipped ones come round again


def test_corrections_are_kept_with_who_and_when(service, reviewed_batch) -> None:  # type: ignore[no-untyped-def]
    batch_id, page = reviewed_batch
    queue = service.client.get(f"/api/review/next?batch={batch_id}&count=3").get_json()
    left = queue["left"]
    one, two, three = queue["fields"]
    for field, body in ((one, {"value": "123", "reviewer": "bo"}),
                        (two, {"unreadable": True, "reviewer": "bo"}),
                        (three, {"value": three["value"], "reviewer": "cy"})):
        assert service.client.patch(f"/api/fields/{field['id']}", json=body).status_code == 200
    assert service.client.get(f"/api/review/next?batch={batch_id}").get_json()["left"] == left - 3
    rows = {r["field"]: r for r in service.csv_rows(batch_id)}
    assert rows[one["field"]]["value"] == "123" and rows[one["field"]]["status"] == "reviewed"
    assert rows[one["field"]]["recognized_value"] == one["recognized_value"]
    assert rows[two["field"]]["unreadable"] == "true" and rows[two["field"]]["value"] == ""
    assert rows[three["field"]]["reviewed_by"] == "cy"
    history = service.client.get(f"/api/fields/{one['id']}").get_json()["history"]
    assert [(h["reviewer"], h["action"], h["old_value"], h["new_value"]) for h in history] == \
        [("bo", "correct", one["value"], "123")]
    assert history[0]["at"].endswith("+00:00")


@pytest.mark.slow
def test_corrections_become_training_data(service, reviewed_batch, tmp_path: Path, mnist_dir,
                                          request: pytest.FixtureRequest) -> None:  # type: ignore[no-untyped-def]
    from models import train
    from models.inference import DEFAULT_KERAS_PATH
    from worker.export_corrections import export

    batch_id, page = reviewed_batch
    truth = {f.box: f.value for f in page.fields}
    for field in service.client.get(f"/api/batches/{batch_id}/export.json").get_json()["fields"]:
        if field["status"] == "needs_review":  # a person types what is really written
            box = (field["box"]["x"], field["box"]["y"], field["box"]["width"], field["box"]["height"])
            value = max(truth.items(), key=lambda kv: _overlap(kv[0], box))[1]
            service.client.patch(f"/api/fields/{field['id']}", json={"value": value})
    glyphs, labels, counts = export(service.settings, batch_id)
    assert counts["used"] >= 3 and len(glyphs) == len(labels) > 10
    assert glyphs.shape[1:] == (28, 28) and set(labels) <= set(range(10))
    if request.node.callspec.params["service"] != BACKENDS[0]:
        return  # the training below does not touch the service: on one backend is enough
    corrections = tmp_path / "corrections.npz"
    np.savez_compressed(corrections, glyphs=glyphs, labels=labels)
    source = ["--mnist-dir", str(mnist_dir)] if mnist_dir else []
    metrics = train.main(["--init-from", str(DEFAULT_KERAS_PATH), "--extra", str(corrections),
                          "--epochs", "1", "--limit", "500", "--pipeline-pages", "0",
                          "--learning-rate", "0.0002", *source,
                          "--output", str(tmp_path / "tuned.keras"), "--results-dir", str(tmp_path / "r")])
    assert metrics["training"]["extra_glyphs"] == len(labels)
    assert (tmp_path / "tuned.keras").exists()


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    from segmentation.structure import iou

    return iou(a, b)


def test_spreadsheet_formulas_are_neutralised_in_the_csv_not_in_json(service, digits) -> None:  # type: ignore[no-untyped-def]
    """Names a spreadsheet would run (OWASP's CSV injection) come out of the CSV as text,
    with a leading apostrophe; the JSON export keeps them as they are."""
    from synth import documents as docs

    rng = np.random.default_rng(41)
    page = make_page(digits, rng, "cheque", random_style(rng, dpi=200, clean=True))
    png = docs.png_bytes(page.image)
    names = ["=1+1.png", "+SUM(1+1).png", "-2+3.png", "@SUM(1).png"]
    zipped = docs.zip_bytes({"=cmd|'/C calc'!A0.png": png})
    response = service.upload([*((n, png) for n in names), ("bundle.zip", zipped)], review_threshold="1")
    batch_id = response.get_json()["id"]
    service.wait(batch_id)
    field = service.client.get(f"/api/batches/{batch_id}/export.json").get_json()["fields"][0]
    evil = '=HYPERLINK("http://evil.example","x")'
    assert service.client.patch(f"/api/fields/{field['id']}",
                                json={"value": "12", "reviewer": evil}).status_code == 200
    rows = service.csv_rows(batch_id)
    shown = {r["document"] for r in rows}
    assert shown == {"'" + n for n in [*names, "=cmd|'/C calc'!A0.png"]}
    assert rows[0]["reviewed_by"] == "'" + evil
    raw = service.client.get(f"/api/batches/{batch_id}/export.json").get_json()["fields"]
    assert {f["document"] for f in raw} == {*names, "=cmd|'/C calc'!A0.png"}
    assert raw[0]["reviewed_by"] == evil


def test_unreadable_must_be_a_json_boolean(service, reviewed_batch) -> None:  # type: ignore[no-untyped-def]
    batch_id, _ = reviewed_batch
    field = service.client.get(f"/api/batches/{batch_id}/export.json").get_json()["fields"][-1]
    response = service.client.patch(f"/api/fields/{field['id']}", json={"unreadable": "false", "value": "9"})
    assert response.status_code == 400 and "boolean" in response.get_json()["error"]
    after = service.client.get(f"/api/fields/{field['id']}").get_json()
    assert after["unreadable"] is False and after["status"] == field["status"]
