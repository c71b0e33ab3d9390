"""Segmentation on generated pages: boxes where the truth has them, glyph counts, values."""

from __future__ import annotations

import numpy as np
import pytest

from segmentation.pipeline import read_page, segment_fields
from segmentation.structure import iou
from synth.pages import make_page
from synth.scanner import random_style

KINDS = ("form", "cheque", "order")


@pytest.fixture(scope="module")
def degraded_pages(digits):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(2026)
    return [make_page(digits, rng, KINDS[i % 3]) for i in range(12)]


def _matches(truth, found):  # type: ignore[no-untyped-def]
    return max(found, key=lambda f: iou(f.structure.page_box, truth.box))


def test_every_field_is_found_where_it_is(degraded_pages) -> None:  # type: ignore[no-untyped-def]
    for page in degraded_pages:
        fields, skew, _, on_side = segment_fields(page.image)
        assert not on_side
        assert len(fields) == len(page.fields), (page.kind, page.style)
        for truth in page.fields:
            best = _matches(truth, fields)
            assert iou(best.structure.page_box, truth.box) >= 0.8, (truth, best.structure.page_box)
            assert best.structure.kind == truth.kind
            if truth.kind == "comb":
                assert len(best.structure.walls) - 1 == truth.cells
        assert abs(abs(skew) - abs(page.style.skew_deg)) < 0.6


def test_glyph_counts(degraded_pages, classify) -> None:  # type: ignore[no-untyped-def]
    """Comb cells hold exactly their glyphs; open boxes are never cut into fragments, and a
    box whose digits the scan's blur and pen ran together (apart on the generator's clean
    masks) still reads as the right number of digits once recognition has split it."""
    combs = boxes = 0
    for page in degraded_pages:
        fields, _, _, _ = segment_fields(page.image)
        result = read_page(page.image, classify)
        for truth in page.fields:
            best = _matches(truth, fields)
            if truth.kind == "comb":
                filled = [i for i, v in enumerate(truth.cell_values) if v]
                assert [p.cell for p in best.pieces] == filled, truth
                combs += 1
            elif not truth.touching:
                assert len(best.pieces) <= len(truth.value), truth
                read = max(result.fields, key=lambda f: iou(f.box, truth.box))
                assert len(read.value) == len(truth.value), (truth, read.value)
                boxes += 1
    assert combs > 10 and boxes > 5


def _centre(box: tuple[int, int, int, int]) -> tuple[float, float]:
    x, y, w, h = box
    return x + w / 2, y + h / 2


def _inside(point: tuple[float, float], box: tuple[int, int, int, int], margin: int = 0) -> bool:
    x, y, w, h = box
    return x - margin <= point[0] <= x + w + margin and y - margin <= point[1] <= y + h + margin


def test_cells_and_digits_are_boxed_on_the_page_as_given(degraded_pages, classify) -> None:  # type: ignore[no-untyped-def]
    """On skewed, degraded scans: a comb's cells, left to right inside its box, hold the
    digits of the filled cells; an open box's digits lie where they were written."""
    combs = boxes = 0
    for page in degraded_pages:
        result = read_page(page.image, classify)
        for truth in page.fields:
            found = max(result.fields, key=lambda f: iou(f.box, truth.box))
            if truth.kind == "comb":
                assert len(found.cells) == truth.cells
                assert all(_inside(_centre(c), found.box) for c in found.cells)
                assert [c[0] for c in found.cells] == sorted(c[0] for c in found.cells)
                holding = [next(i for i, c in enumerate(found.cells) if _inside(_centre(d.box), c))
                           for d in found.digits]
                assert holding == [i for i, v in enumerate(truth.cell_values) if v], truth
                combs += 1
            elif not truth.touching and len(found.digits) == len(truth.value):
                assert found.cells == ()
                for digit, written in zip(found.digits, truth.digit_centres):
                    assert _inside(written, digit.box, margin=2), (truth, digit.box, written)
                boxes += 1
    assert combs > 10 and boxes > 5


def test_values_on_clean_pages(digits, classify) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(77)
    right = total = 0
    for kind in KINDS:
        page = make_page(digits, rng, kind, random_style(rng, dpi=200, clean=True))
        result = read_page(page.image, classify)
        assert [f.name for f in result.fields] == [f"field_{i}" for i in range(1, len(result.fields) + 1)]
        for truth in page.fields:
            best = max(result.fields, key=lambda f: iou(f.box, truth.box))
            total += 1
            right += best.value == truth.value
            assert 0.0 <= best.confidence <= 1.0
            assert all(0 <= d.confidence <= 1 and len(d.value) == 1 for d in best.digits)
    assert right >= 0.9 * total, (right, total)


def test_touching_digits_are_split_by_recognition(digits, classify) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(5)
    style = random_style(rng, dpi=200, clean=True)
    import dataclasses

    style = dataclasses.replace(style, touching_share=1.0)
    right = total = 0
    for _ in range(4):
        page = make_page(digits, rng, "order", style)
        result = read_page(page.image, classify)
        for truth in page.fields:
            if truth.kind == "box" and truth.touching:
                best = max(result.fields, key=lambda f: iou(f.box, truth.box))
                total += 1
                right += best.value == truth.value
    assert total >= 10
    assert right >= 0.8 * total, (right, total)


def test_reading_order_and_template_names(digits, classify, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from segmentation.templates import load_template

    rng = np.random.default_rng(3)
    page = make_page(digits, rng, "cheque", random_style(rng, dpi=200, clean=True))
    template_path = tmp_path / "cheque.json"
    template_path.write_text('{"name": "cheque", "regions": ['
                             '{"name": "date", "x": 0.6, "y": 0.0, "width": 0.4, "height": 0.3},'
                             '{"name": "amount", "x": 0.65, "y": 0.3, "width": 0.35, "height": 0.3}]}')
    result = read_page(page.image, classify, load_template(template_path))
    names = [f.name for f in result.fields]
    assert names[:2] == ["date", "amount"]
    assert names[2] == "field_3"  # outside every region: numbered in reading order
    # One region over the whole page: every field falls in it, and each keeps a name of its own.
    template_path.write_text('{"name": "all", "regions": [{"name": "amount", "x": 0, "y": 0, '
                             '"width": 1, "height": 1}]}')
    result = read_page(page.image, classify, load_template(template_path))
    assert [f.name for f in result.fields] == ["amount", "amount_2", "amount_3"]


def test_names_met_again_are_numbered_around_names_taken() -> None:
    from segmentation.pipeline import distinct

    assert distinct(["date", "amount", "amount", "field_4", "amount"]) == \
        ["date", "amount", "amount_2", "field_4", "amount_3"]
    assert distinct(["amount", "amount", "amount_2"]) == ["amount", "amount_3", "amount_2"]
