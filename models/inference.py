"""Classifying glyphs for the worker: the model loaded once per process, batches in one call.

`Recognizer.classify` runs a compiled TensorFlow function over the whole batch (never
`model.predict` glyph by glyph) and returns digits, calibrated confidences and probabilities.
Call `limit_threads` before the first use in a process: a Celery prefork worker runs several
processes on few cores, and TensorFlow's default of one thread pool per core per process makes
them fight over the CPU.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segmentation.glyph import GLYPH_SIZE

DEFAULT_MODEL_PATH = Path(__file__).resolve().parent / "weights" / "digits.keras"
NOT_A_DIGIT = 10


@dataclass(frozen=True)
class Predictions:
    """Per glyph: best digit 0-9, its calibrated probability, and the full probability vector."""

    digits: np.ndarray  # (N,) int64
    confidence: np.ndarray  # (N,) float32: P(digit is right), calibrated
    not_a_digit: np.ndarray  # (N,) float32: P("not a digit"), 0 if the model has no such output
    probabilities: np.ndarray  # (N, C) float32

    def __len__(self) -> int:
        return len(self.digits)


def limit_threads(intra_op: int = 1, inter_op: int = 1) -> None:
    """Cap TensorFlow's thread pools; must run before TensorFlow executes anything."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(intra_op)
        tf.config.threading.set_inter_op_parallelism_threads(inter_op)
    except RuntimeError:  # already initialised in this process: keep what it has
        pass


class Recognizer:
    """A loaded digit model with a compiled batch classifier."""

    def __init__(self, path: Path | str = DEFAULT_MODEL_PATH) -> None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import keras
        import tensorflow as tf

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: model file not found (run `make train`)")
        self.model = keras.models.load_model(self.path, compile=False)
        self.version = f"{self.path.name}@{file_sha256(self.path)[:12]}"
        self.num_classes = int(self.model.output_shape[-1])
        self._predict = tf.function(
            lambda x: self.model(x, training=False),
            input_signature=[tf.TensorSpec((None, GLYPH_SIZE, GLYPH_SIZE, 1), tf.float32)],
            reduce_retracing=True,
        )
        self.classify(np.zeros((1, GLYPH_SIZE, GLYPH_SIZE), np.float32))  # trace once, now

    def classify(self, glyphs: np.ndarray) -> Predictions:
        """Classify (N, 28, 28) or (N, 28, 28, 1) glyphs in [0, 1], ink = 1, in one call."""
        batch = np.asarray(glyphs, dtype=np.float32)
        if batch.ndim == 3:
            batch = batch[..., None]
        if batch.ndim != 4 or batch.shape[1:] != (GLYPH_SIZE, GLYPH_SIZE, 1):
            raise ValueError(f"glyphs must be (N, 28, 28[, 1]), got {np.shape(glyphs)}")
        if len(batch) == 0:
            empty = np.zeros(0, np.float32)
            return Predictions(np.zeros(0, np.int64), empty, empty,
                               np.zeros((0, self.num_classes), np.float32))
        probabilities = self._predict(batch).numpy()
        digits = probabilities[:, :10].argmax(axis=1)
        confidence = probabilities[np.arange(len(digits)), digits]
        not_a_digit = (probabilities[:, NOT_A_DIGIT] if self.num_classes > NOT_A_DIGIT
                       else np.zeros(len(digits), np.float32))
        return Predictions(digits, confidence, not_a_digit, probabilities)

    __call__ = classify


_loaded: dict[Path, Recognizer] = {}
_lock = threading.Lock()


def get_recognizer(path: Path | str | None = None) -> Recognizer:
    """This process's recogniser for `path`, loaded on first use and kept."""
    key = Path(path or os.environ.get("MODEL_PATH") or DEFAULT_MODEL_PATH).resolve()
    with _lock:
        if key not in _loaded:
            _loaded[key] = Recognizer(key)
        return _loaded[key]


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read a MiB at a time (model versions are named by it)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
