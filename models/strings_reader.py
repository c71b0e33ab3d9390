"""The CRNN string reader at run time: the shipped `strings.onnx` on ONNX Runtime.

`CrnnReader.read` gives each field's folded CTC probabilities (digits 0-9, then filler: blank
and separators). Importing this module imports neither Keras nor TensorFlow: the network and
its training are in `models.crnn` and `models.train_strings`; a `.keras` file still reads,
through Keras, for training runs that check what they wrote. The alphabet and the frame
stride live here because reading and training must agree on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from models.inference import WEIGHTS, ModelRunner
from reading.lines import LINE_HEIGHT

ALPHABET = "0123456789.,-/="  # class 0 is CTC's blank; class i + 1 is ALPHABET[i]
NUM_CLASSES = len(ALPHABET) + 1
DIGIT_COLUMNS = tuple(range(1, 11))  # the classes of 0-9, for reading.ctc.fold
STRIDE = 4  # input pixels per output frame
READ_BATCH = 32  # fields per call when reading
DEFAULT_STRINGS_PATH = WEIGHTS / "strings.onnx"  # what the workers run (`make export-onnx`)
DEFAULT_STRINGS_KERAS_PATH = WEIGHTS / "strings.keras"  # what `make train-strings` writes


def encode(text: str) -> list[int]:
    """Class ids of a text written in ALPHABET (anything else raises)."""
    return [ALPHABET.index(c) + 1 for c in text]


def batch_of(lines: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Line inputs (32, W_i) padded on the right to one (N, 32, W, 1) batch, and each one's
    frame count W_i / STRIDE."""
    width = max(line.shape[1] for line in lines)
    batch = np.zeros((len(lines), LINE_HEIGHT, width, 1), np.float32)
    for i, line in enumerate(lines):
        batch[i, :, : line.shape[1], 0] = line
    frames = np.array([line.shape[1] // STRIDE for line in lines], np.int32)
    return batch, frames


class CrnnReader:
    """The shipped string reader (ONNX or Keras file), loaded once; thread-safe."""

    name = "crnn"

    def __init__(self, path: Path | str = DEFAULT_STRINGS_PATH, threads: int | None = None) -> None:
        self.path = Path(path)
        self.runner = ModelRunner(self.path, (None, LINE_HEIGHT, None, 1), threads,
                                  "string reader not found (run `make train-strings`, "
                                  "then `make export-onnx`)")
        self.model = self.runner.model  # the Keras model when a Keras file was given, else None
        self.version = self.runner.version
        self.read([np.full((20, 60), 255, np.uint8)])  # warm up once, now

    def read(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """(T, 11) folded CTC probabilities per field image, read READ_BATCH at a time, each
        batch of one width (`reading.lines.same_width_groups`: as each reads alone)."""
        from reading.ctc import fold
        from reading.lines import line_input, same_width_groups

        if not images:
            return []
        lines = [line_input(image) for image in images]
        out: list[np.ndarray | None] = [None] * len(lines)
        for group in same_width_groups([line.shape[1] for line in lines], READ_BATCH):
            x, frames = batch_of([lines[i] for i in group])
            probs = self.runner(x)
            for row, i in enumerate(group):
                out[i] = fold(probs[row, : frames[row]], DIGIT_COLUMNS)
        return [o for o in out if o is not None]
