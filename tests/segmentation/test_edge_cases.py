"""Pages that are not what segmentation expects: never a crash, always a clear answer."""

from __future__ import annotations

import numpy as np
import pytest

from segmentation.pipeline import read_page
from segmentation.prepare import PageError
from segmentation.structure import iou
from synth.pages import Canvas, make_page
from synth.scanner import random_style


@pytest.fixture(scope="module")
def clean(digits):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(8)
    return make_page(digits, rng, "form", random_style(rng, dpi=200, clean=True))


def test_blank_page(classify) -> None:  # type: ignore[no-untyped-def]
    result = read_page(np.full((2339, 1654), 250, np.uint8), classify)
    assert result.fields == () and result.warnings == ()


def test_page_without_fields(digits, classify) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(1)
    canvas = Canvas(210, 297, random_style(rng, dpi=150, clean=True), digits, rng)
    for line in range(20):
        canvas.label(f"Dear customer, your reference 4417-{line} of 2026 is confirmed.", 20, 30 + 10 * line)
    canvas.rule(20, 260, 80)
    page = np.clip(255 * (1 - canvas.print), 0, 255).astype(np.uint8)
    assert read_page(page, classify).fields == ()


def test_all_black_page(classify) -> None:  # type: ignore[no-untyped-def]
    result = read_page(np.zeros((1000, 800), np.uint8), classify)
    assert result.fields == ()
    assert any("dark" in w for w in result.warnings)


@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (30, 40), (40, 30, 3)])
def test_tiny_pages(shape, classify) -> None:  # type: ignore[no-untyped-def]
    assert read_page(np.full(shape, 255, np.uint8), classify).fields == ()


def test_a_page_at_the_pixel_limit_and_over_it(classify) -> None:  # type: ignore[no-untyped-def]
    limit = 6_000_000
    page = np.full((3000, 2000), 255, np.uint8)
    page[1000:1100, 500:1200] = 0  # a black bar: a blob, not a field
    assert read_page(page, classify, max_pixels=limit).fields == ()
    with pytest.raises(PageError, match="over the limit of 6.0 Mpx"):
        read_page(np.full((3000, 2001), 255, np.uint8), classify, max_pixels=limit)


def test_one_bit_and_sixteen_bit_scans(clean, classify) -> None:  # type: ignore[no-untyped-def]
    grey = clean.image if clean.image.ndim == 2 else clean.image.min(axis=2)
    eight = read_page(grey, classify)
    one_bit = read_page(grey > 128, classify)  # True = white, as Pillow gives 1-bit images
    sixteen = read_page(grey.astype(np.uint16) * 257, classify)
    for result in (one_bit, sixteen):
        assert len(result.fields) == len(clean.fields)
        for truth in clean.fields:
            assert max(iou(truth.box, f.box) for f in result.fields) >= 0.8
    assert [f.value for f in sixteen.fields] == [f.value for f in eight.fields]
    right = sum(f.value == t.value for f, t in zip(one_bit.fields, clean.fields))
    assert right >= 0.7 * len(clean.fields)


def test_colour_with_alpha_and_float_pages(clean, classify) -> None:  # type: ignore[no-untyped-def]
    rgb = clean.image if clean.image.ndim == 3 else np.dstack([clean.image] * 3)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    assert len(read_page(rgba, classify).fields) == len(clean.fields)
    assert len(read_page(rgb.astype(np.float32) / 255, classify).fields) == len(clean.fields)
    with pytest.raises(PageError):
        read_page(np.zeros((10, 10, 7), np.uint8), classify)


@pytest.mark.parametrize("turns", [1, -1])
def test_a_page_on_its_side_is_reported_and_read(clean, classify, turns) -> None:  # type: ignore[no-untyped-def]
    turned = np.ascontiguousarray(np.rot90(clean.image, turns))
    result = read_page(turned, classify)
    assert result.rotation in (90, 270)
    assert any("on its side" in w for w in result.warnings)
    height, width = clean.image.shape[:2]
    for truth in clean.fields:
        x, y, w, h = truth.box
        expected = (y, width - x - w, h, w) if turns == 1 else (height - y - h, x, h, w)
        assert max(iou(expected, f.box) for f in result.fields) >= 0.8, (truth, expected)
    right = sum(t.value in {f.value for f in result.fields} for t in clean.fields)
    assert right >= 0.7 * len(clean.fields)


