"""PaddleOCR's PP-OCRv6 text recogniser, run on ONNX Runtime, as a second string reader.

The weights come inside the `rapidocr` wheel from PyPI (Apache-2.0; see the README): nothing
is downloaded. Only the recogniser's ONNX file is used, through `onnxruntime` directly, not
RapidOCR's pipeline. It reads any printed or written text; here its output is restricted to
what a digit field can hold — CTC's blank, the digits and punctuation marks — by dropping the
other classes before decoding (letters and Chinese characters would otherwise take frames
from digits: 84.8% exact on real cheque amounts with the restriction, ~70% without). The
marks are then folded with the blank (`reading.ctc.fold`), so a separator never becomes a
digit.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import math
import os
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from reading.lines import grey, same_width_groups

log = logging.getLogger(__name__)

MODEL_FILE = "PP-OCRv6_rec_small.onnx"
INPUT_HEIGHT = 48  # the recogniser's input height (RapidOCR's rec_img_shape)
MIN_WIDTH = 32
MAX_ASPECT = 25
# Symbols kept besides the blank and the digits: what people write in and around numbers.
MARKS = ".,-/=_~:;'\"*#+()[]|\\!?<>^`$"
BATCH = 16  # fields of one width per ONNX Runtime call
# A field whose unrestricted reading (every class PP-OCR knows) holds at least this many Latin
# letters, and more letters than digits, is words, not a number: forced to digits, "Oslo"
# reads 0510. Measured on 2026-12-06: 60 of 60 boxes holding a word (20 names, three fonts)
# are words so, and 30 of 30 field images of 15 words made of letters shaped like digits; of
# numbers, 5 of ORAND's 460 real amounts (all read at under 0.7 anyway), 6 of the held-out
# writers' 600, and 1 of 932 fields on 80 pages of both styles (seeds 7 and 9).
WORD_LETTERS = 2
# `are_words` reads a field squeezed to this share of its width: the recogniser's cost grows
# with the width (0.06 ms a column of its input on this machine), and telling words needs less
# detail than reading digits. Measured on 2026-12-06: 120 boxes and combs holding words (Hershey
# fonts, print and script) and 623 boxes and combs holding numbers on pages of both styles
# (seeds 7 and 9): all 120 words and none of the numbers told so at full width, at 0.75 and at
# 0.6; at 0.5 one word was missed.
WORDS_SQUEEZE = 0.6
# The last layer is cut to the classes read (`_restricted`); this names that cut in the cached
# file's name: change it when `_wanted` changes. The kept classes' symbols go in the model's
# metadata under KEPT_SYMBOLS, in class order.
RESTRICTION = "blank-digits-marks-latin/1"
KEPT_SYMBOLS = "kept_symbols"


def model_path() -> Path:
    """The ONNX file inside the installed rapidocr package (found without importing it)."""
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the rapidocr package is not installed (pip install rapidocr)")
    path = Path(spec.origin).parent / "models" / MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: PP-OCR's recogniser is missing from the rapidocr wheel")
    return path


def _wanted(symbol: str) -> bool:
    """Whether a class is read (the blank, digits, MARKS) or counted by the words check (Latin
    letters)."""
    if symbol == "<blank>":
        return True
    return len(symbol) == 1 and symbol.isascii() and (symbol.isalnum() or symbol in MARKS)


def restricted_model(path: Path, cache_dir: Path | None = None) -> bytes | str:
    """The recogniser `_restricted` (ONNX bytes), or, given a folder, the file it was written to
    there once: building it imports the `onnx` package (~0.6 s of a worker's start, ~18 MB);
    a worker started later loads the file directly. Named by the source file's SHA-256 and
    RESTRICTION, so another wheel or another cut makes another file. A folder that cannot be
    written leaves the bytes in memory."""
    if cache_dir is None:
        return _restricted(path)
    key = hashlib.sha256(path.read_bytes() + f"{RESTRICTION}|{MARKS}".encode()).hexdigest()[:16]
    cached = Path(cache_dir) / f"{path.stem}.{key}.onnx"
    if cached.is_file():
        return str(cached)
    model = _restricted(path)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=cached.parent, suffix=".part")
        with os.fdopen(handle, "wb") as f:
            f.write(model)
        os.replace(temporary, cached)  # whole or not at all: processes may start together
    except OSError as exc:
        log.warning("%s: PP-OCR's cut recogniser kept in memory only (%s)", cached, exc)
    return model


def _restricted(path: Path) -> bytes:
    """The recogniser's graph with its last layer (120 features to 18,710 classes, then
    softmax) cut to the classes `_wanted`. A softmax over fewer classes, renormalised, is the
    same as the full one cut and renormalised (as `read` did), and the layer was 15-18% of the
    recogniser's time (measured 2026-12-06: 16.6 -> 14.2 ms a 320-column field). The kept
    classes' symbols go in its metadata (KEPT_SYMBOLS). A graph not ending in MatMul, Add,
    Softmax is left whole (its symbols the same way)."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    symbols = {prop.key: prop.value for prop in model.metadata_props}["character"]
    vocabulary = ["<blank>", *symbols.split("\n"), " "]
    made = {output: node for node in graph.node for output in node.output}
    inits = {init.name: init for init in graph.initializer}
    node = made.get(graph.output[0].name)
    chain = []
    while node is not None and len(chain) < 6:
        chain.append(node)
        node = made.get(node.input[0])
    layer = [n for n in chain if n.op_type != "Identity"][:3]
    weight = bias = None
    if [n.op_type for n in layer] == ["Softmax", "Add", "MatMul"]:
        weight, bias = inits.get(layer[2].input[1]), inits.get(layer[1].input[1])
    if weight is None or bias is None or numpy_helper.to_array(bias).shape != (len(vocabulary),):
        log.warning("%s: its graph does not end in a classifier layer over its %d symbols; read "
                    "whole (slower, the same readings)", path, len(vocabulary))
        classes = list(range(len(vocabulary)))
    else:
        classes = [i for i, symbol in enumerate(vocabulary) if _wanted(symbol)]
        weight.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weight)[:, classes], weight.name))
        bias.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(bias)[classes], bias.name))
        del graph.value_info[:]  # shapes inferred for the old width; ONNX Runtime infers them again
        graph.output[0].type.tensor_type.shape.dim[-1].dim_value = len(classes)
    helper.set_model_props(model, {**{p.key: p.value for p in model.metadata_props},
                                        KEPT_SYMBOLS: "\n".join(vocabulary[i] for i in classes)})
    return model.SerializeToString()


