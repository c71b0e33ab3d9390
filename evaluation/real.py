"""`make eval-real`: the service on paper it did not make, and on writers it never saw.

1. Real cheque amounts (`<real data>/orand_car_a_dev`: 460 amount fields cut from real bank
   cheques, ORAND-CAR-A), each image read as the service reads an upload with
   `layout=field`. Also each reader alone, PP-OCR's recogniser (RapidOCR's) among them, and
   the service on the same images framed more loosely (LOOSE_SHARES of paper around them),
   with a box's walls left in, in a drawn box (also with paper around the box), thresholded
   to black and white, as cheque imaging often stores them, with a currency sign or a label
   word printed before them (`PRINTED_SIGNS`, `PRINTED_LABELS`) and between pen-drawn "#"
   delimiters.
2. Held-out writers: isolated digits of UNIPEN's test writers and of optdigits' 13 other
   writers through the glyph classifier; and numbers written by those hands (synthetic
   fields, `synth.strings`) through field mode, framed as trained on and more loosely.

Printed for each: exact match, digit accuracy, the share that can go straight through with at
most 0.5% errors among it and the threshold that does it, and fields per second; for field
sets, the 90% bootstrap intervals of exact match and of that share (`evaluation.intervals`). For
the cheques, the service's figures again with the labels that are visibly not what is written
corrected (`evaluation/orand_errata.json`, judged by eye). None of these images is ever used to
train or calibrate anything (`../shared/data/real/README.md`).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from evaluation import write_report
from evaluation.intervals import bootstrap, describe
from evaluation.pages import (
    TARGET_ERROR,
    Scored,
    auto_accept,
    calibration_error,
    edit_distance,
    interval_rows,
)
from synth import test_writers_numbers
from synth.strings import LOOSE_FRAMING

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REAL_DIR = PROJECT_ROOT.parent / "shared" / "data" / "real"
CHEQUES = "orand_car_a_dev"
SYNTHETIC_FIELDS = 600  # numbers written by held-out hands, read through field mode
SYNTHETIC_SEED = 424242
DIGIT_HEIGHT = 40  # isolated held-out digits are drawn this tall (px) before being cut
# Field images framed more loosely than they come: paper of the crop's own median grey added
# above and below (these shares of its height) and twice as much beside, as a capture step
# that cuts a region generously around the writing would leave (`segmentation.fieldread.as_read`).
LOOSE_SHARES = (0.25, 0.5)
LOOSE_FIELDS = 300  # held-out writers' numbers framed loosely (`synth.strings.LOOSE_FRAMING`)
# Labels visibly not what is written, by set: the service's figures are printed on the labels
# as given, then corrected by these (never used for anything but that second line).
ERRATA = {CHEQUES: PROJECT_ROOT / "evaluation" / "orand_errata.json"}


def real_dir() -> Path:
    return Path(os.environ.get("REAL_DATA_DIR") or DEFAULT_REAL_DIR)


@dataclass
class Result:
    name: str
    truths: list[str]
    values: list[str]
    confidences: list[float]
    seconds: float

    def report(self) -> dict:
        n = max(1, len(self.truths))
        digits = sum(len(t) for t in self.truths)
        errors = sum(min(len(t), edit_distance(v, t)) for t, v in zip(self.truths, self.values))
        rows = [Scored("field", t, v, c) for t, v, c in zip(self.truths, self.values, self.confidences)]
        best = auto_accept(rows, [])["best"]
        right = np.array([t == v for t, v in zip(self.truths, self.values)])
        confidence = np.array(self.confidences, np.float64)
        intervals = bootstrap([interval_rows([row]) for row in rows], TARGET_ERROR)  # fields drawn again
        return {"name": self.name, "fields": len(self.truths), "intervals": intervals,
                "exact": sum(t == v for t, v in zip(self.truths, self.values)) / n,
                "calibration_error": calibration_error(confidence, right),
                "wrong_above_0.95": int(((~right) & (confidence > 0.95)).sum()),
                "digit_accuracy": 1 - errors / max(1, digits),
                "straight_through": best["accepted_share"] if best else 0.0,
                "threshold": best["threshold"] if best else None,
                "fields_per_second": len(self.truths) / max(self.seconds, 1e-9)}


def print_row(r: dict) -> None:
    threshold = f"{r['threshold']:.4f}" if r["threshold"] is not None else "  none"
    print(f"{r['name']:34s} exact {r['exact']:7.2%}  digits {r['digit_accuracy']:7.2%}  "
          f"straight through {r['straight_through']:7.2%} at {threshold}  "
          f"calibration error {r['calibration_error']:.3f}, {r['wrong_above_0.95']} wrong above 0.95  "
          f"{r['fields_per_second']:7.1f} fields/s  ({r['fields']})", flush=True)
    exact, through = r["intervals"]["exact"], r["intervals"]["straight_through"]
    print(f"{'':34s} {describe(exact)} exact, {describe(through)} straight through (fields drawn again)",
          flush=True)


def load_cheques(folder: Path) -> tuple[list[str], list[np.ndarray], list[str]]:
    truth = json.loads((folder / "truth.json").read_text())
    names = sorted(truth)
    images = []
    for name in names:
        image = cv2.imread(str(folder / "images" / name), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise SystemExit(f"{folder / 'images' / name}: cannot be read")
        images.append(image)
    return names, images, [truth[n] for n in names]


def load_errata(folder: Path) -> dict[str, str]:
    """File name -> the value written, for the labels of the set `folder` that are visibly not
    what is written (`evaluation/<set>_errata.json`, judged by eye; empty when there is none)."""
    path = ERRATA.get(folder.name)
    if path is None or not path.is_file():
        return {}
    data = json.loads(path.read_text())
    return {name: entry["written"] for name, entry in data["corrections"].items()}


def framed_loosely(image: np.ndarray, share: float) -> np.ndarray:
    """The field image with paper of its median grey (or colour) around it: `share` of its
    height above and below, twice that left and right."""
    h = image.shape[0]
    channels = image.shape[2] if image.ndim == 3 else 1
    paper = np.median(image.reshape(-1, channels), axis=0)
    above, beside = int(share * h), int(2 * share * h)
    return cv2.copyMakeBorder(image, above, above, beside, beside, cv2.BORDER_CONSTANT,
                              value=np.atleast_1d(paper).tolist())


def with_walls(image: np.ndarray) -> np.ndarray:
    """The field image framed loosely (+0.25 h) with a box's two walls left in it, 3 px in from
    each side, as a form's box cut out with its sides is (`segmentation.fields.without_box_lines`)."""
    out, ink, pen = _framed_for_lines(image)
    h, w = out.shape[:2]
    for x in (3, w - 4):
        cv2.line(out, (x, 0), (x, h - 1), ink, pen)
    return out


