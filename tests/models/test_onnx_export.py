"""The workers' ONNX files: the same probabilities as the Keras files they were exported from,
the export command on freshly built networks, and worker-side imports free of TensorFlow."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from models.inference import DEFAULT_KERAS_PATH, DEFAULT_MODEL_PATH, Recognizer, file_sha256
from models.strings_reader import (
    DEFAULT_STRINGS_KERAS_PATH,
    DEFAULT_STRINGS_PATH,
    CrnnReader,
    batch_of,
)

ROOT = Path(__file__).resolve().parents[2]
TOLERANCE = 1e-4  # max abs difference between the two runtimes' probabilities
GLYPHS = 300  # MNIST test glyphs compared
LINE_WIDTHS = (32, 64, 120, 200, 332, 512)  # px, multiples of 4 as line_input makes them


def onnx_source(path: Path) -> str:
    """The "source" metadata of an ONNX file: the Keras file's name and sha256."""
    import onnx

    return {p.key: p.value for p in onnx.load(path, load_external_data=False).metadata_props}["source"]


@pytest.fixture(scope="module")
def digit_models() -> tuple[Recognizer, Recognizer]:
    return Recognizer(DEFAULT_MODEL_PATH), Recognizer(DEFAULT_KERAS_PATH)


@pytest.fixture(scope="module")
def string_models() -> tuple[CrnnReader, CrnnReader]:
    return CrnnReader(DEFAULT_STRINGS_PATH), CrnnReader(DEFAULT_STRINGS_KERAS_PATH)


def test_the_shipped_onnx_files_come_from_the_shipped_keras_files() -> None:
    for onnx_path, keras_path in ((DEFAULT_MODEL_PATH, DEFAULT_KERAS_PATH),
                                  (DEFAULT_STRINGS_PATH, DEFAULT_STRINGS_KERAS_PATH)):
        assert onnx_source(onnx_path) == f"{keras_path.name}@{file_sha256(keras_path)}", onnx_path


def test_digits_onnx_gives_the_keras_probabilities(digit_models, mnist) -> None:  # type: ignore[no-untyped-def]
    onnx_model, keras_model = digit_models
    assert onnx_model.version.startswith("digits.onnx@") and onnx_model.model is None
    rng = np.random.default_rng(5)
    glyphs = np.concatenate([mnist.x_test[:GLYPHS].astype(np.float32) / 255.0,
                             rng.random((20, 28, 28), np.float32),  # junk: "not a digit" side
                             np.zeros((1, 28, 28), np.float32)])
    ours, theirs = onnx_model.classify(glyphs), keras_model.classify(glyphs)
    assert ours.probabilities.shape == theirs.probabilities.shape == (len(glyphs), 11)
    assert np.abs(ours.probabilities - theirs.probabilities).max() < TOLERANCE
    assert np.array_equal(ours.probabilities.argmax(axis=1), theirs.probabilities.argmax(axis=1))
    assert np.array_equal(ours.digits, theirs.digits)
    assert (ours.digits[:GLYPHS] == mnist.y_test[:GLYPHS]).mean() >= 0.98
    one = onnx_model.classify(glyphs[7:8])  # a batch of one: same as within a batch
    assert np.allclose(one.probabilities[0], ours.probabilities[7], atol=1e-6)


def test_digits_onnx_is_thread_safe(digit_models, mnist) -> None:  # type: ignore[no-untyped-def]
    onnx_model, _ = digit_models
    batches = [mnist.x_test[i * 16 : (i + 1) * 16].astype(np.float32) / 255.0 for i in range(16)]
    alone = [onnx_model.classify(b).probabilities for b in batches]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda b: onnx_model.classify(b).probabilities, batches))
    assert all(np.allclose(a, t, atol=1e-6) for a, t in zip(alone, together))


