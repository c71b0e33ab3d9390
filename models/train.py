"""Train the digit recogniser: `python -m models.train [--arch cnn|mlp] ...`.

Writes the model file (calibrated softmax output), a metrics JSON beside it, and the figures
under `results/`. The shipped weights were made by `make train`; the README gives the command.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from models import mnist
from models.inference import DEFAULT_KERAS_PATH

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m models.train", description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=("cnn", "mlp"), default="cnn")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", type=Path, default=DEFAULT_KERAS_PATH)
    parser.add_argument("--results-dir", type=Path, default=PROJECT_ROOT / "results")
    parser.add_argument("--mnist-dir", type=Path, default=None,
                        help="folder of the four IDX .gz files (default: $MNIST_DIR, else "
                             "../shared/data/mnist)")
    parser.add_argument("--validation-size", type=int, default=5000,
                        help="training digits held out to choose the temperature")
    parser.add_argument("--limit", type=int, default=None,
                        help="train on only this many digits (smoke tests)")
    parser.add_argument("--test-limit", type=int, default=None,
                        help="evaluate on only this many MNIST test digits (smoke tests)")
    parser.add_argument("--extra", type=Path, action="append", default=[],
                        help="reviewed glyphs exported by the service (.npz: glyphs, labels)")
    parser.add_argument("--init-from", type=Path, default=None,
                        help="start from this model file (fine-tuning) instead of random weights")
    parser.add_argument("--workers", type=int, default=1, help="threads preparing batches")
    parser.add_argument("--hands-share", type=float, default=0.0,
                        help="share of each batch drawn by other writer sets (UNIPEN's and "
                             "optdigits' training writers, regional letter-forms)")
    parser.add_argument("--pipeline-pages", type=int, default=2000,
                        help="synthetic pages (training digits) cut by the segmentation for "
                             "training glyphs; 0 for none")
    return parser.parse_args(argv)


def _held_pages(pipeline_pages: int) -> int:
    """Synthetic pages of held-out digits for validation and evaluation: a twelfth of the
    training pages, at least 25 (fewer only when training itself has fewer: smoke runs)."""
    return min(pipeline_pages, max(25, pipeline_pages // 12))


def load_extra(paths: list[Path]) -> tuple[np.ndarray, np.ndarray] | None:
    """Reviewed glyphs from `python -m worker.export_corrections`, concatenated."""
    if not paths:
        return None
    glyphs, labels = [], []
    for path in paths:
        with np.load(path) as data:
            if "glyphs" not in data or "labels" not in data:
                raise SystemExit(f"{path}: expected arrays 'glyphs' and 'labels'")
            glyphs.append(data["glyphs"].astype(np.float32))
            labels.append(data["labels"].astype(np.int64))
    return np.concatenate(glyphs), np.concatenate(labels)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    from models import calibration, network, plots, report
    from models.dataset import Mix, TrainingBatches, validation_set
    from models.harvest import harvest

    keras.utils.set_random_seed(args.seed)
    tf.config.experimental.enable_op_determinism()
    started = time.time()

    data = mnist.load(args.mnist_dir)
    order = np.random.default_rng(args.seed).permutation(len(data.x_train))
    val_idx, train_idx = order[: args.validation_size], order[args.validation_size :]
    if args.limit:
        train_idx = train_idx[: args.limit]
        val_idx = val_idx[: max(100, args.limit // 10)]
    x_train, y_train = data.x_train[train_idx], data.y_train[train_idx]
    pipeline = val_pipeline = None
    if args.pipeline_pages:
        print(f"cutting glyphs from {args.pipeline_pages} synthetic pages…", flush=True)
        pipeline = harvest(x_train, y_train, args.pipeline_pages, args.seed)
        val_pipeline = harvest(data.x_train[val_idx], data.y_train[val_idx],
                               _held_pages(args.pipeline_pages), args.seed + 1)
        print(f"{len(pipeline[0])} training and {len(val_pipeline[0])} validation glyphs", flush=True)
    hands = held_hands = None
    if args.hands_share:
        from synth.hands import load_writers

        hands = load_writers("train").mixture()
        held_hands = load_writers("calibration").mixture()
    x_val, y_val = validation_set(data.x_train[val_idx], data.y_train[val_idx], args.seed, x_train,
                                  val_pipeline, held_hands)
    extra = load_extra(args.extra)
    print(f"training on {len(x_train)} MNIST digits"
          + (f" + {len(extra[0])} reviewed glyphs" if extra else "")
          + f"; {len(x_val)} held out for validation and calibration", flush=True)

    if args.init_from:
        model = network.logits_of(keras.models.load_model(args.init_from, compile=False))
    else:
        model = network.ARCHITECTURES[args.arch]()
    mix = Mix(mild=Mix().mild - args.hands_share, hands=args.hands_share)
    batches = TrainingBatches(x_train, y_train, args.batch_size, args.seed, extra=extra,
                              pipeline=pipeline, mix=mix, hands=hands, workers=args.workers,
                              use_multiprocessing=False, max_queue_size=16)
    steps = len(batches) * args.epochs
    schedule = keras.optimizers.schedules.CosineDecay(
        args.learning_rate / 10, decay_steps=max(1, steps - len(batches)), warmup_target=args.learning_rate,
        warmup_steps=len(batches))
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = model.fit(batches, epochs=args.epochs, validation_data=(x_val, y_val),
                        verbose="auto" if sys.stdout.isatty() else 2)

    val_logits = model.predict(x_val, batch_size=1024, verbose=0)
    temperature = calibration.fit_temperature(val_logits, y_val)
    shipped = network.for_inference(model, temperature)
    folded = shipped.predict(x_val, batch_size=1024, verbose=0)
    drift = float(np.abs(folded - calibration.softmax(val_logits, temperature)).max())
    if drift > 1e-3:
        raise SystemExit(f"folding batch norms changed the outputs by {drift:.2e}: not shipped")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    shipped.save(args.output)
    print(f"temperature {temperature:.3f}; model written to {args.output} "
          f"({args.output.stat().st_size / 1e6:.2f} MB)", flush=True)

    args.results_dir.mkdir(parents=True, exist_ok=True)
    plots.training_curves(history.history, args.results_dir / "training_curves.png")
    classify = lambda x: shipped(x, training=False).numpy()  # noqa: E731
    if args.test_limit:
        data = dataclasses.replace(data, x_test=data.x_test[: args.test_limit],
                                   y_test=data.y_test[: args.test_limit])
    metrics = report.evaluate(classify, data, temperature, args.results_dir,
                              pipeline_pages=_held_pages(args.pipeline_pages) if args.pipeline_pages else 0)
    metrics["validation"] = {
        "ece_before_scaling": calibration.expected_calibration_error(
            calibration.softmax(val_logits), y_val),
        "ece_after_scaling": calibration.expected_calibration_error(
            calibration.softmax(val_logits, temperature), y_val),
    }
    metrics["training"] = {
        "command": "python -m models.train " + " ".join(argv if argv is not None else sys.argv[1:]),
        "arch": args.arch, "epochs": args.epochs, "batch_size": args.batch_size,
        "learning_rate": args.learning_rate, "seed": args.seed,
        "train_digits": int(len(x_train)), "extra_glyphs": int(len(extra[0])) if extra else 0,
        "pipeline_pages": args.pipeline_pages, "hands_share": args.hands_share,
        "pipeline_glyphs": int(len(pipeline[0])) if pipeline else 0,
        "parameters": int(model.count_params()), "seconds": round(time.time() - started, 1),
        "history": {k: [float(v) for v in vals] for k, vals in history.history.items()},
        "tensorflow": tf.__version__, "keras": keras.__version__, "python": platform.python_version(),
    }
    text = json.dumps(metrics, indent=2)
    args.output.with_suffix(".json").write_text(text)
    (args.results_dir / "metrics.json").write_text(text)
    print(summary_line(metrics), flush=True)
    return metrics


def summary_line(metrics: dict) -> str:
    test, scan = metrics["mnist_test"], metrics["mnist_test_scan_like"]
    rejected = metrics.get("not_a_digit_rejected")
    cut = metrics.get("mnist_test_pipeline")
    return (f"MNIST test accuracy {test['accuracy']:.2%} (loss {test['loss']:.4f}); "
            f"scan-like {scan['accuracy']:.2%}; "
            + (f"cut from pages {cut['accuracy']:.2%} (ECE {cut['ece_after_scaling']:.3%}); " if cut else "")
            + f"ECE {test['ece_before_scaling']:.3%} before, "
            f"{test['ece_after_scaling']:.3%} after temperature scaling"
            + (f"; not-a-digit rejected {rejected:.1%}" if rejected is not None else ""))


if __name__ == "__main__":
    main()
