"""The pages in a real browser: upload a scan, watch the batch finish, review by keyboard only,
export the corrections.

Drives Debian's Chromium (/usr/bin/chromium) with Playwright for Python against the Flask app
served over real HTTP, with a real Celery worker on the embedded backend (SQLite and Celery's
SQLAlchemy transport). Writes the screenshots the README shows to docs/screenshots/.
"""

from __future__ import annotations

import csv
import io
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from core.settings import PROJECT_ROOT
from synth import documents
from synth.pages import make_page
from synth.scanner import random_style
from tests.segmentation.struck import struck_cheque
from tests.services import Service, services_required, start_service

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = PROJECT_ROOT / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 900}
BATCH_TIMEOUT_MS = 120_000
NEXT_FIELD_BUDGET_MS = 200

ALL_SELECTED = """() => {
    const input = document.getElementById("value");
    return input.selectionStart === 0 && input.selectionEnd === input.value.length;
}"""
# Times, in the page, from the Enter key going down to the next field's name being shown.
TIME_NEXT_FIELD = """() => {
    window.__enterAt = null;
    window.__nextAt = null;
    document.addEventListener("keydown", (event) => {
        if (event.key === "Enter" && window.__enterAt === null) window.__enterAt = performance.now();
    }, { capture: true });
    new MutationObserver(() => {
        if (window.__enterAt === null || window.__nextAt !== null) return;
        window.__nextAt = performance.now();
        const crop = document.getElementById("crop");  // fetched ahead: shown at once too
        window.__cropReady = crop.complete && crop.naturalWidth > 0;
    }).observe(document.getElementById("where"), { childList: true, characterData: true, subtree: true });
}"""