def test_strings_onnx_gives_the_keras_probabilities_at_several_widths(string_models) -> None:  # type: ignore[no-untyped-def]
    onnx_reader, keras_reader = string_models
    rng = np.random.default_rng(6)
    lines = [(rng.random((32, w)) < 0.2).astype(np.float32) for w in LINE_WIDTHS]
    x, frames = batch_of(lines)  # one padded batch, widths 32 to 512
    ours, theirs = onnx_reader.runner(x), keras_reader.runner(x)
    assert ours.shape == theirs.shape == (len(lines), max(LINE_WIDTHS) // 4, 16)
    assert np.abs(ours - theirs).max() < TOLERANCE
    assert np.array_equal(ours.argmax(axis=-1), theirs.argmax(axis=-1))


def test_crnn_reader_reads_the_same_on_both_runtimes(string_models, mnist) -> None:  # type: ignore[no-untyped-def]
    onnx_reader, keras_reader = string_models
    assert onnx_reader.version.startswith("strings.onnx@") and onnx_reader.model is None
    rng = np.random.default_rng(7)
    fields = []  # MNIST test digits side by side, dark ink on light paper, 1 to 9 digits long
    for count in (1, 2, 3, 4, 5, 6, 7, 8, 9) * 3:
        picks = rng.integers(0, len(mnist.x_test), count)
        ink = np.concatenate([mnist.x_test[i] for i in picks], axis=1)
        fields.append(np.pad(255 - ink, 6, constant_values=255).astype(np.uint8))
    ours, theirs = onnx_reader.read(fields), keras_reader.read(fields)
    assert [o.shape for o in ours] == [t.shape for t in theirs]
    assert max(np.abs(o - t).max() for o, t in zip(ours, theirs)) < TOLERANCE
    assert all(np.array_equal(o.argmax(axis=1), t.argmax(axis=1)) for o, t in zip(ours, theirs))


def _randomise(model) -> None:  # type: ignore[no-untyped-def]
    """Biases, batch-norm statistics and scales set off their initial zeros and ones, so the
    export's handling of each shows."""
    rng = np.random.default_rng(8)
    for weight in model.weights:
        name = weight.path
        if "moving_variance" in name:
            weight.assign(rng.uniform(0.5, 2.0, weight.shape).astype(np.float32))
        elif any(k in name for k in ("bias", "gamma", "beta", "moving_mean")):
            weight.assign(rng.normal(0.0, 0.2, weight.shape).astype(np.float32) + ("gamma" in name))


def test_the_export_command_on_freshly_built_networks(tmp_path: Path) -> None:
    import onnxruntime as ort

    from models import crnn, export_onnx, network

    cnn = network.build_cnn()
    _randomise(cnn)
    digits = network.for_inference(cnn, temperature=1.7)
    strings = crnn.build_crnn()
    _randomise(strings)
    strings = crnn.for_inference(strings)
    digits.save(tmp_path / "digits.keras")
    strings.save(tmp_path / "strings.keras")
    strings.save(tmp_path / "strings_pages.keras")  # the page fields' CRNN: the same network
    written = export_onnx.main(["--weights-dir", str(tmp_path)])
    assert written == [tmp_path / "digits.onnx", tmp_path / "strings.onnx", tmp_path / "strings_pages.onnx"]

    rng = np.random.default_rng(9)
    cases = ((digits, rng.random((40, 28, 28, 1), np.float32)),
             (strings, rng.random((5, 32, 84, 1), np.float32)),
             (strings, rng.random((2, 32, 16, 1), np.float32)))
    for model, x in cases:
        path = tmp_path / f"{'digits' if model is digits else 'strings'}.onnx"
        assert onnx_source(path) == f"{path.stem}.keras@{file_sha256(path.with_suffix('.keras'))}"
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        assert [i.name for i in session.get_inputs()] == ["glyphs" if model is digits else "line"]
        assert [o.name for o in session.get_outputs()] == model.output_names == ["probabilities"]
        ours = session.run(None, {session.get_inputs()[0].name: x})[0]
        theirs = np.asarray(model(x, training=False))
        assert ours.shape == theirs.shape
        assert np.abs(ours - theirs).max() < TOLERANCE
        assert np.array_equal(ours.argmax(axis=-1), theirs.argmax(axis=-1))


def test_layers_it_cannot_convert_are_refused() -> None:
    import keras

    from models.export_onnx import build_onnx

    inputs = keras.Input((32, None, 1))
    x = keras.layers.Conv2D(8, 3, strides=2)(inputs)
    with pytest.raises(NotImplementedError, match="stride"):
        build_onnx(keras.Model(inputs, x))
    x = keras.layers.Reshape((-1, 8))(keras.layers.Conv2D(8, 3, padding="same")(inputs))
    with pytest.raises(NotImplementedError, match="LSTM"):
        build_onnx(keras.Model(inputs, keras.layers.LSTM(4)(x)))


WORKER_IMPORTS = """
import sys
import numpy as np
from models.inference import Recognizer, limit_threads
from models.strings_reader import CrnnReader
limit_threads(1, 1)
recognizer, reader = Recognizer(), CrnnReader()
assert recognizer.classify(np.zeros((3, 28, 28), np.float32)).probabilities.shape == (3, 11)
assert reader.read([np.full((30, 90), 255, np.uint8)])[0].shape[1] == 11
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
print(repr(loaded))
"""


def test_a_worker_reads_without_importing_tensorflow_or_keras() -> None:
    done = subprocess.run([sys.executable, "-c", WORKER_IMPORTS], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout
