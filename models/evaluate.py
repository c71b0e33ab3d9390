"""Evaluate a model: `python -m models.evaluate [--model PATH] [--json]`.

MNIST test accuracy and loss, per-class precision and recall, the confusion matrix, expected
calibration error before and after temperature scaling, on plain MNIST, on scan-like glyphs and
on glyphs cut by the segmentation from synthetic pages; the figures go to `results/`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from models import mnist
from models.inference import DEFAULT_KERAS_PATH

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m models.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_KERAS_PATH,
                        help="a Keras file (its temperature layer is read); default: the shipped one")
    parser.add_argument("--mnist-dir", type=Path, default=None)
    parser.add_argument("--results-dir", type=Path, default=PROJECT_ROOT / "results")
    parser.add_argument("--pipeline-pages", type=int, default=150,
                        help="synthetic pages (MNIST test digits) whose cut glyphs are scored; 0: none")
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    args = parser.parse_args(argv)

    from models import report
    from models.inference import Recognizer
    from models.train import summary_line

    recognizer = Recognizer(args.model)
    if recognizer.model is None:  # an ONNX file: its temperature is not a layer one can read
        raise SystemExit(f"{args.model}: evaluate the Keras file it was exported from")
    temperature = report.model_temperature(recognizer.model)
    metrics = report.evaluate(lambda x: recognizer.classify(x).probabilities, mnist.load(args.mnist_dir),
                              temperature, args.results_dir, pipeline_pages=args.pipeline_pages)
    metrics["model"] = recognizer.version
    if args.json:
        json.dump(metrics, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(f"{recognizer.version}: {summary_line(metrics)}")
        print("per class (precision / recall):")
        for digit, row in metrics["per_class"].items():
            print(f"  {digit}: {row['precision']:.4f} / {row['recall']:.4f}  ({row['support']} digits)")
        print(f"figures written to {args.results_dir}")
    return metrics


if __name__ == "__main__":
    main()
