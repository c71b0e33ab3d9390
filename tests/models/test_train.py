"""A training run on a small slice, one epoch: every output is written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models import train
from models.calibration import expected_calibration_error, fit_temperature, softmax
from models.inference import DEFAULT_KERAS_PATH

# The shipped classifier's MNIST test accuracy may not fall under this. It was 99.69% until
# the classifier was fine-tuned on other writers' digits (issue 12: UNIPEN test writers
# 98.23 -> 99.06%, optdigits' other writers 97.33 -> 99.33%), which cost MNIST 0.18 point
# (99.51%). Interpolating the weights of the two (WiSE-FT, 2026-12-02) gave no model with
# both: at 0.9 of the new one, MNIST +0.06 point and optdigits -0.05. A trade-off chosen for
# the users' paper, recorded here, not a loosened target: any further fall fails.
MNIST_TEST_FLOOR = 0.995


@pytest.mark.slow
def test_training_smoke_run(tmp_path: Path, mnist_dir: Path | None, mnist) -> None:  # type: ignore[no-untyped-def]
    source = ["--mnist-dir", str(mnist_dir)] if mnist_dir else []
    output = tmp_path / "model.keras"
    results = tmp_path / "results"
    metrics = train.main(["--epochs", "1", "--limit", "1500", "--pipeline-pages", "6", "--test-limit", "2000",
                          "--batch-size", "64", *source,
                          "--output", str(output), "--results-dir", str(results)])
    assert output.exists() and output.with_suffix(".json").exists()
    saved = json.loads(output.with_suffix(".json").read_text())
    assert saved["training"]["epochs"] == 1 and saved["training"]["train_digits"] == 1500
    for name in ("training_curves.png", "confusion_matrix.png", "sample_predictions.png",
                 "worst_mistakes.png", "reliability.png", "metrics.json"):
        assert (results / name).stat().st_size > 1000, name
    assert 0.0 <= metrics["mnist_test"]["accuracy"] <= 1.0 and metrics["mnist_test"]["count"] == 2000
    assert metrics["temperature"] > 0
    mlp = train.main(["--arch", "mlp", "--epochs", "1", "--limit", "500", "--pipeline-pages", "0",
                      "--test-limit", "1000", *source, "--output", str(tmp_path / "mlp.keras"),
                      "--results-dir", str(tmp_path / "mlp")])
    assert mlp["training"]["arch"] == "mlp"


def test_temperature_scaling_recovers_a_known_temperature() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (20000, 10))
    labels = np.array([rng.choice(10, p=p) for p in softmax(logits / 2.5)])
    assert abs(fit_temperature(logits, labels) - 2.5) < 0.15
    before = expected_calibration_error(softmax(logits), labels)
    after = expected_calibration_error(softmax(logits, 2.5), labels)
    assert after < 0.02 < before


@pytest.mark.slow
def test_evaluate_command(tmp_path: Path, mnist_dir: Path | None, mnist, capsys) -> None:  # type: ignore[no-untyped-def]
    from models import evaluate

    source = ["--mnist-dir", str(mnist_dir)] if mnist_dir else []
    metrics = evaluate.main(["--json", "--pipeline-pages", "0", "--results-dir", str(tmp_path), *source])
    printed = json.loads(capsys.readouterr().out)
    accuracy = printed["mnist_test"]["accuracy"]
    assert accuracy == metrics["mnist_test"]["accuracy"] >= MNIST_TEST_FLOOR
    shipped = json.loads(DEFAULT_KERAS_PATH.with_suffix(".json").read_text())  # the model's card
    assert accuracy == pytest.approx(shipped["mnist_test"]["accuracy"], abs=0.0005)
    assert printed["mnist_test"]["ece_after_scaling"] <= 0.01
    assert set(printed["per_class"]) == {str(d) for d in range(10)}
    assert len(printed["confusion_matrix"]) == 10
    for name in ("confusion_matrix.png", "sample_predictions.png", "worst_mistakes.png", "reliability.png"):
        assert (tmp_path / name).exists()
