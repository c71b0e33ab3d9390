"""The public contract, end to end: upload through the API, a real Celery worker reads it, the
status API and the CSV export report it. Runs on PostgreSQL + Redis and on the embedded
default (SQLite + Celery's SQLAlchemy transport)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.export import CSV_COLUMNS
from reading.combine import Calibrations
from segmentation.structure import iou
from synth import documents
from synth.pages import Canvas, draw_cheque, make_page
from synth.scanner import random_style
from tests.segmentation.struck import struck_cheque

CONTRACT_COLUMNS = ["batch_id", "document", "page", "field", "x", "y", "width", "height",
                    "page_width", "page_height", "value", "recognized_value", "confidence", "status"]


@pytest.fixture(scope="module")
def clean_form(digits):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(11)
    return make_page(digits, rng, "form", random_style(rng, dpi=200, clean=True))


@pytest.fixture(scope="module")
def scans(digits):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(12)
    return [make_page(digits, rng, kind, random_style(rng, dpi=200))
            for kind in ("cheque", "order", "cheque", "form")]


@pytest.fixture(scope="module")
def cheque_with_strays(digits):  # type: ignore[no-untyped-def]
    """A cheque with two more combs where form_templates/cheque.json has no region: one by the
    bank's name, one left of the signature. Top to bottom: date, reference, amount, account,
    branch. Returns the grey page and its true fields."""
    rng = np.random.default_rng(21)
    canvas = Canvas(180, 80, random_style(rng, dpi=200, clean=True), digits, rng)
    draw_cheque(canvas)
    canvas.comb("reference", 60, 20, 5, 5.0, 7.0, [1, 2, 3, 4, 5])
    canvas.comb("branch", 110, 64, 4, 5.0, 7.0, [6, 7, 8, 9])
    paper = (1 - canvas.lines) * (1 - canvas.print) * (1 - canvas.ink)
    return np.clip(255 * paper, 0, 255).astype(np.uint8), canvas.fields


def test_healthz_reports_database_and_broker(service) -> None:  # type: ignore[no-untyped-def]
    response = service.client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_page_uploaded_comes_back_as_csv_rows(service, clean_form) -> None:  # type: ignore[no-untyped-def]
    response = service.upload([("form.png", documents.png_bytes(clean_form.image))])
    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "queued" and body["documents"] == 1
    assert body["status_url"] == f"/api/batches/{body['id']}"

    status = service.wait(body["id"])
    assert status["status"] == "done", status
    assert status["_seen"][-1] == "done" and set(status["_seen"]) <= {"queued", "processing", "done"}
    assert status["documents"] == {"total": 1, "done": 1, "failed": 0}
    assert status["pages"] == {"total": 1, "done": 1}
    assert status["fields"]["total"] == len(clean_form.fields)
    assert status["errors"] == [] and status["finished_at"] and status["created_at"]

    rows = service.csv_rows(body["id"])
    assert list(rows[0].keys())[: len(CONTRACT_COLUMNS)] == CONTRACT_COLUMNS
    assert list(rows[0].keys()) == CSV_COLUMNS
    assert len(rows) == len(clean_form.fields)
    height, width = clean_form.image.shape[:2]
    right = 0
    for row, truth in zip(rows, clean_form.fields):  # the form's fields are in reading order
        box = tuple(int(row[k]) for k in ("x", "y", "width", "height"))
        assert iou(box, truth.box) >= 0.8, (row, truth)
        assert row["batch_id"] == body["id"] and row["document"] == "form.png" and row["page"] == "1"
        assert (int(row["page_width"]), int(row["page_height"])) == (width, height)
        assert 0.0 <= float(row["confidence"]) <= 1.0
        assert row["status"] in ("auto", "needs_review")
        assert row["value"] == row["recognized_value"]
        right += row["value"] == truth.value
    assert right >= 0.8 * len(rows), [(r["value"], t.value) for r, t in zip(rows, clean_form.fields)]


def test_every_format_is_read(service, scans) -> None:  # type: ignore[no-untyped-def]
    a, b, c, d = scans
    files = [
        ("cheque.jpg", documents.jpeg_bytes(a.image, quality=85)),
        ("two-pages.tif", documents.tiff_bytes([b.image, c.image])),
        ("scan.pdf", documents.pdf_bytes([d.image, a.image, c.image], dpi=200)),
        ("bundle.zip", documents.zip_bytes({"in/cheque.png": documents.png_bytes(a.image),
                                            "in/form.jpg": documents.jpeg_bytes(d.image)})),
    ]
    response = service.upload(files)
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["documents"] == 5  # the ZIP holds two
    status = service.wait(response.get_json()["id"])
    assert status["status"] == "done", status
    assert status["pages"] == {"total": 8, "done": 8}
    rows = service.csv_rows(response.get_json()["id"])
    names = [r["document"] for r in rows]
    assert names[0] == "cheque.jpg" and "in/cheque.png" in names and "in/form.jpg" in names
    assert {r["page"] for r in rows if r["document"] == "two-pages.tif"} == {"1", "2"}
    assert {r["page"] for r in rows if r["document"] == "scan.pdf"} == {"1", "2", "3"}
    # Every true field of every page is in the export, where it is on the page, with that
    # page's size (a PDF's pages rasterised at 200 dpi, as they were made; PDFium rounds a
    # page's size in pixels up, so it may come out a pixel larger).
    expected = {"cheque.jpg": [a], "two-pages.tif": [b, c], "scan.pdf": [d, a, c],
                "in/cheque.png": [a], "in/form.jpg": [d]}
    for name, pages in expected.items():
        for number, page in enumerate(pages, start=1):
            on_page = [r for r in rows if r["document"] == name and r["page"] == str(number)]
            assert on_page, (name, number)
            height, width = page.image.shape[:2]
            sizes = {(int(r["page_width"]), int(r["page_height"])) for r in on_page}
            assert len(sizes) == 1, (name, number, sizes)
            (row_width, row_height), = sizes
            assert 0 <= row_width - width <= 1 and 0 <= row_height - height <= 1, (name, number, sizes)
            found = [tuple(int(r[k]) for k in ("x", "y", "width", "height")) for r in on_page]
            for truth in page.fields:
                assert max(iou(truth.box, box) for box in found) >= 0.8, (name, number, truth)
    # The JSON export numbers the pages as the CSV does: from 1, as numbers.
    exported = service.client.get(f"/api/batches/{response.get_json()['id']}/export.json").get_json()
    assert [(f["document"], f["page"]) for f in exported["fields"]] == \
        [(r["document"], int(r["page"])) for r in rows]
    assert {f["page"] for f in exported["fields"] if f["document"] == "scan.pdf"} == {1, 2, 3}
    # Rows come ordered by document (upload order), page, then reading order.
    order = [(names.index(r["document"]), int(r["page"])) for r in rows]
    assert order == sorted(order)


def test_a_bad_file_is_reported_and_the_rest_goes_on(service, clean_form) -> None:  # type: ignore[no-untyped-def]
    good = documents.png_bytes(clean_form.image)
    response = service.upload([("good.png", good), ("truncated.png", good[: len(good) // 2]),
                               ("notes.png", b"these are not pixels\n" * 10)])
    assert response.status_code == 202
    body = response.get_json()
    assert body["documents"] == 3
    assert [e["document"] for e in body["errors"]] == ["notes.png"]
    assert "notes.png" in body["errors"][0]["error"] and "not a PNG" in body["errors"][0]["error"]
    status = service.wait(body["id"])
    assert status["status"] == "partial"
    assert status["documents"] == {"total": 3, "done": 1, "failed": 2}
    errors = {e["document"]: e["error"] for e in status["errors"]}
    assert "truncated" in errors["truncated.png"] and errors["truncated.png"].startswith("truncated.png: ")
    assert {r["document"] for r in service.csv_rows(body["id"])} == {"good.png"}


def test_nothing_readable_is_refused_with_the_reason(service) -> None:  # type: ignore[no-untyped-def]
    response = service.upload([("letter.docx", b"PK-not-really\x00" * 20)])
    assert response.status_code == 415
    assert "letter.docx" in response.get_json()["error"]
    response = service.upload([("empty.png", b"")])
    assert response.status_code == 400 and "empty.png: the file is empty" in response.get_json()["error"]
    response = service.client.post("/api/batches", data={}, content_type="multipart/form-data")
    assert response.status_code == 400 and "files" in response.get_json()["error"]


def test_a_template_names_the_fields_in_its_regions(service, cheque_with_strays) -> None:  # type: ignore[no-untyped-def]
    """Uploaded with `template=cheque`, a field takes the name of the template region holding
    its centre; a field in no region keeps its reading-order name, field_<n>."""
    image, truth = cheque_with_strays
    regions = json.loads((service.settings.form_templates_dir / "cheque.json").read_text())["regions"]
    height, width = image.shape[:2]

    def region_of(box: tuple[int, int, int, int]) -> str | None:
        cx, cy = (box[0] + box[2] / 2) / width, (box[1] + box[3] / 2) / height
        inside = [r["name"] for r in regions
                  if r["x"] <= cx <= r["x"] + r["width"] and r["y"] <= cy <= r["y"] + r["height"]]
        return inside[0] if inside else None

    # The page is what this test needs: three fields in the template's regions, two in none.
    assert {f.name: region_of(f.box) for f in truth} == {
        "date": "date", "amount": "amount", "account": "account", "reference": None, "branch": None}
    response = service.upload([("cheque.png", documents.png_bytes(image))], template="cheque")
    assert response.status_code == 202, response.get_json()
    batch_id = response.get_json()["id"]
    status = service.wait(batch_id)
    assert status["status"] == "done" and status["template"] == "cheque", status
    rows = service.csv_rows(batch_id)
    assert len(rows) == len(truth)
    named = {}
    for row in rows:
        box = tuple(int(row[k]) for k in ("x", "y", "width", "height"))
        drawn = max(truth, key=lambda f: iou(f.box, box))
        assert iou(drawn.box, box) >= 0.8, (row, drawn)
        named[drawn.name] = row["field"]
    # Reading order: date (top line), reference, amount, account, branch.
    assert named == {"date": "date", "amount": "amount", "account": "account",
                     "reference": "field_2", "branch": "field_5"}
    assert [r["field"] for r in rows] == ["date", "field_2", "amount", "account", "field_5"]
    exported = service.client.get(f"/api/batches/{batch_id}/export.json").get_json()
    assert [(f["field"], f["position"]) for f in exported["fields"]] == \
        [("date", 1), ("field_2", 2), ("amount", 3), ("account", 4), ("field_5", 5)]


def test_unknown_batch_and_template(service, clean_form) -> None:  # type: ignore[no-untyped-def]
    assert service.client.get("/api/batches/deadbeef").status_code == 404
    response = service.upload([("a.png", documents.png_bytes(clean_form.image))], template="nope")
    assert response.status_code == 400 and "template" in response.get_json()["error"]


def test_batches_are_listed_newest_first_in_pages(service, clean_form) -> None:  # type: ignore[no-untyped-def]
    png = documents.png_bytes(clean_form.image)
    ids = [service.upload([(f"p{i}.png", png)]).get_json()["id"] for i in range(3)]
    first = service.client.get("/api/batches?per_page=2").get_json()
    assert [b["id"] for b in first["batches"]] == ids[::-1][:2]
    assert first["next"] and first["total"] >= 3
    second = service.client.get(first["next"]).get_json()
    assert second["batches"][0]["id"] == ids[0]
    for batch_id in ids:
        service.wait(batch_id)


def test_reading_a_document_again_replaces_its_rows(service, scans) -> None:  # type: ignore[no-untyped-def]
    response = service.upload([("order.png", documents.png_bytes(scans[1].image))])
    batch_id = response.get_json()["id"]
    service.wait(batch_id)
    before = service.csv_rows(batch_id)
    document_id = service.client.get(f"/api/batches/{batch_id}/documents").get_json()["documents"][0]["id"]
    again = service.client.post(f"/api/documents/{document_id}/reprocess")
    assert again.status_code == 202
    status = service.wait(batch_id)
    assert status["status"] == "done"
    after = service.csv_rows(batch_id)
    assert after == before  # the same rows, not doubled ones


def test_json_export_matches_csv(service, clean_form) -> None:  # type: ignore[no-untyped-def]
    batch_id = service.upload([("form.png", documents.png_bytes(clean_form.image))]).get_json()["id"]
    service.wait(batch_id)
    rows = service.csv_rows(batch_id)
    exported = json.loads(service.client.get(f"/api/batches/{batch_id}/export.json").get_data())
    assert exported["batch_id"] == batch_id
    assert [(f["document"], str(f["page"]), f["field"], f["value"]) for f in exported["fields"]] == \
        [(r["document"], r["page"], r["field"], r["value"]) for r in rows]
    assert all(len(f["digits"]) == len(f["recognized_value"]) for f in exported["fields"])


def test_a_correction_reaches_the_csv_with_who_and_when(service, clean_form) -> None:  # type: ignore[no-untyped-def]
    batch_id = service.upload([("form.png", documents.png_bytes(clean_form.image))]).get_json()["id"]
    service.wait(batch_id)
    field = service.client.get(f"/api/batches/{batch_id}/export.json").get_json()["fields"][0]
    response = service.client.patch(f"/api/fields/{field['id']}", json={"value": "4242", "reviewer": "ana"})
    assert response.status_code == 200, response.get_json()
    assert service.client.patch(f"/api/fields/{field['id']}", json={"value": "12a"}).status_code == 400
    row = service.csv_rows(batch_id)[0]
    assert (row["value"], row["recognized_value"], row["status"]) == \
        ("4242", field["recognized_value"], "reviewed")
    assert row["reviewed_by"] == "ana" and row["reviewed_at"]
    history = service.client.get(f"/api/fields/{field['id']}").get_json()["history"]
    assert history[-1]["old_value"] == field["value"] and history[-1]["new_value"] == "4242"


@pytest.fixture(scope="module")
def amount_images():  # type: ignore[no-untyped-def]
    """Field images as a cheque scanner cuts them: amounts with separators and tails, no box,
    written by test writers (never trained on)."""
    from models import mnist
    from synth.hands import load_writers
    from synth.strings import field_image

    data = mnist.load(None)
    hands = load_writers("test", data.x_test, data.y_test).mixture()
    rng = np.random.default_rng(31)
    return [field_image(text, hands.pick(rng), rng, digit_height=30)
            for text in ("25.574.-", "1800=", "306", "47.019")]


def test_field_images_are_one_field_each(service, amount_images) -> None:  # type: ignore[no-untyped-def]
    """layout=field: each uploaded image is one whole field, field_1, its box the whole image,
    its value the digits without separators."""
    files = [(f"amount-{i}.png", documents.png_bytes(f.image)) for i, f in enumerate(amount_images)]
    response = service.upload(files, layout="field")
    assert response.status_code == 202, response.get_json()
    batch_id = response.get_json()["id"]
    status = service.wait(batch_id)
    assert status["status"] == "done" and status["layout"] == "field", status
    rows = service.csv_rows(batch_id)
    assert [r["document"] for r in rows] == [name for name, _ in files]
    for row, truth in zip(rows, amount_images):
        height, width = truth.image.shape[:2]
        assert row["field"] == "field_1" and row["page"] == "1"
        assert [int(row[k]) for k in ("x", "y", "width", "height", "page_width", "page_height")] == \
            [0, 0, width, height, width, height]
        assert row["recognized_value"].isdigit() or row["recognized_value"] == ""
    right = sum(r["recognized_value"] == t.value for r, t in zip(rows, amount_images))
    assert right >= 3, [(r["recognized_value"], t.value) for r, t in zip(rows, amount_images)]
    exported = service.client.get(f"/api/batches/{batch_id}/export.json").get_json()["fields"]
    assert all(len(f["digits"]) == len(f["recognized_value"]) for f in exported)
    # Every line reader reads a field image; the glyph classifier too unless the combination
    # gives it no weight on field images (then its glyphs are not read: fieldread.field_opinions).
    field_weights = Calibrations.load(service.settings.combination_path).for_kind("field").weights
    cut_heard = field_weights.get("cut", 1.0) > 0
    readers = {"crnn", "ppocr"} | ({"cut"} if cut_heard else set())
    assert all(set(f["readings"]) == readers for f in exported), (readers, exported[0])


def test_layout_is_checked(service, amount_images) -> None:  # type: ignore[no-untyped-def]
    png = documents.png_bytes(amount_images[0].image)
    response = service.upload([("a.png", png)], layout="columns")
    assert response.status_code == 400 and "layout" in response.get_json()["error"]
    response = service.upload([("a.png", png)], layout="field", template="cheque")
    assert response.status_code == 400 and "template" in response.get_json()["error"]


def test_a_template_region_with_no_drawn_box_is_read_whole(service, amount_images) -> None:  # type: ignore[no-untyped-def]
    """A region marked "drawn": false is read as one field, though nothing is drawn around it."""
    amount = amount_images[1]
    page = np.full((600, 900), 250, np.uint8)
    h, w = amount.image.shape
    page[300 : 300 + h, 500 : 500 + w] = amount.image
    template = {"name": "undrawn", "regions": [
        {"name": "amount", "x": 0.5, "y": 0.45, "width": 0.45, "height": 0.3, "drawn": False}]}
    (service.settings.form_templates_dir / "undrawn.json").write_text(json.dumps(template))
    response = service.upload([("page.png", documents.png_bytes(page))], template="undrawn")
    assert response.status_code == 202, response.get_json()
    status = service.wait(response.get_json()["id"])
    rows = service.csv_rows(response.get_json()["id"])
    assert status["status"] == "done", status
    assert [r["field"] for r in rows] == ["amount"]
    assert [int(rows[0][k]) for k in ("x", "y", "width", "height")] == [450, 270, 405, 180]
    assert rows[0]["recognized_value"] == amount.value


def test_a_field_no_reading_of_which_keeps_its_rule_waits_for_review(service, digits) -> None:  # type: ignore[no-untyped-def]
    """A template whose account region wants 12 digits, on a cheque whose account comb has
    8-10: however it is read, the account breaks the rule. With a review threshold of 0 every
    other field is accepted; the account waits for a person, and the CSV (last column), the
    field's JSON and the review queue say which rule it broke."""
    rng = np.random.default_rng(41)
    page = make_page(digits, rng, "cheque", random_style(rng, dpi=200, clean=True), luhn_accounts=True)
    account = next(f for f in page.fields if f.name == "account")
    template = json.loads((service.settings.form_templates_dir / "cheque.json").read_text())
    template["name"] = "twelve"
    for region in template["regions"]:
        if region["name"] == "account":
            region["rule"] = {"kind": "digits", "length": 12}
    (service.settings.form_templates_dir / "twelve.json").write_text(json.dumps(template))
    response = service.upload([("cheque.png", documents.png_bytes(page.image))], template="twelve",
                              review_threshold="0")
    assert response.status_code == 202, response.get_json()
    batch_id = response.get_json()["id"]
    status = service.wait(batch_id)
    assert status["status"] == "done" and status["fields"]["needs_review"] == 1, status
    rows = {r["field"]: r for r in service.csv_rows(batch_id)}
    assert list(next(iter(rows.values())).keys())[-1] == "rule_error"
    assert rows["account"]["status"] == "needs_review"
    assert rows["account"]["rule_error"] == f"length {len(rows['account']['value'])}, expected 12"
    assert len(rows["account"]["value"]) == len(account.value)
    assert float(rows["account"]["confidence"]) <= 0.1
    assert (rows["date"]["status"], rows["date"]["rule_error"]) == ("auto", "")
    waiting = service.client.get(f"/api/review/next?batch={batch_id}").get_json()
    assert [(f["field"], f["rule_error"]) for f in waiting["fields"]] == \
        [("account", rows["account"]["rule_error"])]
    exported = service.client.get(f"/api/batches/{batch_id}/export.json").get_json()["fields"]
    assert {f["field"]: f["rule_error"] for f in exported}["date"] is None


