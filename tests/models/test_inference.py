"""The shipped recogniser: accuracy on a slice of MNIST's test set, rejection of junk, and the
inference API's shapes, ranges and batch-of-one behaviour."""

from __future__ import annotations

import time

import numpy as np
import pytest

from models.inference import (
    DEFAULT_KERAS_PATH,
    DEFAULT_MODEL_PATH,
    NOT_A_DIGIT,
    Recognizer,
    get_recognizer,
)

SLICE = 2000


@pytest.fixture(scope="module")
def shipped() -> Recognizer:
    return get_recognizer()


def test_the_model_file_follows_the_contract(shipped: Recognizer) -> None:
    import keras

    assert DEFAULT_MODEL_PATH.suffix == ".onnx" and shipped.version.startswith("digits.onnx@")
    for path in (DEFAULT_MODEL_PATH, DEFAULT_KERAS_PATH):
        assert path.stat().st_size < 5 * 1024 * 1024
    model = keras.models.load_model(DEFAULT_KERAS_PATH, compile=False)
    assert model.input_shape == (None, 28, 28, 1)
    assert model.output_shape == (None, 11)
    out = model(np.zeros((2, 28, 28, 1), np.float32)).numpy()
    assert np.allclose(out.sum(axis=1), 1.0, atol=1e-5)  # a softmax


def test_accuracy_on_a_slice_of_the_test_set(shipped: Recognizer, mnist) -> None:  # type: ignore[no-untyped-def]
    images = mnist.x_test[-SLICE:].astype(np.float32) / 255.0
    predictions = shipped.classify(images)
    accuracy = float((predictions.digits == mnist.y_test[-SLICE:]).mean())
    assert accuracy >= 0.99, accuracy


def test_blank_and_noise_are_not_read_as_confident_digits(shipped: Recognizer) -> None:
    rng = np.random.default_rng(0)
    junk = np.stack([np.zeros((28, 28)), np.ones((28, 28)),
                     *rng.random((8, 28, 28)),
                     *(rng.random((8, 28, 28)) < 0.1)]).astype(np.float32)
    predictions = shipped.classify(junk)
    not_digit = predictions.probabilities.argmax(axis=1) == NOT_A_DIGIT
    low = predictions.confidence < 0.5
    assert np.all(not_digit | low), list(zip(predictions.digits, predictions.confidence))


def test_shapes_ranges_and_a_batch_of_one(shipped: Recognizer, mnist) -> None:  # type: ignore[no-untyped-def]
    batch = mnist.x_test[:5].astype(np.float32) / 255.0
    many = shipped.classify(batch)
    assert many.digits.shape == (5,) and many.probabilities.shape == (5, 11)
    assert np.all((0 <= many.confidence) & (many.confidence <= 1))
    assert np.allclose(many.probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert np.allclose(many.confidence, many.probabilities[np.arange(5), many.digits])
    one = shipped.classify(batch[2:3])
    assert one.digits[0] == many.digits[2]
    assert np.allclose(one.probabilities[0], many.probabilities[2], atol=1e-5)
    with_channel = shipped.classify(batch[..., None])
    assert np.array_equal(with_channel.digits, many.digits)
    assert len(shipped.classify(np.zeros((0, 28, 28), np.float32))) == 0
    with pytest.raises(ValueError, match="28, 28"):
        shipped.classify(np.zeros((2, 32, 32), np.float32))


def test_loaded_once_per_process() -> None:
    assert get_recognizer() is get_recognizer()
    started = time.perf_counter()
    Recognizer(DEFAULT_MODEL_PATH)
    assert time.perf_counter() - started < 10  # generous here; `make bench` reports the figure
