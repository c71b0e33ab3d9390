"""The networks: a CNN (the default, shipped) and the notebook's MLP, both ending in logits.

The shipped file (`for_inference`) appends the fitted temperature and a softmax, so the model
file's output is already the calibrated probability vector the worker reports.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from segmentation.glyph import GLYPH_SIZE

NUM_CLASSES = 11  # digits 0-9, then "not a digit"


def build_cnn(num_classes: int = NUM_CLASSES) -> keras.Model:
    """~430k parameters; sized for >5,000 glyphs/s on two CPU cores (measured in `make bench`)."""
    inputs = keras.Input((GLYPH_SIZE, GLYPH_SIZE, 1), name="glyphs")
    x = inputs
    for filters, kernel, pool in ((32, 5, True), (64, 3, False), (64, 3, True), (128, 3, True)):
        x = layers.Conv2D(filters, kernel, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        if pool:
            x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Dense(256, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.Dropout(0.4)(x)
    logits = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name="digits_cnn")


def build_mlp(num_classes: int = NUM_CLASSES) -> keras.Model:
    """The original notebook's multilayer perceptron, kept as a baseline."""
    inputs = keras.Input((GLYPH_SIZE, GLYPH_SIZE, 1), name="glyphs")
    x = layers.Flatten()(inputs)
    for units in (512, 256):
        x = layers.Dense(units, activation="relu")(x)
        x = layers.Dropout(0.3)(x)
    logits = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name="digits_mlp")


ARCHITECTURES = {"cnn": build_cnn, "mlp": build_mlp}


def for_inference(trained: keras.Model, temperature: float) -> keras.Model:
    """The shipped model: `trained` with batch norms folded into the layer before them, dropout
    removed, then division by `temperature` and a softmax. Same outputs, fewer operations, and
    a file that holds weights only."""
    inputs = keras.Input(trained.input_shape[1:], name="glyphs")
    x = inputs
    chain = [layer for layer in trained.layers[1:] if not isinstance(layer, layers.Dropout)]
    index = 0
    while index < len(chain):
        layer = chain[index]
        following = chain[index + 1] if index + 1 < len(chain) else None
        config = layer.get_config()
        if isinstance(layer, (layers.Conv2D, layers.Dense)) and isinstance(
            following, layers.BatchNormalization
        ):
            kernel, bias = _folded(layer, following)
            clone = type(layer).from_config({**config, "use_bias": True})
            x = clone(x)
            clone.set_weights([kernel, bias])
            index += 2
            continue
        clone = type(layer).from_config(config)
        x = clone(x)
        clone.set_weights(layer.get_weights())
        index += 1
    scaled = layers.Rescaling(1.0 / temperature, name="temperature")(x)
    probabilities = layers.Softmax(name="probabilities")(scaled)
    return keras.Model(inputs, probabilities, name=trained.name)


def _folded(layer: layers.Layer, norm: layers.BatchNormalization) -> tuple[np.ndarray, np.ndarray]:
    """Kernel and bias of `layer` followed by the (frozen) batch norm `norm`, as one layer."""
    kernel = np.asarray(layer.kernel)
    bias = np.asarray(layer.bias) if layer.use_bias else np.zeros(kernel.shape[-1], np.float32)
    gamma = np.asarray(norm.gamma) if norm.scale else np.ones_like(bias)
    beta = np.asarray(norm.beta) if norm.center else np.zeros_like(bias)
    scale = gamma / np.sqrt(np.asarray(norm.moving_variance) + norm.epsilon)
    return kernel * scale, beta + (bias - np.asarray(norm.moving_mean)) * scale


def logits_of(shipped: keras.Model) -> keras.Model:
    """The shipped model without its temperature and softmax: the starting point to fine-tune."""
    return keras.Model(shipped.input, shipped.get_layer("logits").output, name=shipped.name)
