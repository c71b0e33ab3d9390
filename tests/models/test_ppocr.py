"""PP-OCR's recogniser (from the rapidocr wheel) as a line reader: digits only, marks read past."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.ppocr import WORDS_SQUEEZE
from reading import ctc


@pytest.fixture(scope="module")
def ppocr():  # type: ignore[no-untyped-def]
    from models.ppocr import PpOcrReader

    return PpOcrReader()


def _printed(text: str, height: int = 48) -> np.ndarray:
    image = np.full((height, 40 + 28 * len(text)), 255, np.uint8)
    cv2.putText(image, text, (12, int(height * 0.75)), cv2.FONT_HERSHEY_SIMPLEX, height / 40, 30, 2,
                cv2.LINE_AA)
    return image


def test_the_weights_come_from_the_installed_wheel(ppocr) -> None:  # type: ignore[no-untyped-def]
    assert ppocr.path.name == "PP-OCRv6_rec_small.onnx" and "site-packages" in str(ppocr.path)
    assert ppocr.version.startswith("PP-OCRv6_rec_small.onnx@")


def test_printed_numbers_are_read_and_separators_left_out(ppocr) -> None:  # type: ignore[no-untyped-def]
    texts = ["12345", "25.574.-", "7,500", "908=", "31/-"]
    folded = ppocr.read([_printed(t) for t in texts])
    assert [f.shape[1] for f in folded] == [11] * len(texts)
    assert [ctc.best_path(f) for f in folded] == ["12345", "25574", "7500", "908", "31"]


def test_letters_are_never_read_as_digits_by_force(ppocr) -> None:  # type: ignore[no-untyped-def]
    # "Total" holds no digit-like letters: the restricted reading keeps it (nearly) empty
    value = ctc.best_path(ppocr.read([_printed("Total")])[0])
    assert len(value) <= 1


def test_words_are_told_from_numbers(ppocr) -> None:  # type: ignore[no-untyped-def]
    script = np.full((60, 220), 255, np.uint8)
    cv2.putText(script, "Oslo", (20, 45), cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, 1.4, 30, 2, cv2.LINE_AA)
    images = [_printed("Smith"), script, _printed("12345"), _printed("25.574.-"), _printed("7")]
    folded, words = ppocr.read_words(images)
    assert words == [True, True, False, False, False]
    assert all(np.array_equal(a, b) for a, b in zip(folded, ppocr.read(images)))
    # told as well from a squeezed reading, which costs less: its input is narrower
    assert ppocr.are_words(images) == words
    assert ppocr._input(script, WORDS_SQUEEZE).shape[1] < ppocr._input(script).shape[1]


def test_a_batch_reads_as_each_field_alone(ppocr) -> None:  # type: ignore[no-untyped-def]
    # fields of other widths beside it (a page's other boxes) change nothing of a field's reading:
    # not its best path, not its probabilities (padded to the widest, they did change)
    images = [_printed("4"), _printed("906512"), _printed("33", 60), _printed("4")]
    together = ppocr.read(images)
    alone = [ppocr.read([image])[0] for image in images]
    assert [ctc.best_path(f) for f in together] == [ctc.best_path(f) for f in alone] \
        == ["4", "906512", "33", "4"]
    assert all(t.shape == a.shape and np.allclose(t, a, atol=1e-5) for t, a in zip(together, alone))


def test_the_last_layer_cut_to_the_wanted_classes_reads_as_the_whole_one(ppocr) -> None:  # type: ignore[no-untyped-def]
    # the shipped graph's 18,710 classes, read whole, cut to the digits and marks and
    # renormalised (what the reader did before its last layer was cut): the same probabilities
    import onnxruntime as ort

    from models.ppocr import MARKS, model_path

    whole = ort.InferenceSession(str(model_path()), providers=["CPUExecutionProvider"])
    symbols = whole.get_modelmeta().custom_metadata_map["character"].split("\n")
    vocabulary = ["<blank>", *symbols, " "]
    kept = [0, *(vocabulary.index(str(d)) for d in range(10)),
            *sorted({vocabulary.index(c) for c in MARKS if c in vocabulary})]
    assert len(ppocr._latin) < 100 < len(vocabulary)  # the layer was cut
    for text in ("7,500", "31/-", "Smith"):
        x = ppocr._input(_printed(text))
        probs = whole.run(None, {"x": x[None, None].repeat(3, axis=1)})[0][0][:, kept]
        expected = ctc.fold(probs / probs.sum(axis=1, keepdims=True), list(range(1, 11)))
        np.testing.assert_allclose(ppocr.read([_printed(text)])[0], expected, atol=5e-5)


def test_a_graph_without_that_last_layer_is_read_whole(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    # a recogniser of another shape (its output straight from a softmax over its input, here)
    # keeps every class, with a warning, instead of failing to load
    import onnx
    from onnx import TensorProto, helper

    from models.ppocr import KEPT_SYMBOLS, _restricted

    classes = 13  # blank, 0-9, "x", " "
    graph = helper.make_graph([helper.make_node("Softmax", ["x"], ["probs"], axis=-1)], "plain",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, classes])],
                              [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, 4, classes])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    helper.set_model_props(model, {"character": "\n".join([*"0123456789", "x"])})
    path = tmp_path / "plain.onnx"
    onnx.save(model, path)
    read = onnx.load_from_string(_restricted(path))
    assert read.graph.output[0].type.tensor_type.shape.dim[-1].dim_value == classes
    kept = {p.key: p.value for p in read.metadata_props}[KEPT_SYMBOLS].split("\n")
    assert len(kept) == classes and kept[:2] == ["<blank>", "0"]
    assert "read whole" in caplog.text


def test_the_cut_recogniser_is_made_once_and_then_loaded_without_onnx(tmp_path, ppocr) -> None:  # type: ignore[no-untyped-def]
    # a worker's start: the first one writes the cut graph into the cache folder; the next
    # loads that file, without importing the onnx package (~0.6 s), and reads alike
    import subprocess
    import sys

    from models.ppocr import PpOcrReader

    first = PpOcrReader(cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.onnx"))) == 1 and not list(tmp_path.glob("*.part"))
    image = _printed("7,500")
    np.testing.assert_array_equal(first.read([image])[0], ppocr.read([image])[0])
    started = ("import sys; from models.ppocr import PpOcrReader; "
               f"r = PpOcrReader(cache_dir={str(tmp_path)!r}); print(len(r._latin), 'onnx' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", started], capture_output=True, text=True, timeout=120,
                         check=True).stdout.split()
    assert out == [str(len(ppocr._latin)), "False"]
    # a cached file damaged since is made again
    cached = next(tmp_path.glob("*.onnx"))
    cached.write_bytes(cached.read_bytes()[:1000])
    again = PpOcrReader(cache_dir=tmp_path)
    np.testing.assert_array_equal(again.read([image])[0], ppocr.read([image])[0])
    assert cached.stat().st_size > 1_000_000
