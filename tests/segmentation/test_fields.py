"""Fields with no drawn box: a whole image, or a region of a page; and what line readers see of
a drawn box (its inside, lines erased)."""

from __future__ import annotations

import cv2
import numpy as np

from segmentation.fieldread import as_read, undrawn_field
from segmentation.fields import (
    INK_MARGIN,
    field_structure,
    ink_extent,
    inside_image,
    smoothed_if_bilevel,
    without_box_lines,
)
from segmentation.pipeline import read_field, segment_fields


def _written(text: str, size: tuple[int, int] = (50, 180)) -> np.ndarray:
    image = np.full(size, 235, np.uint8)
    cv2.putText(image, text, (8, size[0] - 12), cv2.FONT_HERSHEY_SIMPLEX, 1.1, 30, 3, cv2.LINE_AA)
    return image


def test_a_field_image_is_one_field_whose_box_is_the_whole_image(classify) -> None:  # type: ignore[no-untyped-def]
    image = _written("3051")
    page = read_field(image, classify)
    (field,) = page.fields
    assert (field.name, field.kind, field.box) == ("field_1", "field", (0, 0, 180, 50))
    assert (page.width, page.height) == (180, 50)
    for digit in field.digits:  # digit boxes lie inside the image, left to right
        x, y, w, h = digit.box
        assert 0 <= x and x + w <= 180 + 2 and 0 <= y and y + h <= 50 + 2
    assert [d.box[0] for d in field.digits] == sorted(d.box[0] for d in field.digits)


def test_a_region_of_a_page_maps_its_boxes_back_to_the_page() -> None:
    s = field_structure(np.full((40, 100), 255, np.uint8), origin=(300, 200))
    assert s.frame.box_to_page(2, 2, 102, 42) == (300, 200, 100, 40)  # the image, on the page
    assert s.kind == "box" and s.inside_height >= 40


def test_line_readers_see_the_inside_of_a_box_without_its_lines() -> None:
    page = np.full((200, 400), 245, np.uint8)
    cv2.rectangle(page, (50, 50), (350, 130), 20, 3)
    cv2.putText(page, "27", (150, 115), cv2.FONT_HERSHEY_SIMPLEX, 1.6, 30, 4, cv2.LINE_AA)
    (field,), *_ = segment_fields(page)
    inside = inside_image(field.structure)
    dark = inside < 128
    assert dark.any()  # the digits are there
    assert not dark[:3].any() and not dark[-3:].any()  # the top and bottom lines are not
    assert not dark[:, :3].any() and not dark[:, -3:].any()  # nor the walls


def test_a_region_is_read_cut_to_its_ink_and_keeps_its_box() -> None:
    """A generous template region: its writing, with a margin, is what is read (specks and
    dust left out); the field's box stays the region."""
    page = np.full((400, 600), 240, np.uint8)
    page[200:240, 300:420] = 30  # the writing: 120 x 40 px
    page[150:152, 250:252] = 30  # a speck in the region
    region = (200, 100, 350, 250)
    x, y, w, h = region
    extent = ink_extent(page[y : y + h, x : x + w])
    margin = round(INK_MARGIN * 40)
    assert extent == (300 - x - margin, 200 - y - margin, 120 + 2 * margin, 40 + 2 * margin)
    field = undrawn_field(page, region)
    assert field.box == region and field.image is not None
    assert field.image.shape == (40 + 2 * margin, 120 + 2 * margin)
    assert ink_extent(np.full((50, 80), 240, np.uint8)) is None
    specked = page[y : y + h, x : x + w].copy()
    specked[:, 90:] = 240  # the writing gone, the speck left: an empty region stays whole
    assert ink_extent(specked, least_share=0.005) is None
    assert undrawn_field(specked, (0, 0, w, h)).image.shape == (h, w)


