"""What the worker records is what the pipeline read: a page stored through `core.processing`
(start, read, save — the steps of the worker's task, run here in-process) against a real
database gives fields and digits whose confidences are those `segmentation.pipeline.read_page`
returns for the same image with the same model, rounded as stored (6 decimals), and whose
state follows the review threshold: `auto` at or over it, `needs_review` under it."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from core import processing, receiving
from core.db import session_scope
from core.files import Limits
from core.migrate import upgrade
from core.schema import AUTO, DONE, NEEDS_REVIEW, Digit, Field, Page
from core.settings import Settings
from core.storage import Storage
from segmentation.pipeline import PageResult, read_page
from synth import documents
from synth.pages import make_page
from synth.scanner import random_style

ROUNDING = 6  # decimals of the stored confidences (core.processing)


@pytest.fixture(scope="module")
def noisy_form(digits):  # type: ignore[no-untyped-def]
    """A degraded colour form whose fields are read with confidences from ~0.4 to ~1."""
    rng = np.random.default_rng(42)
    return make_page(digits, rng, "form", random_style(rng, dpi=150))


@pytest.fixture(scope="module")
def expected(noisy_form, recognizer) -> PageResult:  # type: ignore[no-untyped-def]
    """The pipeline's own reading of the page, with the worker's model."""
    result = read_page(noisy_form.image, recognizer._classify)
    confidences = sorted(f.confidence for f in result.fields)
    assert len(confidences) >= 5 and confidences[0] < 0.9 < confidences[-1], confidences
    return result


@pytest.fixture(params=["postgres", "sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return request.getfixturevalue("pg_url")
    return f"sqlite:///{tmp_path / 'digits.sqlite3'}"


def settings_for(tmp_path: Path, database_url: str, **overrides: object) -> Settings:
    settings = Settings.from_env({}, data_dir=tmp_path, database_url=database_url, **overrides)
    upgrade(settings)
    return settings


def process(settings: Settings, png: bytes, recognizer, threshold: float | None = None) -> int:  # type: ignore[no-untyped-def]
    """Upload one PNG as a batch and read it as the worker's task does; the document's id."""
    with session_scope(settings) as session:
        options = {"review_threshold": str(threshold)} if threshold is not None else None
        created = receiving.create_batch(session, settings, [("form.png", io.BytesIO(png))], options)
        (document_id,) = created.queued
    with session_scope(settings) as session:
        job = processing.start(session, document_id, max_attempts=3)
    assert job is not None
    outcomes = processing.read(job, Storage(settings.originals_dir), Limits(), recognizer.read_page,
                               None, lambda total, done: None)
    with session_scope(settings) as session:
        assert processing.save(session, job, outcomes, recognizer.version) == DONE
    return document_id


def stored(settings: Settings, document_id: int) -> tuple[list[Page], list[Field], dict[int, list[Digit]]]:
    with session_scope(settings) as session:
        pages = session.scalars(select(Page).where(Page.document_id == document_id)).all()
        fields = session.scalars(select(Field).where(Field.document_id == document_id)
                                 .order_by(Field.position)).all()
        digits: dict[int, list[Digit]] = {}
        for d in session.scalars(select(Digit).where(Digit.field_id.in_([f.id for f in fields]))
                                 .order_by(Digit.field_id, Digit.position)):
            digits.setdefault(d.field_id, []).append(d)
        return list(pages), list(fields), digits


def test_stored_confidences_are_the_pipelines(noisy_form, expected, recognizer, database_url,
                                              tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = settings_for(tmp_path, database_url)  # the default review threshold
    document_id = process(settings, documents.png_bytes(noisy_form.image), recognizer)
    (page,), fields, digits = stored(settings, document_id)
    assert (page.number, page.width, page.height) == (1, expected.width, expected.height)
    assert len(fields) == len(expected.fields)
    for position, (row, truth) in enumerate(zip(fields, expected.fields), start=1):
        where = (position, truth.name)
        assert (row.position, row.name, row.kind) == (position, truth.name, truth.kind), where
        assert (row.x, row.y, row.width, row.height) == truth.box, where
        assert row.recognized_value == row.value == truth.value, where
        assert row.confidence == round(truth.confidence, ROUNDING), where
        assert row.status == (AUTO if truth.confidence >= settings.review_threshold else NEEDS_REVIEW), \
            (where, truth.confidence, settings.review_threshold)
        stored_digits = digits.get(row.id, [])
        assert len(stored_digits) == len(truth.digits) == len(truth.value), where
        for i, (d, t) in enumerate(zip(stored_digits, truth.digits), start=1):
            assert (d.position, d.value, (d.x, d.y, d.width, d.height)) == (i, t.value, t.box), where
            assert d.confidence == round(t.confidence, ROUNDING), (where, i)
            assert d.alternatives == [[v, round(p, ROUNDING)] for v, p in t.alternatives], (where, i)
    # The page has fields on both sides of the threshold, so both states were put to the test.
    assert {f.status for f in fields} == {AUTO, NEEDS_REVIEW}


def test_the_review_state_follows_the_configured_threshold(noisy_form, expected, recognizer,
                                                           database_url, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The service's configured threshold applies when a batch names none, the batch's own
    when it does; a confidence equal to the threshold is accepted (only under it is reviewed)."""
    png = documents.png_bytes(noisy_form.image)
    confidences = sorted(f.confidence for f in expected.fields)
    configured = confidences[len(confidences) // 2]  # exactly one field's confidence
    settings = settings_for(tmp_path, database_url, review_threshold=configured)
    for threshold in (None, confidences[1], 0.0, 1.0):
        document_id = process(settings, png, recognizer, threshold)
        _, fields, _ = stored(settings, document_id)
        applied = configured if threshold is None else threshold
        want = [AUTO if f.confidence >= applied else NEEDS_REVIEW for f in expected.fields]
        assert [f.status for f in fields] == want, (threshold, applied, confidences)
        if threshold in (None, confidences[1]):  # one field sits exactly on the threshold
            on_it = [f.status for f, t in zip(fields, expected.fields) if t.confidence == applied]
            assert on_it == [AUTO], (threshold, confidences)
            assert NEEDS_REVIEW in want and AUTO in want
