"""Improving from corrections end to end, on a tiny slice, with a real worker on PostgreSQL and
Redis: field images read, every field reviewed through the review API, then `worker.improve`
(a few training steps, the comparison, the decision). A candidate ruined by a huge learning
rate is refused against the shipped readers; made the active version by hand, a candidate
trained properly beats it and is promoted; the worker reads the next batch with it, without a
restart; rolling back makes the worker read with the one before."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from core import models_registry as registry
from core.db import session_scope
from core.schema import Document, ModelVersion
from synth import documents
from tests.services import Service, start_service
from worker import improve, judging
from worker.export_corrections import reviewed_fields

FIELDS = 40  # reviewed field images: 30 to train on, 10 held out (field id % 4)
TINY = improve.Options(synthetic=32, repeat=1, epochs=1, regression=12, regression_pages=1,
                       min_training=10, min_held_out=3, min_glyphs=10**9, seed=3)
RUINOUS_RATE = 5.0  # Adam at this rate wrecks the string reader in one epoch


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, pg_url: str, redis_broker: str,
            mnist_dir: Path | None) -> Iterator[Service]:
    if mnist_dir is None:
        pytest.skip("MNIST is not here (MNIST_DIR)")
    with start_service(tmp_path_factory.mktemp("improve"), database_url=pg_url,
                       broker_url=redis_broker, mnist_dir=mnist_dir) as running:
        yield running


@pytest.fixture(scope="module")
def fields(mnist) -> list[tuple[str, bytes, str]]:  # type: ignore[no-untyped-def]
    """(name, PNG, value) of numbers written by MNIST's test digits."""
    from synth.hands import load_writers
    from synth.strings import random_field

    hands = load_writers("test", mnist.x_test, mnist.y_test).mixture()
    rng = np.random.default_rng(71)
    made = [random_field(hands, rng) for _ in range(FIELDS)]
    return [(f"field-{i:02d}.png", documents.png_bytes(f.image), f.value) for i, f in enumerate(made)]


def read_batch(service: Service, fields: list[tuple[str, bytes, str]]) -> str:
    response = service.upload([(name, png) for name, png, _ in fields], layout="field")
    assert response.status_code == 202, response.get_data(as_text=True)
    batch_id = response.get_json()["id"]
    assert service.wait(batch_id, timeout=300)["status"] == "done"
    return batch_id


def versions_of(service: Service, batch_id: str) -> set[int | None]:
    with session_scope(service.settings) as session:
        return set(session.scalars(select(Document.model_version_id).where(Document.batch_id == batch_id)))


def test_a_worse_candidate_is_refused_and_a_better_one_read_with_then_rolled_back(
        service: Service, fields: list[tuple[str, bytes, str]]) -> None:
    first = read_batch(service, fields)
    truth = {name: value for name, _, value in fields}
    rows = service.client.get(f"/api/batches/{first}/export.json").get_json()["fields"]
    assert len(rows) == FIELDS
    for row in rows:
        response = service.client.patch(f"/api/fields/{row['id']}",
                                        json={"value": truth[row["document"]], "reviewer": "test"})
        assert response.status_code == 200
    settings = service.settings
    ruined = None
    try:
        worse = improve.improve(settings, replace(TINY, learning_rate=RUINOUS_RATE))
        held = worse.metrics["held_out"]
        assert held["candidate"]["exact"] < held["current"]["exact"], held
        assert not worse.promoted and worse.metrics["decision"] == "refused: not better"
        with session_scope(settings) as session:
            assert registry.active(session) is None  # the shipped readers still read
            registry.promote(session, worse.version_id)  # a bad model in use, as after a mistake
        ruined = worse.version_id

        better = improve.improve(settings, TINY)
        held = better.metrics["held_out"]
        assert held["candidate"]["exact"] > held["current"]["exact"], held
        assert better.promoted and better.metrics["decision"] == "promoted"
        with session_scope(settings) as session:
            assert registry.active(session).id == better.version_id
        assert versions_of(service, read_batch(service, fields[:4])) == {better.version_id}

        with session_scope(settings) as session:
            registry.rollback(session, ruined)
        assert versions_of(service, read_batch(service, fields[:4])) == {ruined}
        assert service.worker.process.poll() is None  # the same worker, never restarted
    finally:
        with session_scope(settings) as session:  # the database is shared: leave none promoted
            active = registry.active(session)
            if active is not None:
                registry.retire(session, active.id)


