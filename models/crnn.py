"""The string reader's network: a convolutional-recurrent network read with CTC (CRNN).

It reads a whole field (a cheque's amount, an open box) without cutting it into digits: the
convolutions turn the field's image (`reading.lines.line_input`, 32 px high) into one column
of features every 4 pixels, a bidirectional GRU reads them in context, and each frame gets
a probability for every symbol of ALPHABET and for CTC's blank. Separators and dashes are
symbols of their own, so the reader learns to read them as what they are.

This module is for training (it imports Keras); the workers read with
`models.strings_reader.CrnnReader`, on the ONNX file exported by `models.export_onnx`.
"""

from __future__ import annotations

import keras
from keras import layers

from models.strings_reader import (  # shared with the reader; re-exported for training
    ALPHABET,
    DIGIT_COLUMNS,
    NUM_CLASSES,
    READ_BATCH,
    STRIDE,
    batch_of,
    encode,
)
from reading.lines import LINE_HEIGHT

__all__ = ["ALPHABET", "DIGIT_COLUMNS", "NUM_CLASSES", "READ_BATCH", "STRIDE", "batch_of",
           "build_crnn", "encode", "for_inference"]


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
