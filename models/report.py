"""Measuring a model: accuracy, loss, per-class precision/recall, calibration, and the figures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from models import plots
from models.augment import scan_like
from models.calibration import expected_calibration_error, reliability, softmax
from models.mnist import Mnist
from models.negatives import NOT_A_DIGIT, not_a_digit

Classifier = Callable[[np.ndarray], np.ndarray]  # (N, 28, 28, 1) float32 -> (N, C) probabilities
EVAL_SEED = 20261124  # fixed: the scan-like test set is the same for every model compared
NEGATIVE_COUNT = 2000


def predict(classify: Classifier, images: np.ndarray, chunk: int = 1024) -> np.ndarray:
    parts = [classify(images[i : i + chunk]) for i in range(0, len(images), chunk)]
    return np.concatenate(parts).astype(np.float64)


def uncalibrated(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """Undo temperature scaling: log p = z/T + c, so softmax(T·log p) = softmax(z)."""
    return softmax(np.log(np.clip(probabilities, 1e-30, None)) * temperature)


def _summary(probabilities: np.ndarray, labels: np.ndarray, temperature: float) -> dict:
    predicted = probabilities.argmax(axis=1)
    picked = probabilities[np.arange(len(labels)), labels]
    return {
        "count": int(len(labels)),
        "accuracy": float((predicted == labels).mean()),
        "loss": float(-np.log(np.clip(picked, 1e-12, None)).mean()),
        "ece_before_scaling": expected_calibration_error(uncalibrated(probabilities, temperature), labels),
        "ece_after_scaling": expected_calibration_error(probabilities, labels),
    }


def evaluate(classify: Classifier, data: Mnist, temperature: float,
             results_dir: Path | None, pipeline_pages: int = 150) -> dict:
    """All figures for one model; plots go to `results_dir` when given. With `pipeline_pages`,
    also on glyphs the segmentation cuts from synthetic pages written with MNIST's test digits."""
    x_test = (data.x_test.astype(np.float32) / 255.0)[..., None]
    y_test = data.y_test.astype(np.int64)
    plain = predict(classify, x_test)
    rng = np.random.default_rng(EVAL_SEED)
    x_scan = np.stack([scan_like(d, rng) for d in data.x_test])[..., None]
    scanned = predict(classify, x_scan)
    x_neg = np.stack([not_a_digit(data.x_test, rng) for _ in range(NEGATIVE_COUNT)])[..., None]
    negative = predict(classify, x_neg)

    predicted = plain.argmax(axis=1)
    classes = list(range(plain.shape[1]))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_test, predicted, labels=list(range(10)), zero_division=0)
    matrix = confusion_matrix(y_test, predicted, labels=classes)[:10]
    metrics = {
        "temperature": temperature,
        "mnist_test": _summary(plain, y_test, temperature),
        "mnist_test_scan_like": _summary(scanned, y_test, temperature),
        "not_a_digit_rejected": float((negative.argmax(axis=1) == NOT_A_DIGIT).mean())
        if plain.shape[1] > NOT_A_DIGIT else None,
        "per_class": {
            str(d): {"precision": float(precision[d]), "recall": float(recall[d]),
                     "f1": float(f1[d]), "support": int(support[d])} for d in range(10)
        },
        "confusion_matrix": matrix.tolist(),
    }
    if pipeline_pages:
        from models.harvest import harvest

        x_cut, y_cut = harvest(data.x_test, data.y_test, pipeline_pages, EVAL_SEED)
        metrics["mnist_test_pipeline"] = _summary(predict(classify, x_cut[..., None]), y_cut, temperature)
    if results_dir is not None:
        _figures(results_dir, x_test, y_test, plain, matrix, temperature, metrics)
        plots.confusion_matrix(
            confusion_matrix(y_test, scanned.argmax(axis=1), labels=classes)[:10],
            results_dir / "confusion_matrix_scan_like.png", "MNIST test, scan-like glyphs")
    return metrics


def _figures(results_dir: Path, images: np.ndarray, labels: np.ndarray, probabilities: np.ndarray,
             matrix: np.ndarray, temperature: float, metrics: dict) -> None:
    results_dir.mkdir(parents=True, exist_ok=True)
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    accuracy = metrics["mnist_test"]["accuracy"]
    plots.confusion_matrix(matrix, results_dir / "confusion_matrix.png",
                           f"MNIST test: accuracy {accuracy:.2%}")
    plots.glyph_grid(images[:40], labels[:40], predicted[:40], confidence[:40],
                     results_dir / "sample_predictions.png", "Sample predictions (MNIST test)")
    wrong = np.flatnonzero(predicted != labels)
    worst = wrong[np.argsort(-confidence[wrong])][:40]
    plots.glyph_grid(images[worst], labels[worst], predicted[worst], confidence[worst],
                     results_dir / "worst_mistakes.png",
                     f"Most confident mistakes ({len(wrong)} errors in {len(labels)})")
    plots.reliability_diagram(reliability(uncalibrated(probabilities, temperature), labels),
                              reliability(probabilities, labels), results_dir / "reliability.png")


def model_temperature(model: object) -> float:
    """The temperature baked into a shipped model (its `temperature` Rescaling layer), else 1."""
    try:
        return 1.0 / float(model.get_layer("temperature").scale)  # type: ignore[attr-defined]
    except (ValueError, AttributeError):
        return 1.0
