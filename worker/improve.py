"""Improve from corrections: `python -m worker.improve` (also a Celery task, and POST /api/models/improve).

The string reader (CRNN) is trained further on the fields people reviewed (their crops and the
values they typed or confirmed) mixed with synthetic fields by the training writers, so that it
learns a back office's hands without forgetting the others. Every candidate starts from the
shipped reader and all the corrections there are, so candidates do not drift on each other.
It is then judged against the readers in use now, on:
- reviewed fields held out from its training (one in HELD_OUT_EVERY, by field id);
- a fixed regression set: field images by the test writers, never trained on;
- MNIST's test set, read by the glyph classifier of each (the candidate keeps the one in use).
The candidate is registered with that comparison (core.models_registry) and promoted only if it
is better on the held-out reviewed fields and not worse on the regression set.
PP-OCR's recogniser cannot be trained here (it comes as an ONNX file in its wheel).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core import improve_runs as runs
from core import models_registry as registry
from core.db import session_scope
from core.settings import Settings
from worker.export_corrections import Reviewed, reviewed_fields
from worker.recognition import Reader, reader_of

log = logging.getLogger(__name__)
HELD_OUT_EVERY = 4  # one reviewed field in four is kept out of training, to judge the candidate
# Fewer corrections than this cannot tell a better reader from a worse one (held out: 10).
MIN_TRAINING_FIELDS = 30
MIN_HELD_OUT = 10
# Training mix and schedule, from the trial on ORAND-CAR-A's first 300 fields (2026-12-02): 4000
# synthetic fields and each reviewed field 8 times an epoch, 3 epochs at 2e-4 took the CRNN
# alone from 78.75% to 83.75% on the other 160 in 2 minutes on 2 cores.
SYNTHETIC_FIELDS = 4000
REPEAT = 8
EPOCHS = 3
LEARNING_RATE = 2e-4
REGRESSION_FIELDS = 300
REGRESSION_SEED = 20261206
# The candidate may read the regression set this much worse (3 fields of 300: below what two
# readings of such a set tell apart) and still be promoted.
REGRESSION_TOLERANCE = 0.01
MAX_ERROR = 0.005  # the error allowed among fields accepted straight through
MNIST_TOLERANCE = 0.001  # the bound: MNIST test accuracy at most 0.1 point lower

Progress = Callable[[str], None]


class NotEnough(ValueError):
    """Too few reviewed fields to train and judge a candidate."""


@dataclass(frozen=True)
class Options:
    synthetic: int = SYNTHETIC_FIELDS
    repeat: int = REPEAT
    epochs: int = EPOCHS
    learning_rate: float = LEARNING_RATE
    regression: int = REGRESSION_FIELDS
    min_training: int = MIN_TRAINING_FIELDS
    min_held_out: int = MIN_HELD_OUT
    seed: int = 1
    promote: bool = True  # False: register the candidate only


@dataclass(frozen=True)
class Outcome:
    version_id: int
    promoted: bool
    metrics: dict


def straight_through(right: Sequence[bool], confidence: Sequence[float]) -> tuple[float, float | None]:
    """The largest share of fields accepted at one threshold with at most MAX_ERROR of them
    wrong, and that threshold (None when no threshold keeps the error that low)."""
    order = np.argsort(-np.asarray(confidence, np.float64), kind="stable")
    ok = np.asarray(right, bool)[order]
    conf = np.asarray(confidence, np.float64)[order]
    best, threshold = 0.0, None
    wrong = 0
    for k in range(len(ok)):
        wrong += not ok[k]
        if k + 1 < len(ok) and conf[k + 1] == conf[k]:
            continue  # a threshold accepts every field of one confidence, or none
        if wrong <= MAX_ERROR * (k + 1):
            best, threshold = (k + 1) / len(ok), float(conf[k])
    return best, threshold


def score(reader: Reader, images: Sequence[np.ndarray], truths: Sequence[str]) -> dict:
    """Exact match and straight-through share of `reader` reading each image as one field."""
    read = [reader.read_field(image).fields[0] for image in images]
    right = [f.value == t for f, t in zip(read, truths)]
    share, threshold = straight_through(right, [f.confidence for f in read])
    return {"fields": len(truths), "exact": float(np.mean(right)) if right else 0.0,
            "straight_through": share, "threshold": threshold}


def mnist_accuracy(reader: Reader, mnist_dir: Path | None) -> float:
    from models import mnist

    data = mnist.load(mnist_dir)
    images = data.x_test.astype(np.float32)
    images = images / 255.0 if images.max() > 1.0 else images
    probabilities = reader.recognizer.classify(images).probabilities
    return float((probabilities[:, :10].argmax(1) == data.y_test).mean())


def regression_set(count: int, seed: int, mnist_dir: Path | None) -> tuple[list[np.ndarray], list[str]]:
    """Numbers written by the test writers (never trained on), the same every run."""
    from models import mnist
    from synth.hands import load_writers
    from synth.strings import random_field

    data = mnist.load(mnist_dir)
    hands = load_writers("test", data.x_test, data.y_test).mixture()
    rng = np.random.default_rng(seed)
    fields = [random_field(hands, rng) for _ in range(count)]
    return [f.image for f in fields], [f.value for f in fields]


def split(fields: list[Reviewed]) -> tuple[list[Reviewed], list[Reviewed]]:
    """(training, held out): by field id, so a field stays on its side as corrections grow."""
    held = [f for f in fields if f.field_id % HELD_OUT_EVERY == 0]
    return [f for f in fields if f.field_id % HELD_OUT_EVERY != 0], held


def train_candidate(settings: Settings, training: list[Reviewed], options: Options, folder: Path,
                    progress: Progress) -> Path:
    """The shipped string reader trained further on `training`; returns its ONNX file."""
    from models.export_onnx import export
    from models.strings_reader import DEFAULT_STRINGS_KERAS_PATH
    from models.train_strings import fine_tune, generate
    from reading.lines import line_input

    start = settings.strings_model_path.with_suffix(".keras")
    start = start if start.is_file() else DEFAULT_STRINGS_KERAS_PATH
    progress(f"making {options.synthetic} synthetic fields by the training writers")
    # In this process: forking one that has TensorFlow loaded (a second run) can hang.
    synthetic = generate(options.synthetic, options.seed, "train", 1, settings.mnist_dir)
    fields = [((line_input(f.image) * 255).astype(np.uint8), f.value) for f in training]
    progress(f"training the string reader on {len(fields)} reviewed fields "
             f"(each {options.repeat}× an epoch) and {len(synthetic)} synthetic ones")
    model = fine_tune(start, fields, synthetic, options.epochs, options.repeat,
                      options.learning_rate, seed=options.seed,
                      progress=lambda e, n, loss: progress(f"epoch {e}/{n}: loss {loss:.3f}"))
    keras_path = folder / "strings.keras"
    model.save(keras_path)
    return export(keras_path, folder / "strings.onnx")


def improve(settings: Settings, options: Options = Options(), progress: Progress = log.info) -> Outcome:
    """Train a candidate from the reviewed fields, judge it against the readers in use, register
    it with the comparison, and promote it if it is better."""
    if settings.mnist_dir is None:
        raise NotEnough("MNIST_DIR is needed: MNIST keeps the training mix and the comparison honest")
    started = time.time()
    progress("collecting the reviewed fields")
    training, held = split(reviewed_fields(settings))
    if len(training) < options.min_training or len(held) < options.min_held_out:
        raise NotEnough(f"{len(training)} reviewed fields to train on and {len(held)} held out; "
                        f"at least {options.min_training} and {options.min_held_out} are needed")
    with session_scope(settings) as session:
        active = registry.active_files(session, settings)
    current = reader_of(settings, active)
    with tempfile.TemporaryDirectory(prefix="improve-") as tmp:
        strings = train_candidate(settings, training, options, Path(tmp), progress)
        combination = (active.path("combination") if active else None) or settings.combination_path
        digits = (active.path("digits") if active else None)
        files = {"strings": strings, "combination": Path(combination)}
        if digits:
            files["digits"] = Path(digits)
        candidate = _reader(settings, current, strings, Path(combination))
        progress(f"judging the candidate on {len(held)} held-out reviewed fields, "
                 f"{options.regression} regression fields and MNIST's test set")
        metrics = compare(settings, current, candidate, held, options)
        metrics.update(trained_on=len(training), seconds=round(time.time() - started, 1),
                       readers_before=current.version)
        better = promotable(metrics)
        metrics["decision"] = "promoted" if better and options.promote else (
            "better, not promoted (asked not to)" if better else "refused: not better")
        with session_scope(settings) as session:
            version = registry.register(session, settings, files, note="trained on reviewed fields",
                                        metrics=metrics)
            if better and options.promote:
                registry.promote(session, version.id)
            version_id = version.id
    progress(f"candidate {version_id}: {metrics['decision']}")
    return Outcome(version_id, better and options.promote, metrics)


def _reader(settings: Settings, current: Reader, strings: Path, combination: Path) -> Reader:
    """The candidate's readers: the new string reader, the rest as they are now."""
    from models.strings_reader import CrnnReader
    from worker.recognition import load_calibration

    lines = [CrnnReader(strings) if r.name == "crnn" else r for r in current.lines]
    return Reader(current.recognizer, lines, load_calibration(combination), settings.max_page_pixels)