def test_the_glyph_classifier_learns_from_reviewed_pages_and_is_judged(
        service: Service, digits) -> None:  # type: ignore[no-untyped-def]
    """Reviewed fields of pages give glyphs: with enough of them the glyph classifier is trained
    too (a few steps here), carried by the candidate, and judged on pages and MNIST; their open
    boxes, cut from their pages as the line readers are shown them, train the page fields' CRNN,
    the field images reviewed before the field images' one."""
    from synth.pages import make_page
    from synth.scanner import random_style

    rng = np.random.default_rng(72)
    forms = [make_page(digits, rng, "form", random_style(rng, dpi=200, clean=True)) for _ in range(2)]
    side = np.ascontiguousarray(np.rot90(forms[1].image))  # scanned lying on its side
    response = service.upload([("form-0.png", documents.png_bytes(forms[0].image)),
                               ("form-side.png", documents.png_bytes(side))])
    batch_id = response.get_json()["id"]
    assert service.wait(batch_id, timeout=300)["status"] == "done"
    for row in service.client.get(f"/api/batches/{batch_id}/export.json").get_json()["fields"]:
        confirmed = service.client.patch(f"/api/fields/{row['id']}", json={"value": row["value"]})
        assert confirmed.status_code == 200
    reviewed = reviewed_fields(service.settings)
    boxes = [f for f in reviewed if f.kind == "box"]
    assert {f.rotation for f in boxes} == {0, 270}  # the page on its side was read turned back
    shown = improve.page_lines(service.settings, boxes)
    assert boxes and len(shown) == len(boxes)  # each found again on its page, turned as it was read
    for (image, value), f in zip(shown, boxes):  # the inside, its lines erased: no wider than the box
        width, height = (f.box[3], f.box[2]) if f.rotation else (f.box[2], f.box[3])
        assert value == f.value and image.shape[0] < height and image.shape[1] < width
    outcome = improve.improve(service.settings, replace(TINY, min_glyphs=20, glyph_limit=2000, promote=False))
    metrics = outcome.metrics
    assert metrics["glyph_classifier_trained"]
    assert set(metrics["regression_pages"]) == {"current", "candidate"}
    assert metrics["regression_pages"]["current"]["fields"] > 0
    with session_scope(service.settings) as session:
        version = session.get(ModelVersion, outcome.version_id)
        assert set(version.files) == {"digits", "strings", "strings_pages", "combination"}
        assert version.status == "candidate"
    assert metrics["decision"] == ("better, not promoted (asked not to)" if judging.promotable(metrics)
                                   else "refused: not better")


def test_too_few_corrections_are_refused_with_the_reason(service: Service) -> None:
    with pytest.raises(improve.NotEnough, match="at least"):
        improve.improve(service.settings, improve.Options(min_training=10_000))


def test_the_api_queues_a_run_and_shows_its_state(service: Service) -> None:
    response = service.client.post("/api/models/improve")
    assert response.status_code == 202, response.get_data(as_text=True)
    assert response.get_json()["state"] == "queued"
    assert response.get_json()["status_url"] == "/api/models/improve"
    state = service.client.get("/api/models/improve").get_json()
    assert state["state"] in ("queued", "running", "done", "failed")


def test_a_candidate_is_judged_reading_page_fields_as_it_will_be_served(tmp_path: Path) -> None:
    """With one CRNN in the settings, a candidate whose CRNN learnt a page's boxes too reads them
    with it, even when the version in use carries a page CRNN of its own; with a page CRNN in
    the settings, a candidate without one of its own reads them with the shipped one."""
    import shutil

    from core.models_registry import Active
    from core.settings import Settings
    from models.strings_reader import DEFAULT_STRINGS_PATH
    from worker.recognition import reader_for, reader_of

    old_pages, new_strings = tmp_path / "old-pages.onnx", tmp_path / "new-strings.onnx"
    for path in (old_pages, new_strings):
        shutil.copyfile(DEFAULT_STRINGS_PATH, path)
    one = Settings.from_env({}, page_strings_model_path=DEFAULT_STRINGS_PATH)
    current = reader_of(one, Active(903, "a page CRNN of its own", (("strings_pages", str(old_pages)),)))
    assert Path(current.readers.for_kind("box")[0].path) == old_pages
    candidate = improve._reader(one, current, {"strings": new_strings, "combination": one.combination_path})
    assert Path(candidate.readers.for_kind("box")[0].path) == new_strings
    assert candidate.readers.for_kind("comb")[0] is candidate.readers.for_kind("field")[0]
    two = Settings.from_env({})
    candidate = improve._reader(two, reader_for(two), {"strings": new_strings,
                                                       "combination": two.combination_path})
    assert Path(candidate.readers.for_kind("box")[0].path) == two.page_strings_model_path
    assert Path(candidate.readers.for_kind("field")[0].path) == new_strings
