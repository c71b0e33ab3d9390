"""Train the string reader (CRNN + CTC): `python -m models.train_strings [...]`.

Its training fields are synthetic (`synth.strings`): numbers written by MNIST's training
digits, UNIPEN's training writers and optdigits' training writers, redrawn with many pens,
slants and sizes, on plain and security-printed paper. It is validated on fields written by
hands it never trains on (MNIST's test digits, UNIPEN's calibration writers, optdigits'
validation digits; the test writers are kept for `make eval-real`). With `--pages`, it also
trains on what the line readers read of the combs and open boxes of synthetic pages, cut by
the service's segmentation (`models.harvest.harvest_lines`: dividers and box lines erased,
as in service). No real cheque image is ever used here.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from models.crnn import DIGIT_COLUMNS, NUM_CLASSES, STRIDE, batch_of, encode
from reading import ctc
from reading.lines import line_input
from synth import PoolWriters

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = PROJECT_ROOT / "models" / "weights" / "strings.keras"
WIDTH_BUCKET = 64  # fields of similar width are batched together (less padding to read)
# With --pages, the validation set also holds the fields of pages by the calibration writers:
# one page for every PAGE_VALIDATION_EVERY trained on (160 for the sixth stage's 1,600).
PAGE_VALIDATION_EVERY = 10
_writers = PoolWriters()  # each generating process's writers, loaded by its first chunk
_marks = True  # this generating process's `marks` (`generate`), set by its initialiser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m models.train_strings",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=300_000, help="synthetic training fields")
    parser.add_argument("--validation", type=int, default=3000, help="held-out-writer fields")
    parser.add_argument("--pages", type=int, default=0,
                        help="also train on the combs and open boxes of this many synthetic pages by "
                             "the training writers, as segmentation cuts them (models.harvest)")
    parser.add_argument("--epochs", type=int, default=6, help="epochs of the learning-rate schedule")
    parser.add_argument("--stop-after", type=int, default=None,
                        help="stop after this many epochs of the schedule (how the shipped reader's "
                             "stages were run)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1,
                        help="processes generating fields")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--init-from", type=Path, default=None, help="continue from this model")
    parser.add_argument("--mnist-dir", type=Path, default=None)
    parser.add_argument("--no-marks", action="store_true",
                        help="no printed signs, labels or delimiters around training fields (a control run)")
    return parser.parse_args(argv)


def _init_worker(part: str, mnist_dir: str | None, marks: bool) -> None:
    """Each generating process names its writers; its first chunk loads them (`PoolWriters`)."""
    global _marks
    _writers.name(part, mnist_dir)
    _marks = marks


def _make(seeds: list[int]) -> list[tuple[np.ndarray, str]]:
    from synth.strings import random_field

    hands = _writers.get()
    out = []
    for seed in seeds:
        f = random_field(hands, np.random.default_rng(seed), marks=_marks)
        out.append(((line_input(f.image) * 255).astype(np.uint8), f.text))
    return out


def generate(count: int, seed: int, part: str, processes: int,
             mnist_dir: Path | None, marks: bool = True) -> list[tuple[np.ndarray, str]]:
    """`count` fields (uint8 line inputs and texts), made in `processes` processes; with
    `marks`, now and then with printed signs, labels or delimiters around them (`synth.marks`;
    False for a control run, `--no-marks`)."""
    seeds = [seed * 1_000_003 + i for i in range(count)]
    chunks = [seeds[i : i + 500] for i in range(0, count, 500)]
    out: list[tuple[np.ndarray, str]] = []
    started = time.time()
    named = (part, str(mnist_dir or "") or None, marks)  # each generating process's
    if processes <= 1:  # in this process (a daemonic one, such as a Celery pool's, has no children)
        _init_worker(*named)
        return [item for chunk in chunks for item in _make(chunk)]
    with get_context("fork").Pool(processes, _init_worker, named) as pool:
        for k, part in enumerate(pool.imap(_make, chunks)):
            out.extend(part)
            if (k + 1) % 40 == 0:
                print(f"  {len(out)}/{count} fields made ({time.time() - started:.0f} s)", flush=True)
    return out


def batches(data: list[tuple[np.ndarray, str]], batch_size: int, rng: np.random.Generator):
    """Batches of similar widths, in random order."""
    order = rng.permutation(len(data))
    widths = np.array([data[i][0].shape[1] for i in order]) // WIDTH_BUCKET
    order = order[np.argsort(widths, kind="stable")]
    groups = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    for g in rng.permutation(len(groups)):
        yield [data[i] for i in groups[g]]


def to_arrays(batch: list[tuple[np.ndarray, str]]) -> tuple[np.ndarray, ...]:
    lines = [b[0].astype(np.float32) / 255 for b in batch]
    x, frames = batch_of(lines)
    labels = [encode(b[1]) for b in batch]
    longest = max(1, max(len(lab) for lab in labels))
    y = np.zeros((len(batch), longest), np.int32)
    for i, lab in enumerate(labels):
        y[i, : len(lab)] = lab
    lengths = np.array([len(lab) for lab in labels], np.int32)
    return x, y, lengths, frames


def exact_rate(predict, data: list[tuple[np.ndarray, str]], batch_size: int = 256) -> float:
    """Share of fields whose digits the greedy decode reads exactly."""
    right = 0
    for i in range(0, len(data), batch_size):
        part = data[i : i + batch_size]
        x, frames = batch_of([b[0].astype(np.float32) / 255 for b in part])
        probs = predict(x)
        for p, n, (_, text) in zip(probs, frames, part):
            value = ctc.best_path(ctc.fold(p[:n], DIGIT_COLUMNS))
            right += value == "".join(c for c in text if c.isdigit())
    return right / max(1, len(data))


def ctc_step(model, optimizer):  # type: ignore[no-untyped-def]
    """One training step of `model` (logits out) on a batch (x, labels, label lengths, frames)
    under CTC loss; returns the batch's mean loss."""
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def step(x, y, lengths, frames):  # type: ignore[no-untyped-def]
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = tf.reduce_mean(tf.nn.ctc_loss(y, logits, lengths, frames, logits_time_major=False,
                                                 blank_index=0))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return step