def compare(settings: Settings, current: Reader, candidate: Reader, held: list[Reviewed],
            options: Options) -> dict:
    images, truths = regression_set(options.regression, REGRESSION_SEED, settings.mnist_dir)
    mnist_now = mnist_accuracy(current, settings.mnist_dir)
    return {
        "held_out": {"current": score(current, [f.image for f in held], [f.value for f in held]),
                     "candidate": score(candidate, [f.image for f in held], [f.value for f in held])},
        "regression": {"current": score(current, images, truths),
                       "candidate": score(candidate, images, truths)},
        "mnist_test": {"current": mnist_now, "candidate": mnist_accuracy(candidate, settings.mnist_dir)},
    }


def promotable(metrics: dict) -> bool:
    """Better on the held-out reviewed fields (exact, ties broken by straight-through share),
    not worse on the regression set beyond REGRESSION_TOLERANCE, MNIST within MNIST_TOLERANCE."""
    held, reg, mnist = metrics["held_out"], metrics["regression"], metrics["mnist_test"]
    key = ("exact", "straight_through")
    gains = tuple(held["candidate"][k] for k in key) > tuple(held["current"][k] for k in key)
    keeps = reg["candidate"]["exact"] >= reg["current"]["exact"] - REGRESSION_TOLERANCE
    return gains and keeps and mnist["candidate"] >= mnist["current"] - MNIST_TOLERANCE