def in_a_box(image: np.ndarray) -> np.ndarray:
    """The field image framed loosely (+0.25 h) in a drawn box 3 px in from its edges, as a
    form's box cut out whole is."""
    out, ink, pen = _framed_for_lines(image)
    h, w = out.shape[:2]
    cv2.rectangle(out, (3, 3), (w - 4, h - 4), ink, pen)
    return out


def box_with_paper_around(image: np.ndarray) -> np.ndarray:
    """The field image in a drawn box (`in_a_box`), framed loosely again (+0.25 of the box's
    height): a form's box cut out generously, lying well inside the image."""
    return framed_loosely(in_a_box(image), LOOSE_SHARES[0])


# Printed before the amounts of the "printed sign" row, in turn: in a TrueType font the string
# reader never trained on (its training signs are Hershey fonts, `synth.marks.SIGNS`), and
# signs it never saw at all ("€", "£").
PRINTED_SIGNS = ("$", "R$", "€", "EUR", "£")
SIGN_EM = 0.6  # the signs' font size, of the crop's height: their capitals about the digits' height
# Printed before the amounts of the "printed label" row, in turn: words a form prints before an
# amount box, nothing like any of the string reader's training labels (`synth.marks.LABELS`: no
# three letters in a row shared, no word within two edits), in the same unseen font, smaller
# than the writing as forms print them: their capitals about half the digits' height (ORAND's
# digits fill ~0.8 of a crop's height).
PRINTED_LABELS = ("Total:", "Amount", "Valor", "Montant")
LABEL_EM = 0.5


