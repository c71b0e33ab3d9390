"""`python -m evaluation.split_temperature`: fit the split search's temperature (split.SPLIT_TEMPERATURE).

Pages are drawn from MNIST's TRAINING digits (never the evaluation's test digits), read at each
candidate temperature, and the log loss of the open-box fields' confidences is printed with
their accuracy and the share of all fields that can be accepted at ≤0.5% errors; the
temperature with the lowest log loss is the one to set.
"""

from __future__ import annotations

import argparse

import numpy as np

from evaluation.pages import TARGET_ERROR, score_page
from segmentation import split
from segmentation.pipeline import read_page

CALIBRATION_SEED = 4242


def main(argv: list[str] | None = None) -> dict[float, float]:
    parser = argparse.ArgumentParser(prog="python -m evaluation.split_temperature",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--temperatures", type=float, nargs="+", default=[1.0, 0.4, 0.25, 0.1, 0.05])
    parser.add_argument("--mnist-dir", default=None)
    args = parser.parse_args(argv)

    from models import mnist
    from synth.pages import make_page
    from synth.render import DigitSource
    from worker.recognition import get_reader

    data = mnist.load(args.mnist_dir)
    digits = DigitSource(data.x_train, data.y_train)
    rng = np.random.default_rng(CALIBRATION_SEED)
    pages = [make_page(digits, rng) for _ in range(args.pages)]
    reader = get_reader()
    losses = {}
    for temperature in args.temperatures:
        split.SPLIT_TEMPERATURE = temperature
        rows = [r for page in pages
                for r in score_page(page.fields, list(read_page(page.image, reader._classify).fields))
                if r.kind != "extra"]
        confidence = np.clip([r.confidence for r in rows], 1e-6, 1 - 1e-6)
        right = np.array([r.read == r.truth for r in rows])
        box = np.array([r.kind.startswith("box") for r in rows])
        loss = float(-np.mean(np.where(right[box], np.log(confidence[box]), np.log(1 - confidence[box]))))
        order = np.argsort(-confidence)
        error = np.cumsum(~right[order]) / np.arange(1, len(rows) + 1)
        meeting = np.flatnonzero(error <= TARGET_ERROR)
        share = (meeting.max() + 1) / len(rows) if meeting.size else 0.0
        losses[temperature] = loss
        print(f"temperature {temperature:5.2f}: open-box log loss {loss:.4f}, accuracy "
              f"{right[box].mean():.2%}; all fields accepted at ≤0.5% errors {share:.2%}", flush=True)
    print(f"lowest log loss at {min(losses, key=losses.get)}")
    return losses


if __name__ == "__main__":
    main()