def test_writing_struck_through_waits_for_review_and_says_why(service, digits) -> None:  # type: ignore[no-untyped-def]
    """A cheque whose amount was struck through with a pen line: with a review threshold of 0
    every other field is accepted; the amount waits for a person, and its JSON and its page
    say that it was struck through."""
    page, amount = struck_cheque(digits, 43)
    response = service.upload([("struck.png", documents.png_bytes(page))], review_threshold="0")
    assert response.status_code == 202, response.get_json()
    batch_id = response.get_json()["id"]
    status = service.wait(batch_id)
    assert status["status"] == "done" and status["fields"]["needs_review"] == 1, status
    exported = service.client.get(f"/api/batches/{batch_id}/export.json").get_json()["fields"]
    waiting = [f for f in exported if f["status"] == "needs_review"]
    assert len(waiting) == 1 and waiting[0]["confidence"] <= 0.1
    assert iou(tuple(waiting[0]["box"].values()), amount.box) > 0.8  # the whole box, not half
    assert len(waiting[0]["warnings"]) == 1 and "struck through" in waiting[0]["warnings"][0]
    assert all(f["warnings"] == [] for f in exported if f is not waiting[0])
    pages = service.client.get(f"/api/documents/{waiting[0]['document_id']}/pages/1").get_json()
    assert pages["warnings"] == waiting[0]["warnings"]