def _unavailable(reason: str) -> None:
    if services_required():
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing: install Debian's chromium package to run the browser tests")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _unavailable(f"Playwright for Python is not installed ({exc})")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, str]]:
    """The service on the embedded backend, its Flask app behind a real HTTP server."""
    from werkzeug.serving import make_server

    with start_service(tmp_path_factory.mktemp("browser")) as service:
        server = make_server("127.0.0.1", 0, service.app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
        thread.start()
        try:
            yield service, f"http://127.0.0.1:{server.server_port}"
        finally:
            server.shutdown()
            thread.join(timeout=10)
            server.server_close()


@pytest.fixture(scope="module")
def form(digits):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(11)
    return make_page(digits, rng, "form", random_style(rng, dpi=200, clean=True))


def _crop_field_id(page) -> int:  # type: ignore[no-untyped-def]
    src = page.locator("#crop").get_attribute("src") or ""
    found = re.search(r"/api/fields/(\d+)/crop", src)
    assert found, src
    return int(found.group(1))


def _left(page) -> int:  # type: ignore[no-untyped-def]
    text = page.locator("#left").inner_text()
    found = re.search(r"\d+", text)
    assert found, text
    return int(found.group(0))


def _wait_for_crop(page) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_function("""() => {
        const crop = document.getElementById("crop");
        const input = document.getElementById("value");
        return crop && crop.complete && crop.naturalWidth > 0 && document.activeElement === input;
    }""")


def _changed(value: str) -> str:
    """The value with its first digit changed (or a made-up value when there is none)."""
    if not value:
        return "12345"
    return str((int(value[0]) + 1) % 10) + value[1:]


def test_upload_watch_review_by_keyboard_and_export(browser, served, form, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    service, base = served
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    scan = tmp_path / "form.png"
    scan.write_bytes(documents.png_bytes(form.image))
    context = browser.new_context(viewport=VIEWPORT, base_url=base)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}")
            if msg.type == "error" else None)
    try:
        # a. Upload: choose the file, set the threshold so every field needs review, send.
        page.goto("/")
        page.set_input_files("#files", str(scan))
        expect(page.locator("#chosen li")).to_have_count(1)
        expect(page.locator("#chosen")).to_contain_text("form.png")
        page.fill("#threshold", "1")
        expect(page.locator("#send")).to_be_enabled()
        page.screenshot(path=str(SCREENSHOTS / "upload.png"))
        page.click("#send")
        page.wait_for_url(re.compile(r"/batches/[0-9a-f]+$"), timeout=30_000)
        batch_id = page.url.rstrip("/").rsplit("/", 1)[-1]

        # b. The batch page follows the work until it is done, then shows the page with its boxes.
        expect(page.locator("#status")).to_have_text("done", timeout=BATCH_TIMEOUT_MS)
        status = service.status(batch_id)
        assert status["status"] == "done", status
        fields = status["fields"]["total"]
        assert fields >= 3 and status["fields"]["needs_review"] >= 3, status
        page.wait_for_function("""() => {
            const image = document.getElementById("page-image");
            return image && image.complete && image.naturalWidth > 0 && image.clientWidth > 0;
        }""")
        boxes = page.locator("#page-boxes a rect.box")
        expect(boxes).to_have_count(fields)
        assert page.locator("#page-boxes rect.box.needs_review").count() == status["fields"]["needs_review"]
        # The boxes' layer covers the image exactly, and each box lies where its field is.
        image_box = page.locator("#page-image").bounding_box()
        layer = page.locator("#page-boxes").bounding_box()
        assert image_box and layer
        for key in ("x", "y", "width", "height"):
            assert abs(image_box[key] - layer[key]) <= 1.5, (image_box, layer)
        scale = image_box["width"] / form.image.shape[1]
        truth = min(form.fields, key=lambda f: (f.box[1], f.box[0]))
        top = min((boxes.nth(i).bounding_box() for i in range(fields)), key=lambda b: (b["y"], b["x"]))
        assert abs(top["x"] - (image_box["x"] + truth.box[0] * scale)) < 8, (top, truth)
        assert abs(top["y"] - (image_box["y"] + truth.box[1] * scale)) < 8, (top, truth)
        assert top["width"] > 5 and top["height"] > 5
        expect(page.locator("#review")).to_contain_text(str(status["fields"]["needs_review"]))
        page.screenshot(path=str(SCREENSHOTS / "batch.png"), full_page=True)
        # Clicking a box opens the review of that field.
        boxes.first.click()
        page.wait_for_url(re.compile(r"/review\?.*field=\d+"))
        _wait_for_crop(page)

        # c. Review, keyboard only.
        page.goto(f"/review?batch={batch_id}")
        _wait_for_crop(page)
        left = _left(page)
        assert left == status["fields"]["needs_review"]
        first_id = _crop_field_id(page)
        first = page.request.get(f"/api/fields/{first_id}").json()
        assert first["status"] == "needs_review"
        # The input comes filled with the machine's reading, selected: typing replaces it.
        assert page.input_value("#value") == first["value"]
        assert page.evaluate(ALL_SELECTED)
        typed = _changed(first["recognized_value"])
        page.keyboard.type(typed)
        assert page.input_value("#value") == typed
        page.screenshot(path=str(SCREENSHOTS / "review.png"))
        where = page.locator("#where").inner_text()
        page.evaluate(TIME_NEXT_FIELD)
        with page.expect_response(lambda r: r.url.endswith(f"/api/fields/{first_id}")
                                  and r.request.method == "PATCH") as saved:
            page.keyboard.press("Enter")
        page.wait_for_function("() => window.__nextAt !== null", timeout=5_000)
        next_ms = page.evaluate("() => window.__nextAt - window.__enterAt")
        print(f"\nnext field shown {next_ms:.1f} ms after Enter")
        assert next_ms < NEXT_FIELD_BUDGET_MS, f"the next field took {next_ms:.0f} ms to appear"
        assert page.evaluate("() => window.__cropReady"), "the next field's crop was not loaded ahead"
        assert saved.value.ok, saved.value.text()
        assert page.locator("#where").inner_text() != where
        # The counter follows the server's answer to the save, which may land after the next
        # field is already shown.
        expect(page.locator("#left")).to_have_text(re.compile(rf"(^|\D){left - 1}(\D|$)"))
        _wait_for_crop(page)
        skipped_id = _crop_field_id(page)
        assert skipped_id != first_id

        where = page.locator("#where").inner_text()
        page.keyboard.press("Escape")
        expect(page.locator("#where")).not_to_have_text(where)
        _wait_for_crop(page)
        assert _left(page) == left - 1  # skipping leaves the field waiting
        unreadable_id = _crop_field_id(page)
        assert unreadable_id not in (first_id, skipped_id)
        with page.expect_response(lambda r: r.url.endswith(f"/api/fields/{unreadable_id}")
                                  and r.request.method == "PATCH") as saved:
            page.keyboard.press("Control+u")
        assert saved.value.ok, saved.value.text()
        expect(page.locator("#left")).to_contain_text(str(left - 2))
        assert _crop_field_id(page) not in (first_id, unreadable_id)

        # d. The export carries the corrections.
        response = page.request.get(f"/api/batches/{batch_id}/export.csv")
        assert response.ok and response.headers["content-type"].startswith("text/csv")
        rows = {(r["document"], r["page"], r["field"]): r
                for r in csv.DictReader(io.StringIO(response.text()))}
        assert len(rows) == fields
        details = {i: page.request.get(f"/api/fields/{i}").json()
                   for i in (first_id, skipped_id, unreadable_id)}
        row = {i: rows[(d["document"], str(d["page"]), d["field"])] for i, d in details.items()}
        corrected = row[first_id]
        assert corrected["value"] == typed
        assert corrected["recognized_value"] == first["recognized_value"] != typed
        assert corrected["status"] == "reviewed" and corrected["unreadable"] == "false"
        assert corrected["reviewed_by"] and corrected["reviewed_at"]
        assert row[skipped_id]["status"] == "needs_review"
        assert row[skipped_id]["value"] == row[skipped_id]["recognized_value"]
        gone = row[unreadable_id]
        assert gone["unreadable"] == "true" and gone["status"] == "reviewed" and gone["value"] == ""
        assert details[first_id]["history"][-1]["action"] == "correct"
        assert details[unreadable_id]["history"][-1]["action"] == "unreadable"

        # Back on the batch page, the boxes show what the review did.
        page.goto(f"/batches/{batch_id}")
        expect(page.locator("#page-boxes rect.box.reviewed")).to_have_count(2)
        expect(page.locator("#page-boxes rect.box.reviewed.unreadable")).to_have_count(1)
        waiting = status["fields"]["needs_review"] - 2
        expect(page.locator("#page-boxes rect.box.needs_review")).to_have_count(waiting)
        expect(page.locator("#review")).to_contain_text(str(waiting))
        assert not problems, problems
    finally:
        context.close()


