"""The notebook's figures as files: curves, confusion matrix, sample predictions, worst mistakes."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no screen
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402

CLASS_NAMES = [str(d) for d in range(10)] + ["not"]


def training_curves(history: dict[str, list[float]], path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.plot(history.get(metric, []), label="training (augmented)")
        ax.plot(history.get(f"val_{metric}", []), label="validation (plain + scan-like)")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def confusion_matrix(matrix: np.ndarray, path: Path, title: str) -> None:
    rows, cols = matrix.shape
    fig, ax = plt.subplots(figsize=(1 + 0.7 * cols, 1 + 0.6 * rows))
    sns.heatmap(matrix, annot=True, fmt="d", cmap="Blues", cbar=False, ax=ax,
                xticklabels=CLASS_NAMES[:cols], yticklabels=CLASS_NAMES[:rows],
                norm=matplotlib.colors.LogNorm(vmin=1, vmax=max(2, matrix.max())))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def glyph_grid(images: np.ndarray, labels: np.ndarray, predicted: np.ndarray,
               confidence: np.ndarray, path: Path, title: str, columns: int = 10) -> None:
    """Glyphs with 'true → predicted (confidence)'; mistakes titled in red."""
    count = len(images)
    if count == 0:
        return
    rows = (count + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(1.3 * columns, 1.5 * rows + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, label, guess, conf in zip(axes.flat, images, labels, predicted, confidence):
        ax.imshow(np.squeeze(image), cmap="gray_r", vmin=0, vmax=1)
        colour = "black" if label == guess else "red"
        ax.set_title(f"{CLASS_NAMES[label]}→{CLASS_NAMES[guess]} {conf:.2f}", fontsize=8, color=colour)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def reliability_diagram(before: list[dict[str, float]], after: list[dict[str, float]],
                        path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], "k:", label="perfect")
    for rows, name in ((before, "before scaling"), (after, "after scaling")):
        ax.plot([r["confidence"] for r in rows], [r["accuracy"] for r in rows], "o-", label=name)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0.4, 1.0)
    ax.set_ylim(0.4, 1.0)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