def run_recorded(settings: Settings, options: Options = Options()) -> dict:
    """`improve`, one run at a time (runs.Busy otherwise), its progress and outcome recorded
    for GET /api/models/improve."""
    with runs.exclusive(settings):
        state: dict = {"state": "running", "started_at": time.time(), "log": []}

        def progress(line: str) -> None:
            log.info("improve: %s", line)
            state["log"] = [*state["log"], line][-runs.LOG_LINES:]
            runs.record(settings, state)

        runs.record(settings, state)
        try:
            outcome = improve(settings, options, progress)
        except Exception as exc:  # noqa: BLE001 - recorded for the API, then raised for the log
            state.update(state="failed", error=f"{type(exc).__name__}: {exc}", finished_at=time.time())
            runs.record(settings, state)
            raise
        state.update(state="done", finished_at=time.time(), version=outcome.version_id,
                     promoted=outcome.promoted, metrics=outcome.metrics)
        runs.record(settings, state)
        return state


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worker.improve", description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--synthetic", type=int, default=SYNTHETIC_FIELDS)
    parser.add_argument("--no-promote", action="store_true", help="register the candidate only")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    try:
        done = run_recorded(Settings.from_env(), Options(synthetic=args.synthetic, epochs=args.epochs,
                                                         promote=not args.no_promote))
    except (NotEnough, runs.Busy) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(done["metrics"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
