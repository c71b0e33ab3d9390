"""`make eval`: the whole page pipeline on generated scans, beside Tesseract.

Pages are drawn by `synth` from MNIST's TEST digits (the recogniser never saw them), with a
fixed seed, so every run measures the same pages. Printed: field detection recall and
precision, digit accuracy, exact-match accuracy per field kind, the share of fields that can
be accepted automatically with at most 0.5% errors among them (and the threshold that does it),
both with their 90% bootstrap intervals (`evaluation.intervals`), segmentation time per
200-dpi A4 page (as the pages were read, and each page's best of three more runs), pages per
second; then Tesseract (digits whitelist) handed the TRUE field boxes, on the same pages.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from evaluation import write_report
from evaluation.intervals import bootstrap, describe, lowest_threshold
from segmentation.pipeline import FieldResult, segment_fields
from segmentation.prepare import to_grey
from segmentation.results import Box
from segmentation.structure import iou
from synth.scanner import STYLES

if TYPE_CHECKING:
    from synth.pages import SyntheticPage

EVAL_SEED = 20261124
MATCH_IOU = 0.5  # a detected field matches a true one when their boxes overlap this much
TARGET_ERROR = 0.005  # auto-accepted fields may err at most this often
TESSERACT_ARGS = ["--psm", "7", "-c", "tessedit_char_whitelist=0123456789"]
PROGRESS_EVERY = 50  # pages between progress lines
TIMING_REPEATS = 3  # segmentation timed again this many times a page, the fastest kept


def edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        previous, row[0] = row[0], i
        for j, cb in enumerate(b, start=1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ca != cb))
    return row[-1]


@dataclass
class Scored:
    """One true field (or a detection that matches none) with what a reader made of it."""

    kind: str  # comb, box, box-touching, or "extra" for detections matching no true field
    truth: str | None
    read: str | None  # None: not detected
    confidence: float = 0.0
    page: int = -1  # which page of the set (for an error study)
    readings: tuple[tuple[str, str], ...] = ()  # each reader's own reading, when several read it


@dataclass
class Tally:
    fields: list[Scored] = field(default_factory=list)
    seconds: float = 0.0
    segment_ms_a4_200: list[float] = field(default_factory=list)

    def report(self, thresholds: list[float] | None = None) -> dict:
        true = [f for f in self.fields if f.kind != "extra"]
        detected = [f for f in true if f.read is not None]
        extras = [f for f in self.fields if f.kind == "extra"]
        digits = sum(len(f.truth or "") for f in true)
        digit_errors = sum(min(len(f.truth or ""), edit_distance(f.read or "", f.truth or ""))
                           if f.read is not None else len(f.truth or "") for f in true)
        out = {
            "fields": len(true),
            "detection_recall": len(detected) / max(1, len(true)),
            "detection_precision": len(detected) / max(1, len(detected) + len(extras)),
            "digit_accuracy": 1 - digit_errors / max(1, digits),
            "exact_match": {},
        }
        for kind in ("comb", "box", "box-touching"):
            group = [f for f in true if f.kind == kind]
            if group:
                out["exact_match"][kind] = {"fields": len(group),
                                            "accuracy": sum(f.read == f.truth for f in group) / len(group)}
        out["exact_match"]["all"] = {"fields": len(true),
                                     "accuracy": sum(f.read == f.truth for f in true) / max(1, len(true))}
        if thresholds is not None:
            out["auto_accept"] = auto_accept(self.fields, thresholds)
            rows = [f for f in self.fields if f.read is not None]  # extra detections are wrong
            out["calibration_error"] = calibration_error(np.array([f.confidence for f in rows]),
                                                         np.array([f.read == f.truth for f in rows]))
        return out


def calibration_error(confidence: np.ndarray, right: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: |share right − mean confidence| over equal-width bins,
    weighted by how many fields fall in each."""
    if len(confidence) == 0:
        return 0.0
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            total += members.sum() * abs(right[members].mean() - confidence[members].mean())
    return float(total / len(confidence))