def test_a_field_image_is_read_the_same_however_loosely_it_was_framed(classify) -> None:  # type: ignore[no-untyped-def]
    """A capture step may cut a field tight or leave paper around it: the readers are shown it
    cut to its ink either way (loosely framed real cheque amounts had read 71-86% exactly
    against 90% as cropped). The field's box stays the whole image."""
    tight = _written("3051", (40, 120))
    margin = round(INK_MARGIN * 25)  # about the writing's height
    for above, beside in ((20, 40), (60, 150)):
        loose = cv2.copyMakeBorder(tight, above, above, beside, beside, cv2.BORDER_CONSTANT, value=235)
        shown = as_read(loose)
        assert shown.shape[0] < 25 + 2 * margin + 12 and shown.shape[1] < 120 + 2 * margin
        assert np.array_equal(shown, as_read(cv2.copyMakeBorder(tight, 30, 30, 70, 70, cv2.BORDER_CONSTANT,
                                                                value=235)))
        page = read_field(loose, classify)
        (field,) = page.fields
        assert field.box == (0, 0, loose.shape[1], loose.shape[0])
        x, y, w, h = field.digits[0].box
        assert beside <= x and above <= y  # digit boxes on the image as uploaded


def test_a_bilevel_field_is_smoothed_and_a_grey_one_left_as_it_is() -> None:
    """Bilevel scans (uint8 of two levels, or 1-bit decoded as bool) get grey stroke edges back
    before they are read; a grey image is not touched."""
    grey = _written("3051")
    assert smoothed_if_bilevel(grey) is grey
    black_white = np.where(grey < 128, 0, 255).astype(np.uint8)
    smoothed = smoothed_if_bilevel(black_white)
    assert smoothed.dtype == np.uint8 and len(np.unique(smoothed)) > 2
    assert abs(float(smoothed.mean()) - float(black_white.mean())) < 2.5  # ink moved, not lost
    np.testing.assert_array_equal(smoothed_if_bilevel(black_white > 0), smoothed)  # 1-bit: the same
    colour = np.dstack([black_white] * 3)
    assert smoothed_if_bilevel(colour) is colour



def test_a_box_s_walls_left_in_a_field_image_are_not_read() -> None:
    """A form's box cut out with its sides: the walls are painted over before reading, the
    writing kept; a straight 1 at the edge of a tight crop, shorter than WALL_SPAN of it or no
    taller than the rest of the writing, is writing."""
    number = cv2.copyMakeBorder(_written("3051", (40, 120)), 12, 12, 24, 24, cv2.BORDER_CONSTANT, value=235)
    walled = number.copy()
    h, w = walled.shape
    for x in (3, w - 4):
        cv2.line(walled, (x, 0), (x + 1, h - 1), 30, 2)  # leaning by a pixel
    cleared = without_box_lines(walled)
    assert cleared.min() < 100  # the writing is there
    assert cleared[:, :8].min() > 200 and cleared[:, -8:].min() > 200  # the walls are not
    np.testing.assert_array_equal(cleared[:, 8:-8], walled[:, 8:-8])
    assert without_box_lines(number) is number
    tight_one = np.full((40, 60), 235, np.uint8)
    cv2.line(tight_one, (3, 5), (3, 33), 30, 3)  # a 1 at the crop's edge, 0.8 of its height
    cv2.putText(tight_one, "7", (18, 34), cv2.FONT_HERSHEY_SIMPLEX, 1.1, 30, 3, cv2.LINE_AA)
    assert without_box_lines(tight_one) is tight_one
    cut_tight = np.full((36, 120), 235, np.uint8)  # "1234" cut to its ink: the 1 as tall as the crop
    cv2.line(cut_tight, (2, 0), (2, 35), 30, 3)
    cv2.putText(cut_tight, "234", (14, 35), cv2.FONT_HERSHEY_SIMPLEX, 1.6, 30, 3, cv2.LINE_AA)
    assert without_box_lines(cut_tight) is cut_tight  # WALL_OVER_WRITING: as tall as the writing
    assert as_read(walled).shape == as_read(number).shape  # cut to the same ink


def test_a_box_drawn_around_a_field_image_is_not_read_and_a_rule_under_it_is_kept() -> None:
    """A form's box cut out whole: its walls and, between them, its top and bottom lines are
    painted over; a printed rule under the writing with no walls beside it is left, as the
    readers were trained on such rules."""
    number = cv2.copyMakeBorder(_written("3051", (40, 120)), 12, 12, 24, 24, cv2.BORDER_CONSTANT, value=235)
    h, w = number.shape
    boxed = number.copy()
    cv2.rectangle(boxed, (3, 3), (w - 4, h - 4), 30, 2)
    cleared = without_box_lines(boxed)
    assert cleared[:8].min() > 200 and cleared[-8:].min() > 200  # top and bottom lines gone
    assert cleared[:, :8].min() > 200 and cleared[:, -8:].min() > 200  # walls gone
    np.testing.assert_array_equal(cleared[8:-8, 8:-8], boxed[8:-8, 8:-8])  # the writing kept
    ruled = number.copy()
    cv2.line(ruled, (0, h - 6), (w - 1, h - 6), 30, 2)
    assert without_box_lines(ruled) is ruled