def test_the_review_page_says_a_field_was_struck_through(browser, served, digits) -> None:  # type: ignore[no-untyped-def]
    """A cheque whose amount was struck through: the one field waiting for review, and the
    review page says why."""
    from playwright.sync_api import expect

    service, base = served
    scan, _ = struck_cheque(digits, 43)
    response = service.upload([("struck.png", documents.png_bytes(scan))], review_threshold="0")
    assert response.status_code == 202, response.get_json()
    batch_id = response.get_json()["id"]
    assert service.wait(batch_id)["fields"]["needs_review"] == 1
    context = browser.new_context(viewport=VIEWPORT, base_url=base)
    page = context.new_page()
    try:
        page.goto(f"/review?batch={batch_id}")
        _wait_for_crop(page)
        expect(page.locator("#warnings")).to_be_visible()
        expect(page.locator("#warnings")).to_contain_text("Noticed: struck through")
    finally:
        context.close()


def test_field_images_uploaded_from_the_page(browser, served, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The upload page's layout choice: "Fields" takes each image as one whole field (a
    template then makes no sense and is turned off)."""
    from playwright.sync_api import expect

    from models import mnist
    from synth.hands import load_writers
    from synth.strings import field_image

    service, base = served
    data = mnist.load(None)
    rng = np.random.default_rng(5)
    amount = field_image("4.750.-", load_writers("test", data.x_test, data.y_test).mixture().pick(rng),
                         rng, digit_height=32)
    path = tmp_path / "amount.png"
    path.write_bytes(documents.png_bytes(amount.image))
    context = browser.new_context(viewport=VIEWPORT, base_url=base)
    page = context.new_page()
    try:
        page.goto("/")
        page.select_option("#layout", "field")
        expect(page.locator("#template")).to_be_disabled()
        page.set_input_files("#files", str(path))
        page.click("#send")
        page.wait_for_url(re.compile(r"/batches/[0-9a-f]+$"), timeout=30_000)
        batch_id = page.url.rstrip("/").rsplit("/", 1)[-1]
        expect(page.locator("#status")).to_have_text("done", timeout=BATCH_TIMEOUT_MS)
    finally:
        context.close()
    assert service.status(batch_id)["layout"] == "field"
    (row,) = service.csv_rows(batch_id)
    height, width = amount.image.shape[:2]
    assert (row["field"], row["x"], row["y"], row["width"], row["height"]) == \
        ("field_1", "0", "0", str(width), str(height))


def test_models_page_promotes_retires_and_starts_improving(browser, served) -> None:  # type: ignore[no-untyped-def]
    """The models page: a registered candidate promoted and retired by its buttons (the
    registry says so after each click), and improving from corrections asked for."""
    from playwright.sync_api import expect

    from core import models_registry as registry
    from core.db import session_scope

    service, base = served
    with session_scope(service.settings) as session:
        version = registry.register(session, service.settings,
                                    {"combination": service.settings.combination_path},
                                    name="browser test candidate", note="shipped calibration")
        version_id = version.id
    context = browser.new_context(viewport=VIEWPORT, base_url=base)
    page = context.new_page()
    try:
        page.goto("/models")
        row = page.locator("#versions tr", has_text="shipped calibration")
        expect(row.locator(".badge")).to_have_text("candidate")
        row.get_by_role("button", name="Promote").click()
        expect(row.locator(".badge")).to_have_text("promoted")
        with session_scope(service.settings) as session:
            assert registry.active(session).id == version_id
        row.get_by_role("button", name="Retire").click()
        expect(row.locator(".badge")).to_have_text("retired")
        with session_scope(service.settings) as session:
            assert registry.active(session) is None
        page.click("#improve")
        expect(page.locator("#run")).to_contain_text("Queued")
        expect(page.locator("#improve")).to_be_disabled()
        page.screenshot(path=str(SCREENSHOTS / "models.png"), full_page=True)
    finally:
        context.close()
    assert service.client.get("/api/models/improve").get_json()["state"] == "queued"
