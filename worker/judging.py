"""Judging a candidate against the readers in use (worker.improve): on the held-out reviewed
fields (each read as the service read it: a field image whole, a field of a page with its page),
on fixed regression sets never trained on (numbers by the test writers; generated pages by
MNIST's test digits) and on MNIST's test set. The rule that decides is `promotable`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.files import Limits, grey_of, page
from core.processing import KINDS
from core.settings import Settings
from core.storage import Storage
from segmentation.structure import iou
from segmentation.templates import find_template
from synth import test_digits, test_writers_numbers
from worker.export_corrections import Reviewed
from worker.recognition import Reader

MAX_ERROR = 0.005  # the error allowed among fields accepted straight through
# The candidate may read a regression set this much worse and still be promoted: 3 fields of
# 300, below what two readings of such a set tell apart.
REGRESSION_TOLERANCE = 0.01
MNIST_TOLERANCE = 0.001  # the bound: MNIST test accuracy at most 0.1 point lower
REGRESSION_SEED = 20261206
MATCH_IOU = 0.5  # a field read again on its page is the one whose box overlaps this much


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


def summary(right: Sequence[bool], confidence: Sequence[float]) -> dict:
    share, threshold = straight_through(right, confidence)
    return {"fields": len(right), "exact": float(np.mean(right)) if len(right) else 0.0,
            "straight_through": share, "threshold": threshold}


def read_whole(reader: Reader, images: Sequence[np.ndarray], truths: Sequence[str]) -> tuple[list, list]:
    """(right, confidence) of each image read as one field, in grey as the worker reads it."""
    read = [reader.read_field(grey_of(image)).fields[0] for image in images]
    return [f.value == t for f, t in zip(read, truths)], [f.confidence for f in read]


def read_on_pages(settings: Settings, reader: Reader, fields: Sequence[Reviewed]) -> tuple[list, list]:
    """(right, confidence) of each field of a page, its page read again whole; a field not found
    again counts as wrong, at confidence 0."""
    limits, storage = Limits.of(settings), Storage(settings.originals_dir)
    by_page: dict[tuple, list[Reviewed]] = {}
    for f in fields:
        by_page.setdefault((f.page, f.template), []).append(f)
    right: list[bool] = []
    confidence: list[float] = []
    for ((sha256, media_type, number), template), group in by_page.items():
        pixels = page(storage.path(sha256), KINDS[media_type], number, limits)
        found = reader.read_page(pixels, find_template(settings.form_templates_dir, template)
                                 if template else None).fields
        for f in group:
            match = max(found, key=lambda r: iou(r.box, f.box), default=None)
            ok = match is not None and iou(match.box, f.box) >= MATCH_IOU
            right.append(ok and match.value == f.value)
            confidence.append(match.confidence if ok else 0.0)
    return right, confidence


def held_out(settings: Settings, reader: Reader, held: Sequence[Reviewed]) -> dict:
    """The reader on the held-out reviewed fields, each read as the service read it."""
    whole = [f for f in held if f.kind == "field"]
    on_pages = [f for f in held if f.kind != "field"]
    right, confidence = read_whole(reader, [f.image for f in whole], [f.value for f in whole])
    more_right, more_confidence = read_on_pages(settings, reader, on_pages)
    return summary(right + more_right, confidence + more_confidence)


def regression_pages(count: int, mnist_dir: Path | None) -> list:
    """Generated pages written by MNIST's test digits, the same every run."""
    from synth.pages import make_page

    digits = test_digits(mnist_dir)
    rng = np.random.default_rng(REGRESSION_SEED + 1)
    return [make_page(digits, rng) for _ in range(count)]


def read_pages(reader: Reader, pages: Sequence) -> dict:
    """Exact match over every drawn field of generated pages (a field not found is wrong)."""
    right: list[bool] = []
    confidence: list[float] = []
    for generated in pages:
        found = reader.read_page(generated.image, None).fields
        for truth in generated.fields:
            match = max(found, key=lambda r: iou(r.box, truth.box), default=None)
            ok = match is not None and iou(match.box, truth.box) >= MATCH_IOU
            right.append(ok and match.value == truth.value)
            confidence.append(match.confidence if ok else 0.0)
    return summary(right, confidence)


def mnist_accuracy(reader: Reader, mnist_dir: Path | None) -> float:
    from models import mnist

    data = mnist.load(mnist_dir)
    images = data.x_test.astype(np.float32) / 255.0
    probabilities = reader.recognizer.classify(images).probabilities
    return float((probabilities[:, :10].argmax(1) == data.y_test).mean())


def compare(settings: Settings, current: Reader, candidate: Reader, held: Sequence[Reviewed],
            regression: int, pages: int) -> dict:
    """Every measure, for the readers in use and the candidate."""
    images, truths = test_writers_numbers(regression, REGRESSION_SEED, settings.mnist_dir)
    generated = regression_pages(pages, settings.mnist_dir)
    out: dict = {}
    for name, reader in (("current", current), ("candidate", candidate)):
        out.setdefault("held_out", {})[name] = held_out(settings, reader, held)
        out.setdefault("regression", {})[name] = summary(*read_whole(reader, images, truths))
        out.setdefault("regression_pages", {})[name] = read_pages(reader, generated)
    # The glyph classifier alone reads MNIST: the same one (not trained this run) is read once.
    mnist_now = mnist_accuracy(current, settings.mnist_dir)
    same = candidate.recognizer is current.recognizer
    out["mnist_test"] = {"current": mnist_now,
                         "candidate": mnist_now if same else mnist_accuracy(candidate, settings.mnist_dir)}
    return out


def promotable(metrics: dict) -> bool:
    """Better on the held-out reviewed fields (exact, ties broken by straight-through share),
    not worse on either regression set beyond REGRESSION_TOLERANCE, MNIST within MNIST_TOLERANCE."""
    held, mnist = metrics["held_out"], metrics["mnist_test"]
    key = ("exact", "straight_through")
    gains = tuple(held["candidate"][k] for k in key) > tuple(held["current"][k] for k in key)
    keeps = all(metrics[s]["candidate"]["exact"] >= metrics[s]["current"]["exact"] - REGRESSION_TOLERANCE
                for s in ("regression", "regression_pages"))
    return gains and keeps and mnist["candidate"] >= mnist["current"] - MNIST_TOLERANCE