def with_printed_sign(image: np.ndarray, index: int) -> np.ndarray:
    """The field image with the `index`-th currency sign (in turn) printed before it."""
    return printed_before(image, PRINTED_SIGNS[index % len(PRINTED_SIGNS)], SIGN_EM)


def with_printed_label(image: np.ndarray, index: int) -> np.ndarray:
    """The field image with the `index`-th label word (in turn) printed before it."""
    return printed_before(image, PRINTED_LABELS[index % len(PRINTED_LABELS)], LABEL_EM)


def printed_before(image: np.ndarray, text: str, em: float) -> np.ndarray:
    """The field image (grey) with `text` printed before it, its font size `em` of the image's
    height, in DejaVu Sans (matplotlib's own font file), a quarter of the height apart."""
    from matplotlib import font_manager
    from PIL import Image, ImageDraw, ImageFont

    from reading.lines import grey

    g = grey(image)
    h = g.shape[0]
    font = ImageFont.truetype(font_manager.findfont("DejaVu Sans"), max(6, int(em * h)))
    left, top, right, bottom = font.getbbox(text)
    pad = Image.new("L", (right - left + h // 4 + 2, h), int(np.median(g)))
    ImageDraw.Draw(pad).text((1 - left, (h - (bottom - top)) // 2 - top), text, fill=25, font=font)
    return np.hstack([np.asarray(pad), g])


def between_delimiters(image: np.ndarray) -> np.ndarray:
    """The field image (grey) between two pen-drawn "#" marks, as some cheques ask amounts to
    be written, in the crop's own ink width."""
    from reading.lines import grey

    g = grey(image)
    h = g.shape[0]
    pad = np.full((h, h // 2), int(np.median(g)), np.uint8)
    pen = max(2, h // 20)
    for x in (h // 8, h // 3):
        cv2.line(pad, (x + 3, int(0.25 * h)), (x - 3, int(0.8 * h)), 30, pen, cv2.LINE_AA)
    for y in (int(0.42 * h), int(0.63 * h)):
        cv2.line(pad, (2, y), (h // 2 - 3, y), 30, pen, cv2.LINE_AA)
    return np.hstack([pad, g, pad])


def _framed_for_lines(image: np.ndarray) -> tuple[np.ndarray, tuple[int, ...] | int, int]:
    """The field image framed loosely (+0.25 h), and the ink and pen width of box lines drawn
    on it."""
    out = framed_loosely(image, LOOSE_SHARES[0])
    return out, (30, 30, 30) if out.ndim == 3 else 30, max(1, out.shape[0] // 30)


def bilevel(image: np.ndarray) -> np.ndarray:
    """The field image as a bilevel scan of it: grey (the darkest channel, as the service reads
    colour), thresholded by Otsu's method (0 or 255)."""
    from reading.lines import grey

    return cv2.threshold(grey(image), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[1]


def through_service(reader, images: Sequence[np.ndarray], truths: list[str], name: str) -> Result:  # type: ignore[no-untyped-def]
    """Each image read as an upload with layout=field is."""
    values, confidences = [], []
    started = time.perf_counter()
    for image in images:
        field = reader.read_field(image).fields[0]
        values.append(field.value)
        confidences.append(field.confidence)
    return Result(name, truths, values, confidences, time.perf_counter() - started)


def line_reader_alone(line_reader, images: Sequence[np.ndarray], truths: list[str], name: str) -> Result:  # type: ignore[no-untyped-def]
    """One CTC reader on its own: its best path, and the probability it gives that value."""
    from reading import ctc

    started = time.perf_counter()
    folded = line_reader.read(list(images))
    values = [ctc.best_path(f) for f in folded]
    confidences = [ctc.probability(ctc.log_prob(f, v)) for f, v in zip(folded, values)]
    return Result(name, truths, values, confidences, time.perf_counter() - started)


def cut_alone(reader, images: Sequence[np.ndarray], truths: list[str], name: str) -> Result:  # type: ignore[no-untyped-def]
    """The glyph classifier on its own (no line readers), through field mode."""
    from worker.recognition import Reader

    alone = Reader(reader.recognizer, (), reader.calibration, reader.max_pixels)
    return through_service(alone, images, truths, name)


def held_out_digits(classify: Callable[[np.ndarray], np.ndarray]) -> list[dict]:
    """Isolated digits of writers never trained on, drawn and cut as a page's glyphs are."""
    from segmentation.glyph import to_mnist
    from synth.hands import draw_strokes, load_unipen, optdigits_bitmaps, part_indices

    out = []
    unipen = load_unipen()
    chosen = part_indices(unipen, "test")  # trajectories that lost strokes left out
    glyphs = np.stack([to_mnist(draw_strokes(unipen.strokes(i), DIGIT_HEIGHT, DIGIT_HEIGHT * 0.08))
                       for i in chosen])
    labels = unipen.labels[chosen]
    by_writer = np.array([unipen.writers[i] for i in chosen], dtype=object)
    writers = len(set(by_writer))
    out.append(_digits_row(f"UNIPEN test writers ({writers})", classify, glyphs, labels, by_writer))
    bitmaps = optdigits_bitmaps((2,))
    glyphs = np.stack([to_mnist(b) for b in bitmaps.images])
    labels = np.concatenate([np.full(len(ix), d) for d, ix in enumerate(bitmaps.by_label)])
    order = np.concatenate(bitmaps.by_label)
    out.append(_digits_row("optdigits other writers (13)", classify, glyphs[order], labels))
    return out


def _digits_row(name: str, classify: Callable[[np.ndarray], np.ndarray], glyphs: np.ndarray,
                labels: np.ndarray, writers: np.ndarray | None = None) -> dict:
    """The classifier's figures on one set of isolated digits, with their intervals: the
    `writers` drawn again when each digit's writer is known (a writer's digits err together),
    else the digits."""
    started = time.perf_counter()
    probs = np.asarray(classify(glyphs.astype(np.float32)))
    seconds = time.perf_counter() - started
    read = probs[:, :10].argmax(axis=1)
    confidence = probs[np.arange(len(read)), read]
    right = read == labels
    rows = [Scored("digit", str(t), str(r), float(c)) for t, r, c in zip(labels, read, confidence)]
    best = auto_accept(rows, [])["best"]
    wrong_sure = int(((~right) & (confidence > 0.95)).sum())
    keys = writers if writers is not None else np.arange(len(labels))
    groups: dict[object, list[Scored]] = {}
    for key, row in zip(keys.tolist(), rows):
        groups.setdefault(key, []).append(row)
    intervals = bootstrap([interval_rows(g) for g in groups.values()], TARGET_ERROR)
    return {"name": name, "digits": int(len(labels)), "accuracy": float(right.mean()),
            "intervals": intervals, "drawn_again": "writers" if writers is not None else "digits",
            "straight_through": best["accepted_share"] if best else 0.0,
            "threshold": best["threshold"] if best else None,
            "errors_above_0.95": wrong_sure, "errors": int((~right).sum()),
            "digits_per_second": len(labels) / max(seconds, 1e-9)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m evaluation.real", description=__doc__.splitlines()[0])
    parser.add_argument("--real-dir", type=Path, default=None,
                        help="default: $REAL_DATA_DIR, else ../shared/data/real")
    parser.add_argument("--synthetic", type=int, default=SYNTHETIC_FIELDS)
    parser.add_argument("--output", type=Path, default=PROJECT_ROOT / "results" / "eval_real.json")
    parser.add_argument("--errors", type=int, default=0, help="print this many wrong cheque readings")
    args = parser.parse_args(argv)

    from core.settings import Settings
    from worker.recognition import reader_for

    settings = Settings.from_env()
    reader = reader_for(settings)
    print(f"readers: {reader.version}", flush=True)
    report: dict = {"readers": reader.version, "target_error": TARGET_ERROR}
    folder = (args.real_dir or real_dir()) / CHEQUES
    if folder.is_dir():
        names, images, truths = load_cheques(folder)
        print(f"\n== real cheque amounts ({folder.name}, {len(images)} fields, layout=field) ==", flush=True)
        service = through_service(reader, images, truths, "this service (all readers)")
        rows = [service.report(), cut_alone(reader, images, truths, "glyph classifier alone").report()]
        rows += [line_reader_alone(r, images, truths, f"{r.name} alone"
                                   + (" (= RapidOCR, digits only)" if r.name == "ppocr" else "")).report()
                 for r in reader.lines]
        for row in rows:
            print_row(row)
        report["cheques"] = rows
        for share in LOOSE_SHARES:
            loose = [framed_loosely(image, share) for image in images]
            row = through_service(reader, loose, truths, f"this service, framed +{share:g} h").report()
            print_row(row)
            report.setdefault("cheques_framed_loosely", []).append(row)
        signed = [with_printed_sign(image, i) for i, image in enumerate(images)]  # signs in turn
        labelled = [with_printed_label(image, i) for i, image in enumerate(images)]
        for key, name, changed in (("cheques_walls", "a box's walls left in", list(map(with_walls, images))),
                                   ("cheques_in_a_box", "in a drawn box", list(map(in_a_box, images))),
                                   ("cheques_box_with_paper_around", "a box with paper around",
                                    list(map(box_with_paper_around, images))),
                                   ("cheques_bilevel", "bilevel (Otsu)", list(map(bilevel, images))),
                                   ("cheques_printed_sign", "a sign printed before", signed),
                                   ("cheques_printed_label", "a label printed before", labelled),
                                   ("cheques_delimited", "between '#' marks",
                                    list(map(between_delimiters, images)))):
            row = through_service(reader, changed, truths, f"this service, {name}").report()
            print_row(row)
            report[key] = row
        errata = load_errata(folder)
        if errata:
            corrected = [errata.get(n, t) for n, t in zip(names, truths)]
            fixed = Result(f"this service, {len(errata)} labels corrected", corrected, service.values,
                           service.confidences, service.seconds).report()
            print_row(fixed)
            print(f"{'':34s} (labels visibly not what is written: {ERRATA[folder.name].name})", flush=True)
            report["cheques_labels_corrected"] = fixed
        wrong = [(n, t, v, round(c, 3))
                 for n, t, v, c in zip(names, truths, service.values, service.confidences) if t != v]
        for row in sorted(wrong, key=lambda w: -w[3])[: args.errors]:
            print("  wrong:", *row)
    else:
        print(f"{folder}: not found, real cheques skipped (set REAL_DATA_DIR)")
    print("\n== held-out writers, isolated digits (glyph classifier) ==", flush=True)
    report["held_out_digits"] = held_out_digits(reader._classify)
    for row in report["held_out_digits"]:
        threshold = f"{row['threshold']:.4f}" if row["threshold"] is not None else "none"
        print(f"{row['name']:34s} accuracy {row['accuracy']:7.2%}  straight through "
              f"{row['straight_through']:7.2%} at {threshold}  errors {row['errors']} "
              f"({row['errors_above_0.95']} above 0.95)  ({row['digits']})", flush=True)
        print(f"{'':34s} {describe(row['intervals']['exact'])} accuracy, "
              f"{describe(row['intervals']['straight_through'])} straight through "
              f"({row['drawn_again']} drawn again)", flush=True)
    if args.synthetic:
        print(f"\n== held-out writers, written numbers ({args.synthetic} synthetic fields, layout=field) ==",
              flush=True)
        images, truths = test_writers_numbers(args.synthetic, SYNTHETIC_SEED)
        row = through_service(reader, images, truths, "this service (all readers)").report()
        print_row(row)
        report["held_out_fields"] = row
        images, truths = test_writers_numbers(LOOSE_FIELDS, SYNTHETIC_SEED, framing=LOOSE_FRAMING)
        row = through_service(reader, images, truths, "the same hands, framed loosely").report()
        print_row(row)
        report["held_out_fields_framed_loosely"] = row
    print()
    write_report(report, args.output)
    return report


if __name__ == "__main__":
    main()