def test_a_box_lying_well_inside_a_field_image_is_not_read() -> None:
    """A capture step that cut a printed box out with paper around it: the box's lines are
    judged against the ink's extent, not the image's, so they go as they do at the edges; the
    paper around and the writing inside are kept."""
    number = cv2.copyMakeBorder(_written("3051", (40, 120)), 12, 12, 24, 24, cv2.BORDER_CONSTANT, value=235)
    h, w = number.shape
    cv2.rectangle(number, (3, 3), (w - 4, h - 4), 30, 2)
    around = cv2.copyMakeBorder(number, 30, 30, 60, 60, cv2.BORDER_CONSTANT, value=235)
    cleared = without_box_lines(around)
    inside = (slice(30 + 8, 30 + h - 8), slice(60 + 8, 60 + w - 8))
    assert cleared[inside].min() < 100  # the writing is there, untouched
    np.testing.assert_array_equal(cleared[inside], around[inside])
    box_lines = np.zeros(around.shape, bool)
    box_lines[30 : 30 + h, 60 : 60 + w] = True
    box_lines[inside] = False
    assert cleared[box_lines].min() > 200  # all four lines gone
    assert as_read(around).shape == as_read(number[8:-8, 8:-8]).shape  # cut to the writing alone


def test_tall_ones_are_never_taken_for_walls() -> None:
    """Two straight 1s with nothing else written are writing, not an empty box's walls; tall 1s
    at both ends of a number with paper around are not a box lying inside the image (a box's
    walls there must be joined by its lines)."""
    ones = np.full((40, 40), 235, np.uint8)
    for x in (3, 35):
        cv2.line(ones, (x, 1), (x, 38), 30, 3)  # "11" cut tight: both as tall as the crop
    assert without_box_lines(ones) is ones
    empty = np.full((40, 60), 235, np.uint8)
    cv2.rectangle(empty, (3, 3), (56, 36), 30, 2)  # an empty box: its lines go
    assert without_box_lines(empty).min() > 200
    number = np.full((90, 220), 235, np.uint8)
    cv2.putText(number, "00", (70, 58), cv2.FONT_HERSHEY_SIMPLEX, 1.1, 30, 3, cv2.LINE_AA)
    for x in (55, 150):
        cv2.line(number, (x, 25), (x, 62), 30, 3)  # "1001", the 1s taller than the 0s
    assert without_box_lines(number) is number


def test_a_box_whose_writing_touches_its_lines_is_still_erased() -> None:
    """Writing that all touches the box joins its lines into one mark, with no other writing
    beside the walls: still a box (inside mostly paper), erased at the crop's edges and with
    paper around, as before the review that found a first version leaving it."""
    boxed = np.full((60, 100), 235, np.uint8)
    cv2.rectangle(boxed, (1, 1), (98, 58), 30, 2)
    cv2.putText(boxed, "7", (35, 50), cv2.FONT_HERSHEY_SIMPLEX, 1.6, 30, 3)
    cv2.line(boxed, (50, 10), (50, 58), 30, 3)  # a stroke down to the bottom line
    around = cv2.copyMakeBorder(boxed, 20, 20, 40, 40, cv2.BORDER_CONSTANT, value=235)
    for image, (y, x) in ((boxed, (0, 0)), (around, (20, 40))):
        cleared = without_box_lines(image)
        walls = cleared[y : y + 60, x : x + 4], cleared[y : y + 60, x + 96 : x + 100]
        assert walls[0].min() > 200 and walls[1].min() > 200
        assert cleared[y + 15 : y + 45, x + 30 : x + 70].min() < 100  # the writing kept
    blot = np.full((60, 100), 235, np.uint8)
    blot[10:50, 20:80] = 30  # ink through: no box
    assert without_box_lines(blot) is blot