class PpOcrReader:
    """Reads field images with PP-OCR; `read` returns each field's folded CTC probabilities."""

    name = "ppocr"

    def __init__(self, path: Path | None = None, threads: int = 1, cache_dir: Path | None = None) -> None:
        import onnxruntime as ort

        self.path = Path(path or model_path())
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        model = restricted_model(self.path, cache_dir)
        try:
            self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - ONNX Runtime's own error types; bytes are made anew
            if not isinstance(model, str):
                raise
            log.warning("%s: unreadable (%s); made again", model, exc)
            Path(model).unlink(missing_ok=True)
            model = restricted_model(self.path, cache_dir)
            self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        vocabulary = self.session.get_modelmeta().custom_metadata_map[KEPT_SYMBOLS].split("\n")
        index = {c: i for i, c in enumerate(vocabulary)}
        self.digits = [index[str(d)] for d in range(10)]
        self._latin = np.array([c.isascii() and c.isalpha() for c in vocabulary])
        self._digit = np.zeros(len(vocabulary), bool)
        self._digit[self.digits] = True
        self.keep = [0, *self.digits, *sorted({index[c] for c in MARKS if c in index})]
        self.version = f"{self.path.name}@{self.path.stat().st_size}"
        self._lock = threading.Lock()

    def _input(self, image: np.ndarray, squeeze: float = 1.0) -> np.ndarray:
        g = grey(image)
        h, w = g.shape
        width = min(max(MIN_WIDTH, int(math.ceil(squeeze * INPUT_HEIGHT * w / max(h, 1)))),
                    MAX_ASPECT * INPUT_HEIGHT)
        interpolation = cv2.INTER_AREA if squeeze < 1 else cv2.INTER_LINEAR
        resized = cv2.resize(g, (width, INPUT_HEIGHT), interpolation=interpolation)
        return resized.astype(np.float32) / 127.5 - 1.0

    def _outputs(self, inputs: list[np.ndarray]) -> Iterator[tuple[int, np.ndarray]]:
        """Each input's index and its (T, classes) probabilities, inputs of one width sharing a
        call (`reading.lines.same_width_groups`: each reads as it reads alone)."""
        for group in same_width_groups([x.shape[1] for x in inputs], BATCH):
            batch = np.stack([inputs[i][None].repeat(3, axis=0) for i in group])
            with self._lock:
                probs = self.session.run(None, {"x": batch})[0]
            yield from zip(group, probs)

    def read(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """(T, 11) folded probabilities per image (digits 0-9, then filler); images of one width
        share a call (`reading.lines.same_width_groups`: each reads as it reads alone)."""
        return self.read_words(images)[0]

    def read_words(self, images: Sequence[np.ndarray]) -> tuple[list[np.ndarray], list[bool]]:
        """`read`, and whether each image holds words rather than a number (WORD_LETTERS): PP-OCR
        knows letters, which its digits-only reading masks out."""
        from reading.ctc import fold

        inputs = [self._input(image) for image in images]
        out: list[np.ndarray | None] = [None] * len(inputs)
        words = [False] * len(inputs)
        kept_digits = list(range(1, 11))  # the digits' columns among `keep`
        for i, probs in self._outputs(inputs):
            kept = probs[:, self.keep]
            out[i] = fold(kept / np.maximum(kept.sum(axis=1, keepdims=True), 1e-30), kept_digits)
            words[i] = self._is_words(probs)
        return [o for o in out if o is not None], words

    def are_words(self, images: Sequence[np.ndarray]) -> list[bool]:
        """Whether each image holds words rather than a number, as `read_words` tells, read
        squeezed (WORDS_SQUEEZE) at about half its cost: for fields no reading is wanted of."""
        inputs = [self._input(image, WORDS_SQUEEZE) for image in images]
        words = [False] * len(inputs)
        for i, probs in self._outputs(inputs):
            words[i] = self._is_words(probs)
        return words

    def _is_words(self, probs: np.ndarray) -> bool:
        """Whether the greedy reading over every class holds WORD_LETTERS Latin letters or more,
        and more letters than digits."""
        best = probs.argmax(axis=1)
        emitted = best[(best != 0) & np.concatenate([[True], best[1:] != best[:-1]])]
        letters = int(self._latin[emitted].sum())
        return letters >= WORD_LETTERS and letters > int(self._digit[emitted].sum())