def auto_accept(fields: list[Scored], thresholds: list[float]) -> dict:
    """At each threshold: the share of true fields accepted without review and the error rate
    among accepted rows (extra detections count as errors); and the lowest threshold keeping
    that error at or under TARGET_ERROR."""
    true_count = sum(f.kind != "extra" for f in fields)
    rows = [f for f in fields if f.read is not None]

    def at(t: float) -> dict:
        accepted = [f for f in rows if f.confidence >= t]
        wrong = sum(f.kind == "extra" or f.read != f.truth for f in accepted)
        return {"threshold": t,
                "accepted_share": sum(f.kind != "extra" for f in accepted) / max(1, true_count),
                "error_among_accepted": wrong / max(1, len(accepted)), "accepted": len(accepted)}

    table = [at(t) for t in thresholds]
    # Every confidence seen is a candidate, as it is (rounded up, a threshold would leave out
    # the very row that set it)
    lowest, _ = lowest_threshold(np.array([f.kind == "extra" or f.read != f.truth for f in rows], bool),
                                 np.array([f.kind != "extra" for f in rows], bool),
                                 np.array([f.confidence for f in rows], np.float64), true_count, TARGET_ERROR)
    best = at(lowest) if lowest is not None else None
    return {"at_thresholds": table, "best": best, "target_error": TARGET_ERROR}


def matched_field(box: Box, found: Sequence[FieldResult]) -> FieldResult | None:
    """The found field overlapping `box` most, if by MATCH_IOU at least: the field read there."""
    best = max(found, key=lambda f: iou(box, f.box), default=None)
    return best if best is not None and iou(box, best.box) >= MATCH_IOU else None


def score_page(truth: list, found: list[FieldResult], page: int = -1) -> list[Scored]:
    used: set[int] = set()
    scored = []
    for t in truth:
        kind = "box-touching" if t.kind == "box" and t.touching else t.kind
        best, best_iou = None, MATCH_IOU
        for i, f in enumerate(found):
            overlap = iou(t.box, f.box)
            if i not in used and overlap >= best_iou:
                best, best_iou = i, overlap
        if best is None:
            scored.append(Scored(kind, t.value, None, page=page))
        else:
            used.add(best)
            f = found[best]
            scored.append(Scored(kind, t.value, f.value, f.confidence, page, f.readings))
    scored.extend(Scored("extra", None, f.value, f.confidence, page, f.readings)
                  for i, f in enumerate(found) if i not in used)
    return scored


def interval_rows(scored: list[Scored]) -> list[tuple[bool, bool, float]]:
    """Rows for `evaluation.intervals.bootstrap`: (a true field, read right, confidence; -inf
    for a row with no reading: a true field not detected)."""
    return [(f.kind != "extra", f.kind != "extra" and f.read == f.truth,
             f.confidence if f.read is not None else -math.inf) for f in scored]


def _a4_at_200_dpi(page: SyntheticPage) -> bool:
    """The pages segmentation is timed on: forms and order forms (A4; cheques are smaller)
    scanned at 200 dpi."""
    return page.kind != "cheque" and page.style.dpi == 200


def best_segment_ms(images: list[np.ndarray], repeats: int) -> list[float]:
    """Each page's fastest segmentation in `repeats` runs, in ms: less swayed than one run by
    whatever else the machine is doing at that moment."""
    best = [math.inf] * len(images)
    for _ in range(repeats):
        for i, image in enumerate(images):
            started = time.perf_counter()
            segment_fields(image)
            best[i] = min(best[i], 1000 * (time.perf_counter() - started))
    return best


def _progress(what: str, number: int, total: int, started: float) -> None:
    """A line every PROGRESS_EVERY pages: Tesseract takes minutes over the eval's pages."""
    if number > 1 and (number - 1) % PROGRESS_EVERY == 0:
        print(f"  {what}: {number - 1}/{total} pages, {time.perf_counter() - started:.0f} s", flush=True)


def tesseract_read(image: np.ndarray, box: tuple[int, int, int, int]) -> str:
    x, y, w, h = box
    grey = to_grey(image)
    crop = grey[max(0, y) : y + h, max(0, x) : x + w]
    ok, png = cv2.imencode(".png", crop)
    result = subprocess.run(["tesseract", "stdin", "stdout", *TESSERACT_ARGS], input=png.tobytes(),
                            capture_output=True, timeout=60, check=False)
    return "".join(ch for ch in result.stdout.decode(errors="ignore") if ch.isdigit())


def style_digits(style: str, mnist_dir: str | None):  # type: ignore[no-untyped-def]
    """The digit source of a page style: "ours" (MNIST's test digits, our scanner
    randomisation) or "hard" (the test writers of three sets, `synth.scanner.hard_style`)."""
    import synth

    if style == "ours":
        return synth.test_digits(mnist_dir)
    from synth.hands import HandDigits

    return HandDigits(synth.writers_of("test", mnist_dir))


