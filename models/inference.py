"""Classifying glyphs for the worker: the model loaded once per process, batches in one call.

`Recognizer.classify` runs the whole batch in one call (never glyph by glyph) and returns
digits, calibrated confidences and probabilities. The worker's model is the ONNX file
(`digits.onnx`, exported from the Keras file by `models.export_onnx`), run on ONNX Runtime, so
a worker never imports TensorFlow; a `.keras` path (what training writes and evaluation may
pass) runs through Keras, imported only then. Call `limit_threads` before the first use in a
process: a Celery prefork worker runs several processes on few cores, and a thread pool per
core per process makes them fight over the CPU.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segmentation.glyph import GLYPH_SIZE

WEIGHTS = Path(__file__).resolve().parent / "weights"
DEFAULT_MODEL_PATH = WEIGHTS / "digits.onnx"  # what the workers run (`make export-onnx`)
DEFAULT_KERAS_PATH = WEIGHTS / "digits.keras"  # what training writes and fine-tuning starts from
NOT_A_DIGIT = 10
KERAS_SUFFIXES = (".keras", ".h5")  # model files run through Keras; ".onnx" through ONNX Runtime
DEFAULT_THREADS = 1  # ONNX Runtime threads per session (intra- and inter-op) unless told otherwise
_limits: dict[str, int] = {}  # set by `limit_threads`: "intra_op", "inter_op" for models loaded later


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
    """Cap the thread pools of models loaded from now on (ONNX Runtime sessions and TensorFlow)."""
    _limits.update(intra_op=intra_op, inter_op=inter_op)
    if "tensorflow" in sys.modules:  # never import it just for this: ONNX workers go without
        _limit_tensorflow()


def _limit_tensorflow() -> None:
    """Apply `limit_threads`' caps to TensorFlow; must run before TensorFlow executes anything."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(_limits["intra_op"])
        tf.config.threading.set_inter_op_parallelism_threads(_limits["inter_op"])
    except RuntimeError:  # already initialised in this process: keep what it has
        pass


class ModelRunner:
    """A model file that maps a float32 batch to its output: `.onnx` on ONNX Runtime (CPU),
    `.keras` through a compiled TensorFlow function. Safe to call from several threads."""

    def __init__(self, path: Path | str, input_shape: tuple[int | None, ...],
                 threads: int | None = None, missing: str = "model file not found") -> None:
        """`missing`: what FileNotFoundError says when there is no such file (how to make it)."""
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: {missing}")
        self.version = f"{self.path.name}@{file_sha256(self.path)[:12]}"
        self.model = None  # the Keras model, for a Keras file (training and evaluation use it)
        self.session = None  # the ONNX Runtime session, for an ONNX file
        intra_op = threads or _limits.get("intra_op", DEFAULT_THREADS)
        if self.path.suffix == ".onnx":
            self._run, self.output_shape = self._onnx(intra_op)
        elif self.path.suffix in KERAS_SUFFIXES:
            self._run, self.output_shape = self._keras(input_shape)
        else:
            raise ValueError(f"{self.path}: expected a .onnx or .keras model file")

    def _onnx(self, intra_op: int) -> tuple[Callable[[np.ndarray], np.ndarray], tuple]:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op
        options.inter_op_num_threads = _limits.get("inter_op", DEFAULT_THREADS)
        session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        shape = tuple(d if isinstance(d, int) else None for d in session.get_outputs()[0].shape)
        self.session = session
        return (lambda batch: session.run(None, {name: batch})[0]), shape

    def _keras(self, input_shape: tuple[int | None, ...]) -> tuple[Callable[[np.ndarray], np.ndarray], tuple]:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import keras
        import tensorflow as tf

        if _limits:  # the process asked for caps before TensorFlow was imported
            _limit_tensorflow()
        model = self.model = keras.models.load_model(self.path, compile=False)
        predict = tf.function(lambda x: model(x, training=False),
                              input_signature=[tf.TensorSpec(input_shape, tf.float32)],
                              reduce_retracing=True)
        return (lambda batch: predict(batch).numpy()), tuple(model.output_shape)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """The model's output for a float32 batch."""
        return self._run(np.ascontiguousarray(batch, dtype=np.float32))


class Recognizer:
    """A loaded digit model (ONNX or Keras file) with a batch classifier; thread-safe."""

    def __init__(self, path: Path | str = DEFAULT_MODEL_PATH, threads: int | None = None) -> None:
        self.path = Path(path)
        self.runner = ModelRunner(self.path, (None, GLYPH_SIZE, GLYPH_SIZE, 1), threads,
                                  "model file not found (run `make train`, then `make export-onnx`)")
        self.model = self.runner.model  # the Keras model when a Keras file was given, else None
        self.version = self.runner.version
        self.num_classes = int(self.runner.output_shape[-1])
        self.classify(np.zeros((1, GLYPH_SIZE, GLYPH_SIZE), np.float32))  # warm up once, now

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
        probabilities = self.runner(batch)
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
