"""`make eval`'s sample forms: handwriting sample forms after NIST's (`synth.sample_form`) read
by the shipped readers. Prints how many digit boxes are found and read exactly, whether a
printed string to copy was read into a field, and how many boxes of writing (words, the
alphabet, a paragraph) came out as sure digit fields: none should.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evaluation import shipped_reading, write_report
from evaluation.pages import matched_field, score_page
from segmentation.results import FieldResult
from synth.sample_form import SampleForm

FORMS_SEED = 20261206  # never a seed the forms were looked at with while building the checks


@dataclass
class FormTally:
    """What the reading of sample forms came to."""

    digit_boxes: int = 0
    found: int = 0
    exact: int = 0
    longer: int = 0  # read with more digits than written: something printed or a line read in
    writing_boxes: int = 0
    writing_found: int = 0
    writing_sure: int = 0  # at or above the review threshold
    writing_most_sure: float = 0.0

    def add(self, form: SampleForm, fields: Sequence[FieldResult], threshold: float) -> None:
        """One form's fields, matched to its drawn boxes as `make eval` matches its pages'."""
        for row in score_page(form.page.fields, list(fields)):
            if row.kind == "extra":
                continue
            self.digit_boxes += 1
            if row.read is not None:
                self.found += 1
                self.exact += row.read == row.truth
                self.longer += len(row.read) > len(row.truth)
        for box in form.writing:
            read = matched_field(box, fields)
            self.writing_boxes += 1
            if read is not None:
                self.writing_found += 1
                self.writing_sure += read.confidence >= threshold
                self.writing_most_sure = max(self.writing_most_sure, read.confidence)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m evaluation.forms", description=__doc__.splitlines()[0])
    parser.add_argument("--forms", type=int, default=20)
    parser.add_argument("--seed", type=int, default=FORMS_SEED)
    parser.add_argument("--mnist-dir", default=None)
    parser.add_argument("--output", type=Path, default=Path("results/eval_forms.json"))
    args = parser.parse_args(argv)

    from synth.sample_form import make_sample_form

    settings, reader, digits = shipped_reading(args.mnist_dir)
    rng = np.random.default_rng(args.seed)
    tally = FormTally()
    for _ in range(args.forms):
        form = make_sample_form(digits, rng)
        tally.add(form, reader.read_page(form.page.image, None).fields, settings.review_threshold)
    t = tally
    print(f"== sample forms ({reader.version}), {args.forms} forms, seed {args.seed} ==")
    print(f"digit boxes: {t.found} of {t.digit_boxes} found, {t.exact} read exactly "
          f"({t.exact / max(t.digit_boxes, 1):.2%}), {t.longer} read with more digits than written")
    print(f"boxes of writing: {t.writing_found} of {t.writing_boxes} found, {t.writing_sure} at or above "
          f"the review threshold {settings.review_threshold} (the surest at {t.writing_most_sure:.3f})")
    report = {"seed": args.seed, "forms": args.forms, "model": reader.version, **vars(t)}
    write_report(report, args.output)
    return report


if __name__ == "__main__":
    main()