def test_numbers_past_what_the_database_holds_are_404_or_400(service) -> None:  # type: ignore[no-untyped-def]
    """Ids of 2^31 and up (PostgreSQL's integer) and 2^63 (SQLite's) are no such row, and huge
    query numbers are a 400: never a 500 from the database."""
    for big in (2**31, 2**63, 10**30):
        for method, path in (("get", f"/api/fields/{big}"), ("get", f"/api/fields/{big}/crop.png"),
                             ("patch", f"/api/fields/{big}"), ("post", f"/api/documents/{big}/reprocess"),
                             ("get", f"/api/documents/{big}/pages/1"),
                             ("get", f"/api/documents/1/pages/{big}/image")):
            response = getattr(service.client, method)(path, json={"value": "1"})
            assert response.status_code == 404, (method, path, response.status_code)
        for path in (f"/api/review/next?after={big}", f"/api/batches?page={big}",
                     f"/api/documents/1/pages/1/image?max_width={big}"):
            response = service.client.get(path)
            assert response.status_code in (400, 404), (path, response.status_code)
            assert "error" in response.get_json()
    assert service.client.get("/api/batches?per_page=5000").status_code == 200  # clamped, as before


def test_the_embedded_broker_does_not_keep_delivered_messages(service, clean_form) -> None:  # type: ignore[no-untyped-def]
    """kombu's SQLite transport keeps every delivered message; the workers' sweep deletes them."""
    import sqlite3
    import time

    from worker.celery_app import MESSAGE_TABLE, _sqlite_path

    if not service.settings.broker_url.startswith("sqla+"):
        pytest.skip("the embedded broker only")
    png = documents.png_bytes(clean_form.image)
    batch_id = service.upload([(f"p{i}.png", png) for i in range(3)]).get_json()["id"]
    service.wait(batch_id)
    path = _sqlite_path(service.settings.broker_url)
    deadline = time.time() + 30
    while True:
        with sqlite3.connect(path, timeout=30) as connection:
            kept = connection.execute(f"SELECT COUNT(*) FROM {MESSAGE_TABLE} WHERE visible = 0").fetchone()[0]
        if kept == 0 or time.time() > deadline:
            break
        time.sleep(0.5)
    assert kept == 0
