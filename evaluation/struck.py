"""Writing struck through, measured: generated pages on which half the written fields are
struck through with the writer's pen, read by the shipped readers.

A struck field must not come out sure (its value was cancelled): prints how many struck fields
came out at or above the review threshold (and how many of those with a wrong value), how many
are marked struck (`segmentation.strike`), and, for the fields left alone on the same pages,
how many are sure and how many marked (none should be). `--mark x` draws an X across the box
instead of a line through the writing.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from evaluation import shipped_reading, write_report
from evaluation.pages import matched_field
from segmentation.results import FieldResult
from synth import pages as synth_pages
from synth.pages import Canvas, TruthField
from synth.scanner import degrade, hard_style, random_style

STRUCK_SEEDS = (5, 7, 8, 9)  # the seeds the check was built on (README, "Writing struck through")
STRUCK_SHARE = 0.5  # of the written fields on a page, struck through


@dataclass
class StruckTally:
    """Struck and untouched fields: how many, sure (at or above the threshold), sure and wrong,
    marked struck."""

    struck: int = 0
    struck_sure: int = 0
    struck_sure_wrong: int = 0
    struck_marked: int = 0
    untouched: int = 0
    untouched_sure: int = 0
    untouched_marked: int = 0

    def add(self, truth: TruthField, read: FieldResult | None, struck: bool, threshold: float) -> None:
        sure = read is not None and read.confidence >= threshold
        marked = read is not None and read.struck
        if struck:
            self.struck += 1
            self.struck_sure += sure
            self.struck_sure_wrong += sure and read is not None and read.value != truth.value
            self.struck_marked += marked
        else:
            self.untouched += 1
            self.untouched_sure += sure
            self.untouched_marked += marked


def strike_out(canvas: Canvas, field: TruthField, mark: str, rng: np.random.Generator) -> None:
    """A pen line across the box at the height of the writing, a little slanted (`line`), or an
    X from corner to corner (`x`), in the canvas's ink."""
    x, y, w, h = field.box
    pen = max(2, canvas.px(canvas.style.pen_mm))
    if mark == "x":
        cv2.line(canvas.ink, (x + 4, y + 4), (x + w - 4, y + h - 4), 1.0, pen)
        cv2.line(canvas.ink, (x + 4, y + h - 4), (x + w - 4, y + 4), 1.0, pen)
        return
    start = y + h // 2 + int(rng.integers(-h // 8, h // 8 + 1))
    end = start + int(rng.integers(-h // 6, h // 6 + 1))
    cv2.line(canvas.ink, (x + w // 12, start), (x + w - w // 12, end), 1.0, pen)


def read_struck_pages(reader, digits, seed: int, pages: int, style: str, mark: str,  # type: ignore[no-untyped-def]
                      tally: StruckTally, threshold: float) -> None:
    """`pages` pages (forms, cheques, order forms in turn) drawn by `seed`, half their written
    fields struck, read by `reader` and counted into `tally`."""
    rng = np.random.default_rng(seed)
    for n in range(pages):
        kind = synth_pages.KINDS[n % len(synth_pages.KINDS)]
        page_style = dataclasses.replace(hard_style(rng) if style == "hard" else random_style(rng),
                                         skew_deg=0.0)
        width_mm, height_mm, draw = synth_pages.LAYOUTS[kind]
        canvas = Canvas(width_mm, height_mm, page_style, digits, rng)
        draw(canvas)
        struck = set()
        for field in canvas.fields:
            if field.value and rng.random() < STRUCK_SHARE:
                strike_out(canvas, field, mark, rng)
                struck.add(field.name)
        image = degrade(synth_pages.compose(canvas), page_style, rng)
        fields = reader.read_page(image, None).fields
        for field in canvas.fields:
            tally.add(field, matched_field(field.box, fields), field.name in struck, threshold)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m evaluation.struck", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(STRUCK_SEEDS))
    parser.add_argument("--pages", type=int, default=6, help="pages of each seed")
    parser.add_argument("--style", choices=("ours", "hard"), default="ours")
    parser.add_argument("--mark", choices=("line", "x"), default="line")
    parser.add_argument("--mnist-dir", default=None)
    parser.add_argument("--output", type=Path, default=Path("results/eval_struck.json"))
    args = parser.parse_args(argv)

    settings, reader, digits = shipped_reading(args.mnist_dir)
    tally = StruckTally()
    for seed in args.seeds:
        read_struck_pages(reader, digits, seed, args.pages, args.style, args.mark, tally,
                          settings.review_threshold)
    t, at = tally, settings.review_threshold
    print(f"== fields struck through ({args.mark}; {reader.version}), {args.style} style, seeds "
          f"{' '.join(map(str, args.seeds))}, {args.pages} pages each ==")
    print(f"struck: {t.struck} fields, {t.struck_sure} sure (at or above {at}), {t.struck_sure_wrong} "
          f"of them wrong; {t.struck_marked} marked struck")
    print(f"left alone: {t.untouched} fields, {t.untouched_sure} sure; {t.untouched_marked} marked struck")
    report = {"seeds": args.seeds, "pages": args.pages, "style": args.style, "mark": args.mark,
              "model": reader.version, "threshold": at, **vars(t)}
    write_report(report, args.output)
    return report


if __name__ == "__main__":
    main()