def style_pages(style: str, count: int, seed: int, mnist_dir: str | None) -> list[SyntheticPage]:
    """`count` pages of one style (`style_digits`), the same for the same seed: what `make eval`
    and `make bench-reading` read."""
    from synth.pages import make_page

    digits = style_digits(style, mnist_dir)
    rng = np.random.default_rng(seed)
    return [make_page(digits, rng, style=None if style == "ours" else style) for _ in range(count)]


def most_confident_errors(fields: list[Scored], count: int) -> list[dict]:
    """The `count` wrong rows (misread, missed, or extra) with the highest confidence: the ones
    that decide the straight-through share, for an error study."""
    wrong = [f for f in fields if f.kind == "extra" or f.read != f.truth]
    wrong.sort(key=lambda f: -f.confidence)
    return [{"page": f.page, "kind": f.kind, "truth": f.truth, "read": f.read,
             "confidence": round(f.confidence, 4), "readings": dict(f.readings)} for f in wrong[:count]]


def evaluate_style(style: str, pages: list[SyntheticPage], reader, errors: int = 0) -> dict:  # type: ignore[no-untyped-def]
    from core.settings import DEFAULT_REVIEW_THRESHOLD

    ours = Tally()
    by_page: list[list[tuple[bool, bool, float]]] = []
    kinds = {k: sum(p.kind == k for p in pages) for k in ("form", "cheque", "order")}
    print(f"[{style}] pages: {kinds}; fields: {sum(len(p.fields) for p in pages)}", flush=True)
    run_started = time.perf_counter()
    for number, page in enumerate(pages, start=1):
        _progress(f"[{style}] read", number, len(pages), run_started)
        started = time.perf_counter()
        result = reader.read_page(page.image, None)
        ours.seconds += time.perf_counter() - started
        scored = score_page(page.fields, list(result.fields), number - 1)
        ours.fields.extend(scored)
        by_page.append(interval_rows(scored))
        if _a4_at_200_dpi(page):
            ours.segment_ms_a4_200.append(1000 * result.seconds["segment"])
    thresholds = sorted({0.5, 0.8, 0.9, 0.95, 0.98, 0.99, DEFAULT_REVIEW_THRESHOLD})
    timings = ours.segment_ms_a4_200
    a4_pages = [p.image for p in pages if _a4_at_200_dpi(p)]
    best_of = best_segment_ms(a4_pages, TIMING_REPEATS)
    report = ours.report(thresholds)
    report["intervals"] = bootstrap(by_page, TARGET_ERROR)  # pages drawn again
    if errors:
        report["most_confident_errors"] = most_confident_errors(ours.fields, errors)
    return {"style": style, "pages": len(pages), "ours": report,
            "ours_pages_per_second": len(pages) / ours.seconds,
            "segmentation_ms_a4_200dpi": {
                "pages": len(timings),
                "mean": float(np.mean(timings)) if timings else None,
                "p95": float(np.percentile(timings, 95)) if timings else None,
                f"mean_best_of_{TIMING_REPEATS}": float(np.mean(best_of)) if best_of else None},
            "default_review_threshold": DEFAULT_REVIEW_THRESHOLD}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m evaluation.pages",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=150)
    parser.add_argument("--seed", type=int, default=EVAL_SEED)
    parser.add_argument("--style", choices=(*STYLES, "all"), default="all",
                        help="page style: ours (the original eval pages), hard, or both")
    parser.add_argument("--model", default=None, help="glyph model file (default: the shipped one)")
    parser.add_argument("--mnist-dir", default=None)
    parser.add_argument("--no-tesseract", action="store_true")
    parser.add_argument("--output", type=Path, default=Path("results/eval.json"))
    parser.add_argument("--errors", type=int, default=0,
                        help="print this many wrong fields of each style, most confident first")
    args = parser.parse_args(argv)

    from core.settings import Settings
    from worker.recognition import reader_for

    settings = Settings.from_env()
    if args.model:
        settings = dataclasses.replace(settings, model_path=Path(args.model))
    reader = reader_for(settings)  # one thread, as in a worker process
    styles = STYLES if args.style == "all" else (args.style,)
    report: dict = {"seed": args.seed, "model": reader.version, "styles": {}}
    for style in styles:
        # each style's own seed, whichever styles are asked for: `--style hard` reads the very
        # pages `make eval` does (the "ours" pages are the same as before the styles came)
        seed = args.seed + STYLES.index(style)
        print(f"generating {args.pages} {style} pages (seed {seed})…", flush=True)
        pages = style_pages(style, args.pages, seed, args.mnist_dir)
        result = evaluate_style(style, pages, reader, args.errors)
        result["seed"] = seed
        report["styles"][style] = result
        _print_ours({**result, "model": reader.version})
        if style == "ours" and not args.no_tesseract:
            _tesseract(pages, result)
    write_report(report, args.output)
    return report


