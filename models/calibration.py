"""Temperature scaling and calibration error: so that a reported 0.98 is right 98% of the time."""

from __future__ import annotations

import numpy as np

ECE_BINS = 15  # the usual choice (Guo et al., 2017); enough bins to see over-confidence at the top


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits.astype(np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def negative_log_likelihood(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    p = softmax(logits, temperature)[np.arange(len(labels)), labels]
    return float(-np.log(np.clip(p, 1e-12, None)).mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising the NLL of held-out `labels`: a coarse log grid, then refined."""
    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 121))
    losses = [negative_log_likelihood(logits, labels, t) for t in grid]
    best = int(np.argmin(losses))
    low, high = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    for _ in range(40):  # golden-section search inside the bracketing grid cell
        a = high - (high - low) / 1.618
        b = low + (high - low) / 1.618
        if negative_log_likelihood(logits, labels, a) < negative_log_likelihood(logits, labels, b):
            high = b
        else:
            low = a
    return float((low + high) / 2)


def reliability(probabilities: np.ndarray, labels: np.ndarray,
                bins: int = ECE_BINS) -> list[dict[str, float]]:
    """Per-bin confidence, accuracy and count, for the reliability diagram."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    rows = []
    for b in range(bins):
        members = which == b
        if members.any():
            rows.append({"low": float(edges[b]), "high": float(edges[b + 1]),
                         "confidence": float(confidence[members].mean()),
                         "accuracy": float(correct[members].mean()), "count": int(members.sum())})
    return rows


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray,
                               bins: int = ECE_BINS) -> float:
    """Mean |accuracy − confidence| of the top class over equal-width confidence bins, weighted."""
    rows = reliability(probabilities, labels, bins)
    return float(sum(r["count"] * abs(r["accuracy"] - r["confidence"]) for r in rows) / len(labels))
