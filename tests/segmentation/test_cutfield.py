"""What the line readers are shown of a field as segmentation found it (`CutField.line_image`)."""

from __future__ import annotations

import numpy as np

from segmentation.pipeline import segment_fields
from synth.pages import make_page
from synth.scanner import random_style


def test_a_comb_is_read_whole_cut_to_its_written_cells(digits) -> None:  # type: ignore[no-untyped-def]
    """A comb's line image is its inside, dividers erased, cut to the ink: the empty cells of a
    long comb are left out, and where the image lies is known (for placing the digits)."""
    rng = np.random.default_rng(5)  # a form whose combs are partly written
    page = make_page(digits, rng, "form", random_style(rng, dpi=200, clean=True))
    combs = [f for f in segment_fields(page.image)[0] if f.kind == "comb" and f.pieces]
    assert combs
    narrower = 0
    for f in combs:
        image, place = f.line_image()
        x0, y0, x1, y1 = f.structure.outer
        assert (place.width, place.height) == (image.shape[1], image.shape[0])
        assert x0 <= place.x0 and place.x0 + place.width <= x1 and y0 <= place.y0
        written = (min(p.x0 for p in f.pieces), max(p.x1 for p in f.pieces))
        assert place.x0 <= written[0] and written[1] <= place.x0 + place.width  # no ink left out
        ink = image < 128
        assert ink.any() and not ink[:, :2].any() and not ink[:, -2:].any()  # paper at both ends
        narrower += place.width < 0.9 * (x1 - x0)
    assert narrower  # the page's combs with empty cells


def test_a_fields_line_image_is_made_once(digits) -> None:  # type: ignore[no-untyped-def]
    """A field read by a line reader more than once (a disputed split box: its first reader,
    then all) is shown the same image, erased and cut once."""
    rng = np.random.default_rng(5)
    page = make_page(digits, rng, "form", random_style(rng, dpi=200, clean=True))
    fields = [f for f in segment_fields(page.image)[0] if f.pieces]
    assert fields
    for f in fields:
        image, place = f.line_image()
        again, place_again = f.line_image()
        assert again is image and place_again == place
