"""Model versions end to end, with a real worker that is never restarted: a batch read with the
shipped files, then a candidate registered (the command), promoted and rolled back (the API);
each later batch is read, and recorded, by the version active when it was uploaded. Runs on
PostgreSQL + Redis and on the embedded default (SQLite + Celery's SQLAlchemy transport)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from core import models_registry as registry
from core.db import session_scope
from core.schema import Document, Field, ModelVersion
from core.settings import PROJECT_ROOT
from synth import documents
from tests.services import Service, environment

# The candidate's calibration of field images: the shipped one with its bias lowered this much
# (in logits). Every field image's confidence is then lower than the shipped readers give it
# (confidences are σ(bias + ...), clipped only at ±50 logits), by far more than the 6 decimals
# they are stored with: the readers that read a batch are seen in its confidences.
BIAS_SHIFT = -6.0
BATCH_TIMEOUT_S = 300  # a busy 2-core machine; the first document of a version also loads it
COMMAND_TIMEOUT_S = 120  # the command loads ONNX Runtime to check the files it registers
SAME = 1e-6  # the same readers on the same image: the same confidence, as stored


@pytest.fixture(scope="module")
def field_images(mnist):  # type: ignore[no-untyped-def]
    """Two amounts as a cheque scanner cuts them, by test writers (never trained on)."""
    from synth.hands import load_writers
    from synth.strings import field_image

    hands = load_writers("test", mnist.x_test, mnist.y_test).mixture()
    rng = np.random.default_rng(77)
    return [(f"amount-{i}.png", documents.png_bytes(field_image(text, hands.pick(rng), rng,
                                                                  digit_height=30).image))
            for i, text in enumerate(("4071", "25.90"))]


def command(service: Service, *args: str) -> str:
    """`python -m worker.model_versions ...` on the service's settings; its output."""
    done = subprocess.run([sys.executable, "-m", "worker.model_versions", *args], cwd=PROJECT_ROOT,
                          env=environment(service.settings), capture_output=True, text=True,
                          timeout=COMMAND_TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    return done.stdout


def read_batch(service: Service, files: list[tuple[str, bytes]]) -> tuple[set[int | None], list[float], int]:
    """Upload as field images and wait; the model versions its documents name, its fields'
    confidences in upload order, and the most attempts any document took."""
    response = service.upload(files, layout="field")
    assert response.status_code == 202, response.get_json()
    batch_id = response.get_json()["id"]
    assert service.wait(batch_id, BATCH_TIMEOUT_S)["status"] == "done"
    with session_scope(service.settings) as session:
        docs = session.scalars(select(Document).where(Document.batch_id == batch_id)).all()
        confidences = session.scalars(select(Field.confidence).join(Document).where(
            Field.batch_id == batch_id).order_by(Document.position)).all()
        return {d.model_version_id for d in docs}, list(confidences), max(d.attempts for d in docs)


def candidate_combination(service: Service, shift: float = BIAS_SHIFT) -> Path:
    """The shipped calibration with its field bias moved by `shift`, in a file of its own."""
    data = json.loads(service.settings.combination_path.read_text())
    data["field"]["bias"] += shift
    path = service.settings.data_dir / f"combination{shift:+}.json"
    path.write_text(json.dumps(data))
    return path


def post(service: Service, path: str) -> dict:
    response = service.client.post(path)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_a_promoted_version_reads_the_next_batches_without_a_restart(service: Service, field_images,  # type: ignore[no-untyped-def]
                                                                      tmp_path: Path) -> None:
    pids = (service.worker.process.pid, sorted(service.worker.pool_pids()))
    try:
        # The shipped files: the document names the readers it was read with, recorded by name.
        shipped_ids, shipped, attempts = read_batch(service, field_images)
        with session_scope(service.settings) as session:
            recorded = session.get(ModelVersion, shipped_ids.pop())
            assert recorded is not None and recorded.status is None and not shipped_ids

        # Two versions registered with the command: copies of the three shipped files (the same
        # readers, loaded from the registry's files), and a candidate whose calibration differs.
        metrics = tmp_path / "metrics.json"
        metrics.write_text(json.dumps({"field_accuracy": {"shipped": 0.9, "candidate": 0.9}}))
        copies = []
        for role, shipped_file in (("digits", service.settings.model_path),
                                   ("strings", service.settings.strings_model_path),
                                   ("combination", service.settings.combination_path)):
            copy = tmp_path / shipped_file.name
            copy.write_bytes(shipped_file.read_bytes())
            copies += [f"--{role}", str(copy)]
        command(service, "register", *copies, "--name", "same-readers")
        out = command(service, "register", "--combination", str(candidate_combination(service)),
                      "--name", "candidate", "--metrics", str(metrics), "--note", "bias moved")
        assert "registered version" in out and "candidate" in out
        listed = service.client.get("/api/models").get_json()
        assert listed["active"] is None
        mine = [m for m in listed["models"] if m["name"] in ("candidate", "same-readers")]  # the
        # database is the session's: other modules' versions (worker.improve's) may be there too
        assert [(m["name"], m["status"]) for m in mine] == [
            ("candidate", "candidate"), ("same-readers", "candidate")]
        candidate, same_id = (m["id"] for m in mine)
        assert mine[0]["metrics"] == json.loads(metrics.read_text())

        assert post(service, f"/api/models/{same_id}/promote")["status"] == "promoted"
        ids, confidences, attempts = read_batch(service, field_images)
        assert ids == {same_id} and attempts == 1
        assert confidences == pytest.approx(shipped, abs=SAME)

        assert post(service, f"/api/models/{candidate}/promote")["status"] == "promoted"
        ids, confidences, attempts = read_batch(service, field_images)
        assert ids == {candidate} and attempts == 1
        assert len(confidences) == len(shipped)
        assert all(c < s - SAME for c, s in zip(confidences, shipped)), (confidences, shipped)

        rolled = service.client.post(f"/api/models/{candidate}/rollback")
        assert rolled.status_code == 409, rolled.get_json()  # the active one: nothing to go back to
        assert post(service, f"/api/models/{same_id}/rollback")["status"] == "promoted"
        listed = service.client.get("/api/models").get_json()
        assert listed["active"] == same_id
        assert {m["id"]: m["status"] for m in listed["models"] if m["id"] in (candidate, same_id)} == {
            candidate: "retired", same_id: "promoted"}
        ids, confidences, attempts = read_batch(service, field_images)
        assert ids == {same_id} and attempts == 1
        assert confidences == pytest.approx(shipped, abs=SAME)
        assert "active: " + str(same_id) in command(service, "list")
    finally:  # the PostgreSQL database is the whole session's: later tests read with the shipped files
        with session_scope(service.settings) as session:
            active = registry.active(session)
            if active is not None:
                registry.retire(session, active.id)
    assert (service.worker.process.poll(), service.worker.process.pid) == (None, pids[0])
    assert sorted(service.worker.pool_pids()) == pids[1]  # the same processes read every batch


def test_a_version_a_worker_cannot_load_is_not_recorded_as_the_reader(service: Service, field_images,  # type: ignore[no-untyped-def]
                                                                     tmp_path: Path) -> None:
    """Its files gone from the data directory: the worker reads with the shipped files, and the
    documents name those, not the version it could not load."""
    shipped_ids, shipped, _ = read_batch(service, field_images)
    with session_scope(service.settings) as session:
        version = registry.register(session, service.settings,
                                    {"combination": candidate_combination(service, 2 * BIAS_SHIFT)},
                                    name="lost files")
        registry.stored_path(service.settings, "combination", version.files["combination"]).unlink()
        registry.promote(session, version.id)
    try:
        ids, confidences, attempts = read_batch(service, field_images)
        assert ids == shipped_ids and attempts == 1
        assert confidences == pytest.approx(shipped, abs=SAME)
        assert "cannot be loaded" in service.worker.log.read_text(errors="replace")
    finally:
        with session_scope(service.settings) as session:
            registry.retire(session, version.id)


def test_the_model_routes_answer_as_described(service: Service) -> None:
    """Answers with versions in them (the OpenAPI test's database has none) keep to web/openapi.py."""
    import jsonschema_rs  # schemathesis's validator

    from web.openapi import spec

    def valid(body: dict, schema: str) -> None:
        jsonschema_rs.Draft202012Validator({"$ref": f"#/components/schemas/{schema}",
                                            "components": spec()["components"]}).validate(body)

    with session_scope(service.settings) as session:
        version = registry.register(session, service.settings, {}, name="described",
                                    metrics={"fields": 10}, note="no files: the shipped ones")
    valid(post(service, f"/api/models/{version.id}/promote"), "ModelVersion")
    body = service.client.get("/api/models").get_json()
    assert body["active"] == version.id
    valid(body, "ModelVersions")
    valid(post(service, f"/api/models/{version.id}/retire"), "ModelVersion")
    for path, status in ((f"/api/models/{version.id}/rollback", 200), ("/api/models/999999/promote", 404),
                         (f"/api/models/{version.id}/rollback", 409)):
        response = service.client.post(path)
        assert response.status_code == status, response.get_json()
        valid(response.get_json(), "ModelVersion" if status == 200 else "Error")
    valid(post(service, f"/api/models/{version.id}/retire"), "ModelVersion")
    with pytest.raises(jsonschema_rs.ValidationError):  # the check can fail
        valid({"id": version.id}, "ModelVersion")
