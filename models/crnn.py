"""The string reader: a convolutional-recurrent network read with CTC (CRNN).

It reads a whole field (a cheque's amount, an open box) without cutting it into digits: the
convolutions turn the field's image (`reading.lines.line_input`, 32 px high) into one column
of features every 4 pixels, a bidirectional GRU reads them in context, and each frame gets
a probability for every symbol of ALPHABET and for CTC's blank. Separators and dashes are
symbols of their own, so the reader learns to read them as what they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
from keras import layers

from reading.lines import LINE_HEIGHT

ALPHABET = "0123456789.,-/="  # class 0 is CTC's blank; class i + 1 is ALPHABET[i]
NUM_CLASSES = len(ALPHABET) + 1
DIGIT_COLUMNS = tuple(range(1, 11))  # the classes of 0-9, for reading.ctc.fold
STRIDE = 4  # input pixels per output frame
READ_BATCH = 32  # fields per call when reading


def encode(text: str) -> list[int]:
    """Class ids of a text written in ALPHABET (anything else raises)."""
    return [ALPHABET.index(c) + 1 for c in text]


def build_crnn(num_classes: int = NUM_CLASSES) -> keras.Model:
    """~1M parameters; ~300 training fields/s and ~1 ms a field to read on two CPU cores."""
    inputs = keras.Input((LINE_HEIGHT, None, 1), name="line")
    x = inputs
    for filters, pool, double in ((32, (2, 2), False), (64, (2, 2), False), (96, (2, 1), True),
                                  (128, (2, 1), True), (160, (2, 1), True)):
        for _ in range(2 if double else 1):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            x = layers.ReLU()(x)
        x = layers.MaxPooling2D(pool)(x)
    x = layers.Reshape((-1, 160))(x)  # height is 1 now: one feature column per frame
    x = layers.Dropout(0.2)(x)
    x = layers.Bidirectional(layers.GRU(128, return_sequences=True), name="context")(x)
    x = layers.Dropout(0.2)(x)
    logits = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name="strings_crnn")


def for_inference(trained: keras.Model) -> keras.Model:
    """The shipped model: the trained network with a softmax over its logits."""
    probabilities = layers.Softmax(name="probabilities")(trained.output)
    return keras.Model(trained.input, probabilities, name=trained.name)


def batch_of(lines: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Line inputs (32, W_i) padded on the right to one (N, 32, W, 1) batch, and each one's
    frame count W_i / STRIDE."""
    width = max(line.shape[1] for line in lines)
    batch = np.zeros((len(lines), LINE_HEIGHT, width, 1), np.float32)
    for i, line in enumerate(lines):
        batch[i, :, : line.shape[1], 0] = line
    frames = np.array([line.shape[1] // STRIDE for line in lines], np.int32)
    return batch, frames


DEFAULT_STRINGS_PATH = Path(__file__).resolve().parent / "weights" / "strings.keras"


class CrnnReader:
    """The shipped string reader, loaded once; `read` gives each field's folded CTC
    probabilities (digits 0-9, then filler: blank and separators)."""

    name = "crnn"

    def __init__(self, path: Path | str = DEFAULT_STRINGS_PATH) -> None:
        import tensorflow as tf

        from models.inference import file_sha256

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: string reader not found (run `make train-strings`)")
        self.model = keras.models.load_model(self.path, compile=False)
        self.version = f"{self.path.name}@{file_sha256(self.path)[:12]}"
        self._predict = tf.function(
            lambda x: self.model(x, training=False),
            input_signature=[tf.TensorSpec((None, LINE_HEIGHT, None, 1), tf.float32)],
            reduce_retracing=True)
        self.read([np.full((20, 60), 255, np.uint8)])  # trace once, now

    def read(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        from reading.ctc import fold
        from reading.lines import line_input

        if not images:
            return []
        lines = [line_input(image) for image in images]
        out: list[np.ndarray | None] = [None] * len(lines)
        order = sorted(range(len(lines)), key=lambda i: lines[i].shape[1])
        for start in range(0, len(order), READ_BATCH):
            group = order[start : start + READ_BATCH]
            x, frames = batch_of([lines[i] for i in group])
            probs = self._predict(x).numpy()
            for row, i in enumerate(group):
                out[i] = fold(probs[row, : frames[row]], DIGIT_COLUMNS)
        return [o for o in out if o is not None]