def fine_tune(init_from: Path, fields: list[tuple[np.ndarray, str]],
              synthetic: list[tuple[np.ndarray, str]], epochs: int = 3, repeat: int = 8,
              learning_rate: float = 2e-4, batch_size: int = 64, seed: int = 1,
              progress: Callable[[int, int, float], None] | None = None):  # type: ignore[no-untyped-def]
    """The string reader `init_from` (a .keras file) trained further on `fields` (uint8 line
    inputs with their texts: a back office's reviewed fields), each seen `repeat` times an
    epoch among the `synthetic` fields, so that it learns the new hands without forgetting the
    others. `progress(epoch, epochs, loss)` after each epoch; returns the model for inference."""
    import keras

    from models.crnn import for_inference

    keras.utils.set_random_seed(seed)
    shipped = keras.models.load_model(init_from, compile=False)
    model = keras.Model(shipped.input, shipped.get_layer("logits").output, name=shipped.name)
    step = ctc_step(model, keras.optimizers.Adam(learning_rate, clipnorm=5.0))
    rng = np.random.default_rng(seed)
    data = list(synthetic) + list(fields) * repeat
    for epoch in range(epochs):
        losses = [float(step(*to_arrays(batch))) for batch in batches(data, batch_size, rng)]
        if progress is not None:
            progress(epoch + 1, epochs, float(np.mean(losses)))
    return for_inference(model)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    mnist_dir = args.mnist_dir or (Path(os.environ["MNIST_DIR"]) if os.environ.get("MNIST_DIR") else None)
    started = time.time()
    print(f"making {args.samples} training fields (training writers)…", flush=True)
    train = generate(args.samples, args.seed, "train", args.processes, mnist_dir, not args.no_marks)
    print(f"making {args.validation} validation fields (calibration writers)…", flush=True)
    val = generate(args.validation, args.seed + 7919, "calibration", args.processes, mnist_dir,
                   not args.no_marks)
    if args.pages:
        from models.harvest import harvest_lines

        print(f"cutting the combs and open boxes of {args.pages} pages (training writers)…", flush=True)
        harvested = harvest_lines(args.pages, args.seed, "train", mnist_dir, args.processes)
        checked = max(1, args.pages // PAGE_VALIDATION_EVERY)
        print(f"  {len(harvested)} fields; and of {checked} pages by the calibration writers…", flush=True)
        train += harvested
        val += harvest_lines(checked, args.seed + 7919, "calibration", mnist_dir, args.processes)

    import keras
    import tensorflow as tf

    from models.crnn import build_crnn, for_inference

    keras.utils.set_random_seed(args.seed)
    if args.init_from:
        shipped = keras.models.load_model(args.init_from, compile=False)
        model = keras.Model(shipped.input, shipped.get_layer("logits").output, name=shipped.name)
    else:
        model = build_crnn(NUM_CLASSES)
    steps_per_epoch = math.ceil(len(train) / args.batch_size)
    total = steps_per_epoch * args.epochs
    schedule = keras.optimizers.schedules.CosineDecay(
        args.learning_rate / 10, decay_steps=max(1, total - steps_per_epoch // 2),
        warmup_target=args.learning_rate, warmup_steps=steps_per_epoch // 2)
    step = ctc_step(model, keras.optimizers.Adam(schedule, clipnorm=5.0))

    predict = tf.function(lambda x: tf.nn.softmax(model(x, training=False)), reduce_retracing=True)
    rng = np.random.default_rng(args.seed)
    history = []
    best = -1.0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    for epoch in range(min(args.epochs, args.stop_after or args.epochs)):
        epoch_started, losses = time.time(), []
        for k, batch in enumerate(batches(train, args.batch_size, rng)):
            x, y, lengths, frames = to_arrays(batch)
            losses.append(float(step(x, y, lengths, frames)))
            if (k + 1) % 500 == 0:
                print(f"  epoch {epoch + 1} step {k + 1}/{steps_per_epoch}: loss "
                      f"{np.mean(losses[-500:]):.3f} ({time.time() - epoch_started:.0f} s)", flush=True)
        rate = exact_rate(lambda x: predict(x).numpy(), val)
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)), "val_exact": rate,
                        "seconds": round(time.time() - epoch_started, 1)})
        print(f"epoch {epoch + 1}: loss {np.mean(losses):.3f}, held-out writers exact {rate:.2%}",
              flush=True)
        if rate > best:
            best = rate
            for_inference(model).save(args.output)
    metrics = {
        "validation_exact": best, "history": history,
        "training": {"command": "python -m models.train_strings "
                                + " ".join(argv if argv is not None else sys.argv[1:]),
                     "samples": args.samples, "pages": args.pages, "epochs": args.epochs,
                     "stop_after": args.stop_after,
                     "batch_size": args.batch_size,
                     "learning_rate": args.learning_rate, "seed": args.seed, "stride": STRIDE,
                     "parameters": int(model.count_params()),
                     "seconds": round(time.time() - started, 1),
                     "tensorflow": tf.__version__, "keras": keras.__version__},
    }
    args.output.with_suffix(".json").write_text(json.dumps(metrics, indent=2))
    print(f"best held-out-writer exact match {best:.2%}; model written to {args.output}", flush=True)
    return metrics


if __name__ == "__main__":
    main()
