"""The sample forms' tally: digit boxes found, read exactly or with digits added; boxes of
writing left sure."""

from __future__ import annotations

import numpy as np

from evaluation.forms import FormTally
from segmentation.results import FieldResult
from synth.pages import SyntheticPage, TruthField
from synth.sample_form import SampleForm
from synth.scanner import Style


def test_the_tally_counts_found_exact_longer_and_sure_writing() -> None:
    truth = [TruthField("copy_1", "box", (10, 10, 100, 40), "0124"),
             TruthField("copy_2", "box", (200, 10, 60, 40), "99"),
             TruthField("copy_3", "box", (300, 10, 60, 40), "31")]
    page = SyntheticPage(np.zeros((100, 400), np.uint8), truth, "sample", Style(dpi=300))
    form = SampleForm(page, [(10, 60, 300, 30), (10, 200, 300, 30)])
    read = [FieldResult("field_1", "box", (12, 11, 100, 40), (), "10124", 0.97, ()),
            FieldResult("field_2", "box", (200, 10, 60, 40), (), "99", 0.99, ()),
            FieldResult("field_3", "box", (10, 61, 300, 30), (), "", 0.96, ()),
            FieldResult("field_4", "box", (11, 200, 300, 30), (), "0510", 0.1, ())]
    tally = FormTally()
    tally.add(form, read, threshold=0.95)
    assert (tally.digit_boxes, tally.found, tally.exact, tally.longer) == (3, 2, 1, 1)
    assert (tally.writing_boxes, tally.writing_found, tally.writing_sure) == (2, 2, 1)
    assert tally.writing_most_sure == 0.96
