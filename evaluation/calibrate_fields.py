"""`python -m evaluation.calibrate_fields`: fit how readers' opinions combine, and the confidence.

On fields never used to evaluate (the CALIBRATION writers: UNIPEN's calibration half,
optdigits' validation digits, MNIST's test digits; for open boxes also MNIST's training
digits; never a test writer, never a real cheque), for each kind of field read whole:
- "field": images that are one whole field (`synth.strings`: amounts on plain and security
  paper), read as `layout=field` reads them;
- "box" and "comb": open boxes and comb fields read whole on generated pages (those whose cut
  reading is unsure, as the service reads them): a third written by MNIST's training digits
  (the glyph classifier's own writers), a third by the calibration writers, a third by them
  in the hard page style.
It fits the readers' weights in the product (highest share of fields right, then highest
likelihood of the truth), then a logistic model of the combined confidence
(`reading.combine.FEATURES`), and writes both to `models/weights/combination.json`. With
`--keep-weights` it fits the confidence only, for readers that changed since the weights were
chosen: the values read stay the same, only how sure the service is of them moves.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evaluation.pages import Scored, auto_accept
from reading.combine import Calibration, Calibrations, Opinion, combine
from segmentation.vote import CUT_READER

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SEED = 8080
# Weights tried for each reader's log probability in the product.
WEIGHT_GRID = (0.0, 0.15, 0.3, 0.5, 0.75, 1.0, 1.5)
KINDS = {"field": "field images", "box": "open boxes on pages",
         "comb": "comb fields on pages"}
L2 = 1.0  # the logistic model's regularisation (scikit-learn's C): a few features, thousands of fields


@dataclass
class Sample:
    opinions: list[Opinion]
    truth: str


def field_samples(reader, count: int, seed: int) -> list[Sample]:  # type: ignore[no-untyped-def]
    """Synthetic field images by the calibration writers, read as layout=field reads them."""
    from segmentation.fieldread import field_opinions, undrawn_field
    from synth import writers_of
    from synth.strings import random_field

    hands = writers_of("calibration")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        f = random_field(hands, rng)
        h, w = f.image.shape[:2]
        read = field_opinions([undrawn_field(f.image, (0, 0, w, h))], reader._classify, reader.lines)[0]
        out.append(Sample(list(read.opinions), f.value))
    return out


def page_samples(reader, pages: int, seed: int) -> dict[str, list[Sample]]:  # type: ignore[no-untyped-def]
    """Open boxes and comb fields read whole on generated pages, by kind; a third of the pages
    each: MNIST's training digits in our usual page style (the glyph classifier's own writers),
    the calibration writers in the usual style, and the calibration writers in the hard style."""
    from models import mnist
    from segmentation.fieldread import field_opinions
    from segmentation.pipeline import segment_fields
    from segmentation.structure import iou
    from synth.hands import HandDigits, load_writers
    from synth.pages import make_page
    from synth.render import DigitSource

    data = mnist.load(None)
    others = HandDigits(load_writers("calibration", data.x_test, data.y_test).mixture())
    sources = [(DigitSource(data.x_train, data.y_train), None), (others, None), (others, "hard")]
    rng = np.random.default_rng(seed)
    out: dict[str, list[Sample]] = {"box": [], "comb": []}
    for number in range(pages):
        digits, style = sources[number % len(sources)]
        page = make_page(digits, rng, style=style)  # type: ignore[arg-type]
        fields, _, _, _ = segment_fields(page.image)
        read = field_opinions(fields, reader._classify, reader.readers)
        for truth in (t for t in page.fields if t.kind in out):
            match = max(range(len(fields)), default=None,
                        key=lambda i: iou(truth.box, fields[i].page_box))
            if match is not None and iou(truth.box, fields[match].page_box) >= 0.5 \
                    and fields[match].kind == truth.kind and read[match].opinions:
                out[truth.kind].append(Sample(list(read[match].opinions), truth.value))
    return out


def fit_weights(samples: list[Sample], readers: list[str]) -> dict[str, float]:
    """Reader weights with the most fields right, ties broken by the truth's likelihood. The
    line readers share one weight: the calibration fields are drawn by the same generator our
    CRNN trained on, where it reads better than on any user's paper, so letting each have its
    own weight would favour it for the wrong reason (on real cheques PP-OCR reads better)."""
    tables = []
    for s in samples:
        candidates = list(dict.fromkeys([s.truth, *(v for o in s.opinions for v in o.candidates())]))
        table = np.array([[o.log_prob(v) for o in s.opinions] for v in candidates])
        tables.append(table)  # row 0 is the truth
    best, best_key = {}, (-1.0, -math.inf)
    tied = [r == CUT_READER for r in readers]
    for cut_weight, line_weight in itertools.product(WEIGHT_GRID, repeat=2):
        if not line_weight:
            continue
        combo = [cut_weight if is_cut else line_weight for is_cut in tied]
        w = np.asarray(combo)
        right, loglik = 0, 0.0
        for table in tables:
            scores = table @ w
            right += int(scores[0] > np.max(scores[1:], initial=-np.inf))
            loglik += float(scores[0] - np.logaddexp.reduce(scores))
        key = (right / len(tables), loglik / len(tables))
        if key > best_key:
            best_key, best = key, dict(zip(readers, combo))
    print(f"  weights {best}: {best_key[0]:.2%} right, mean log-likelihood {best_key[1]:.3f}", flush=True)
    return {k: float(v) for k, v in best.items()}


def fit_kind(samples: list[Sample], kind: str, description: str,
             weights: dict[str, float] | None = None) -> Calibration:
    """The readers' weights (fitted, unless `weights` are given: then the values read stay as
    they are) and the confidence's logistic model (`reading.combine.FEATURES`)."""
    from sklearn.linear_model import LogisticRegression

    readers = [o.reader for o in samples[0].opinions]
    if weights is None:
        weights = fit_weights(samples, readers)
    else:
        print(f"  weights {weights} kept", flush=True)
    plain = Calibration(weights, (1.0, 0.0, 0.0, 0.0), 0.0)
    combined = [combine(s.opinions, plain) for s in samples]
    x = np.array([c.features for c in combined])
    y = np.array([c.value == s.truth for c, s in zip(combined, samples)])
    model = LogisticRegression(C=L2, max_iter=1000).fit(x, y)
    fitted = Calibration(weights, tuple(float(v) for v in model.coef_[0]), float(model.intercept_[0]),
                         description)
    confidences = [fitted.confidence(f) for f in x]
    rows = [Scored(kind, s.truth, c.value, p) for s, c, p in zip(samples, combined, confidences)]
    best = auto_accept(rows, [])["best"]
    print(f"  {kind}: {len(samples)} fields, {y.mean():.2%} right; confidence coefficients "
          f"{[round(v, 3) for v in fitted.coefficients]}, bias {fitted.bias:.3f}; straight through at "
          f"<=0.5% errors: {best['accepted_share'] if best else 0:.2%} "
          f"(threshold {best['threshold'] if best else None})", flush=True)
    return fitted


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m evaluation.calibrate_fields",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--fields", type=int, default=3000, help="synthetic field images")
    parser.add_argument("--pages", type=int, default=120, help="generated pages for open boxes and combs")
    parser.add_argument("--kinds", default="field,box,comb",
                        help="kinds to fit (comma-separated); the others are kept from --output")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--keep-weights", action="store_true",
                        help="keep the readers' weights of --output and fit the confidence only "
                             "(the values read stay the same)")
    parser.add_argument("--output", type=Path,
                        default=PROJECT_ROOT / "models" / "weights" / "combination.json")
    args = parser.parse_args(argv)

    from core.settings import Settings
    from worker.recognition import reader_for

    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown or not kinds:
        raise SystemExit(f"--kinds: unknown {unknown or 'none given'}; known: {', '.join(KINDS)}")
    kept = Calibrations.load(args.output).by_kind if args.output.is_file() else {}
    if args.keep_weights and not set(kinds) <= set(kept):
        raise SystemExit(f"--keep-weights: {args.output} has no weights for "
                         f"{', '.join(sorted(set(kinds) - set(kept)))}")
    reader = reader_for(Settings.from_env())
    if not reader.lines:
        raise SystemExit("no line readers configured (LINE_READERS): nothing to combine")
    started = time.time()
    print(f"readers: {reader.version}", flush=True)
    samples: dict[str, list[Sample]] = {}
    if "field" in kinds:
        print(f"reading {args.fields} field images by the calibration writers…", flush=True)
        samples["field"] = field_samples(reader, args.fields, args.seed)
    if {"box", "comb"} & set(kinds):
        print(f"reading the open boxes and combs of {args.pages} pages by the calibration writers…",
              flush=True)
        on_pages = page_samples(reader, args.pages, args.seed + 1)
        samples.update({k: v for k, v in on_pages.items() if k in kinds})
    where = (f"{{n}} synthetic {{what}} by calibration writers (seed {{seed}}), readers "
             f"{reader.version}")
    fitted = {kind: fit_kind(samples[kind], kind, where.format(
        n=len(samples[kind]), what=KINDS[kind] + ("" if kind == "field" else f" (of {args.pages} pages)"),
        seed=args.seed if kind == "field" else args.seed + 1),
        dict(kept[kind].weights) if args.keep_weights else None)
        for kind in kinds}
    calibrations = Calibrations({k: fitted.get(k) or kept[k] for k in KINDS if k in fitted or k in kept})
    args.output.parent.mkdir(parents=True, exist_ok=True)
    calibrations.save(args.output)
    print(f"written to {args.output} ({time.time() - started:.0f} s)")
    return json.loads(args.output.read_text())


if __name__ == "__main__":
    main()