def _tesseract(pages: list[SyntheticPage], result: dict) -> None:
    """Tesseract handed the TRUE field boxes of the same pages, for comparison."""
    if not shutil.which("tesseract"):
        print("tesseract is not installed (apt install tesseract-ocr): comparison skipped")
        return
    theirs = Tally()
    print("Tesseract on the true field boxes…", flush=True)
    run_started = time.perf_counter()
    for number, page in enumerate(pages, start=1):
        _progress("Tesseract", number, len(pages), run_started)
        started = time.perf_counter()
        for t in page.fields:
            kind = "box-touching" if t.kind == "box" and t.touching else t.kind
            theirs.fields.append(Scored(kind, t.value, tesseract_read(page.image, t.box)))
        theirs.seconds += time.perf_counter() - started
    result["tesseract"] = theirs.report()
    result["tesseract_pages_per_second"] = len(pages) / theirs.seconds
    _print_theirs(result)


def _print_ours(r: dict) -> None:
    o = r["ours"]
    print(f"\n== this service ({r['model']}), {r['style']} style, {r['pages']} pages, "
          f"{o['fields']} fields ==")
    print(f"field detection: recall {o['detection_recall']:.2%}, precision {o['detection_precision']:.2%}")
    print(f"digit accuracy: {o['digit_accuracy']:.2%}")
    for kind, v in o["exact_match"].items():
        print(f"exact match, {kind:13s}: {v['accuracy']:.2%} of {v['fields']}"
              + (f" ({describe(o['intervals']['exact'])}, pages drawn again)" if kind == "all" else ""))
    for row in o["auto_accept"]["at_thresholds"]:
        print(f"threshold {row['threshold']:.2f}: {row['accepted_share']:.2%} of fields accepted, "
              f"{row['error_among_accepted']:.2%} wrong among them")
    best = o["auto_accept"]["best"]
    if best:
        print(f"lowest threshold with ≤0.5% errors: {best['threshold']:.4f} → "
              f"{best['accepted_share']:.2%} accepted ({best['error_among_accepted']:.2%} wrong; "
              f"{describe(o['intervals']['straight_through'])})")
    print(f"calibration error (confidence against share right, ten bins): {o['calibration_error']:.3f}")
    seg = r["segmentation_ms_a4_200dpi"]
    if seg["mean"] is not None:
        print(f"segmentation, 200-dpi A4: {seg['mean']:.0f} ms mean, {seg['p95']:.0f} ms p95 "
              f"({seg['pages']} pages); each page's best of {TIMING_REPEATS} more runs: "
              f"{seg[f'mean_best_of_{TIMING_REPEATS}']:.0f} ms mean")
    print(f"pages per second (one process, one thread): {r['ours_pages_per_second']:.2f}")
    for row in o.get("most_confident_errors", []):
        readings = ", ".join(f"{k} {v!r}" for k, v in row["readings"].items())
        print(f"  wrong: page {row['page']} {row['kind']} {row['truth']!r} read {row['read']!r} at "
              f"{row['confidence']:.4f}" + (f" ({readings})" if readings else ""))


def _print_theirs(r: dict) -> None:
    t = r["tesseract"]
    print(f"\n== Tesseract 5, digits whitelist, TRUE boxes given, {t['fields']} fields ==")
    print(f"digit accuracy: {t['digit_accuracy']:.2%}")
    for kind, v in t["exact_match"].items():
        print(f"exact match, {kind:13s}: {v['accuracy']:.2%} of {v['fields']}")
    print(f"pages per second: {r['tesseract_pages_per_second']:.2f}")


if __name__ == "__main__":
    main()