def test_a_shifted_glyph_moves_with_paper_coming_in_at_the_edge() -> None:
    from segmentation.fieldread import _shifted

    glyphs = np.arange(2 * 4 * 5, dtype=np.float32).reshape(2, 4, 5) + 1
    down = _shifted(glyphs, 1, 0)
    assert (down[:, 0] == 0).all() and (down[:, 1:] == glyphs[:, :-1]).all()
    left = _shifted(glyphs, 0, -1)
    assert (left[:, :, -1] == 0).all() and (left[:, :, :-1] == glyphs[:, :, 1:]).all()


def test_fields_without_ink_are_reported_empty(classify) -> None:  # type: ignore[no-untyped-def]
    """An empty comb and an empty open box, drawn at 200 dpi: both found, no glyphs, value ""
    with the empty-field confidence."""
    import cv2

    from segmentation.pipeline import EMPTY_FIELD_CONFIDENCE

    page = np.full((400, 700), 245, np.uint8)
    for i in range(7):  # a comb of six 6 × 8 mm cells
        cv2.line(page, (60 + 48 * i, 60), (60 + 48 * i, 124), 30, 3)
    cv2.line(page, (60, 60), (348, 60), 30, 3)
    cv2.line(page, (60, 124), (348, 124), 30, 3)
    cv2.rectangle(page, (60, 220), (360, 292), 30, 3)  # an open box
    result = read_page(cv2.GaussianBlur(page, (0, 0), 0.7), classify)
    assert [(f.kind, len(f.cells)) for f in result.fields] == [("comb", 6), ("box", 0)]
    for f in result.fields:
        assert f.value == "" and f.digits == ()
        assert f.confidence == EMPTY_FIELD_CONFIDENCE


def test_a_box_of_small_writing_is_not_an_empty_field(classify) -> None:  # type: ignore[no-untyped-def]
    """Lines of small, thin handwriting in a box: every mark is a speck beside the box, so no
    glyph is cut, yet the field is not reported empty with confidence; it goes to review."""
    import cv2

    from segmentation.pipeline import EMPTY_FIELD_CONFIDENCE, UNREAD_INK_CONFIDENCE

    page = np.full((500, 900), 245, np.uint8)
    cv2.rectangle(page, (60, 100), (820, 300), 30, 3)
    for k in range(4):
        cv2.putText(page, "I moved here in march with my wife", (80, 140 + 40 * k),
                    cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, 0.6, 40, 1, cv2.LINE_AA)
    (field,) = read_page(cv2.GaussianBlur(page, (0, 0), 0.7), classify).fields
    assert field.value == "" and field.confidence <= UNREAD_INK_CONFIDENCE < EMPTY_FIELD_CONFIDENCE


def test_a_tall_box_of_writing_whose_marks_are_no_digits_is_not_an_empty_field() -> None:
    """Two lines of writing in a tall box (a form's paragraph box): the marks are kept, none is
    as tall as a digit would be in such a box and none is read as a digit, so the value is
    empty; the field holds writing all the same and goes to review (a dash alone stays a
    trusted empty field: test_cut)."""
    import cv2

    from segmentation.pipeline import UNREAD_INK_CONFIDENCE

    def no_digit_at_all(glyphs: np.ndarray) -> np.ndarray:
        out = np.zeros((len(glyphs), 11), np.float32)
        out[:, 10], out[:, 0] = 0.99, 0.01
        return out

    page = np.full((1400, 2400), 245, np.uint8)
    cv2.rectangle(page, (170, 500), (2350, 970), 30, 4)
    lines = ("We the People of the United States,", "in Order to form a more perfect Union")
    for k, words in enumerate(lines):
        cv2.putText(page, words, (200, 620 + 110 * k), cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, 2.2, 30, 5,
                    cv2.LINE_AA)
    (field,) = read_page(cv2.GaussianBlur(page, (0, 0), 0.7), no_digit_at_all).fields
    assert field.value == "" and field.confidence <= UNREAD_INK_CONFIDENCE
