"""Writing struck through: the pen line is not taken for a box line, and the field goes to
review; digits' own strokes, dashes, tails and underlines are not struck lines; a line voiding
an empty box leaves one empty box."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from segmentation.pipeline import segment_fields
from segmentation.strike import STRUCK_CONFIDENCE, struck_through
from segmentation.structure import iou
from tests.segmentation.struck import BOX, INK, PAPER, box_page, strike, struck_cheque


def only_field(page: np.ndarray):  # type: ignore[no-untyped-def]
    fields = segment_fields(page)[0]
    assert len(fields) == 1
    return fields[0]


def test_a_number_struck_through_is_one_box_and_struck() -> None:
    page = strike(box_page("4087"), 90, 370, 132, 124)  # through the middle, a little uphill
    field = only_field(page)
    x, y, w, h = field.page_box
    assert abs(y - BOX[1]) <= 3 and abs(h - BOX[3]) <= 6  # not the box's upper half
    assert struck_through(field.structure)


def test_the_struck_line_of_a_written_amount_is_no_box_line(digits) -> None:  # type: ignore[no-untyped-def]
    """The pen line is as long as the box's own lines: it had split the amount's box in two
    (its upper part read "202964" for 2023967, its lower part "2023101")."""
    page, amount = struck_cheque(digits, 43)
    found = [f for f in segment_fields(page)[0] if iou(f.page_box, amount.box) > 0.2]
    assert len(found) == 1 and iou(found[0].page_box, amount.box) > 0.9
    assert struck_through(found[0].structure)


@pytest.mark.parametrize("height", [118, 142])  # through the upper and the lower third
def test_a_line_through_a_third_of_the_digits_is_struck_too(height: int) -> None:
    assert struck_through(only_field(strike(box_page("5080"), 90, 370, height, height)).structure)


def test_a_comb_struck_across_its_cells() -> None:
    page = strike(box_page("", cells=8), 80, 400, 126, 130)
    for i, ch in enumerate("31415"):
        cv2.putText(page, ch, (70 + 70 * i, 158), cv2.FONT_HERSHEY_SIMPLEX, 2.4, INK, 6)
    assert struck_through(only_field(page).structure)


@pytest.mark.parametrize("mark", ["none", "tail", "underline", "dash"])
def test_digits_tails_underlines_and_dashes_are_not_struck(mark: str) -> None:
    page = box_page("2227")
    if mark == "tail":  # a long dash after an amount, so that nothing can be added
        page = strike(page, 370, 590, 128, 128)
    elif mark == "underline":
        page = strike(page, 95, 370, 168, 168)
    elif mark == "dash":  # an empty box crossed by one line: nothing written
        page = strike(box_page(""), 200, 450, 120, 120)
    assert not struck_through(only_field(page).structure)


@pytest.mark.parametrize("line", [(90, 590, 120, 122), (75, 605, 128, 112),  # short of the walls
                                  (30, 650, 120, 122), (50, 630, 120, 120)])  # on past both
def test_an_empty_box_voided_by_a_line_is_one_empty_box(line: tuple[int, int, int, int]) -> None:
    """A line across an empty box, stopping short of its walls, as long as the box's own lines
    (LINE_COVER lets it by), or running on past both walls (SHARED_LINE_OVERRUN): one box, not
    two stacked ones."""
    field = only_field(strike(box_page(""), *line))
    assert abs(field.page_box[3] - BOX[3]) <= 6 and not struck_through(field.structure)


def test_two_rows_of_boxes_sharing_a_line_stay_two() -> None:
    page = strike(box_page(""), BOX[0], BOX[0] + BOX[2], 120, 120, pen=3)  # wall to wall
    cv2.putText(page, "12", (100, 112), cv2.FONT_HERSHEY_SIMPLEX, 1.6, INK, 4)
    cv2.putText(page, "345", (100, 172), cv2.FONT_HERSHEY_SIMPLEX, 1.6, INK, 4)
    fields = segment_fields(page)[0]
    assert sorted(len(f.pieces) for f in fields) == [2, 3]


def stacked(upper: tuple[int, int, int], lower: tuple[int, int, int]) -> np.ndarray:
    """Two rows of boxes sharing a line at y = 180: each (x, width, cells), the upper from
    y = 60, the lower down to y = 300."""
    page = np.full((600, 1200), PAPER, np.uint8)
    for (x, w, cells), (y0, y1) in ((upper, (60, 180)), (lower, (180, 300))):
        cv2.rectangle(page, (x, y0), (x + w, y1), 20, 3)
        for i in range(1, cells):
            cv2.line(page, (x + i * w // cells, y0), (x + i * w // cells, y1), 20, 3)
    return page


@pytest.mark.parametrize("upper, lower", [((60, 400, 1), (60, 640, 1)),  # narrower above
                                          ((60, 350, 5), (60, 560, 8)),  # combs of other pitches
                                          ((60, 560, 5), (60, 560, 8))])
def test_rows_of_boxes_sharing_a_line_stay_apart(upper: tuple[int, int, int],
                                                 lower: tuple[int, int, int]) -> None:
    """Rows of unequal widths or cell counts: the shared line runs past the narrower row's
    walls, and the other row's dividers meet it from one side: neither makes it a pen line."""
    page = stacked(upper, lower)
    for i, ch in enumerate("17420"):  # digits resting on the shared line, from above
        cv2.putText(page, ch, (75 + 60 * i, 178), cv2.FONT_HERSHEY_SIMPLEX, 2.4, INK, 6)
    fields = segment_fields(page)[0]
    assert sorted((f.page_box[1] // 100, len(f.structure.walls) - 1) for f in fields) == \
        [(0, upper[2]), (1, lower[2])]


@pytest.mark.parametrize("upper, lower", [((60, 350, 5), (60, 560, 8)), ((60, 400, 1), (60, 640, 1))])
@pytest.mark.parametrize("overrun", [20, 40])
def test_a_shared_line_running_on_past_rows_of_other_walls_stays_shared(
        upper: tuple[int, int, int], lower: tuple[int, int, int], overrun: int) -> None:
    """A printed line shared by rows of unequal widths or cell counts that runs on past both:
    never one box voided by a pen line (SHARED_LINE_OVERRUN holds only for rows of the same
    walls). A review found such rows lost or merged when the overrun alone was judged."""
    page = stacked(upper, lower)
    cv2.line(page, (60, 180), (60 + max(upper[1], lower[1]) + overrun, 180), 20, 3)
    fields = segment_fields(page)[0]
    assert sorted((f.page_box[1] // 100, len(f.structure.walls) - 1) for f in fields) == \
        [(0, upper[2]), (1, lower[2])]


def test_joined_feet_and_bars_are_no_struck_line() -> None:
    page = box_page("")
    for i in range(4):  # 2s whose feet run into one another, 7s whose bars do
        x = 100 + 55 * i
        cv2.line(page, (x, 95), (x + 40, 105), INK, 5)
        cv2.line(page, (x + 40, 105), (x, 160), INK, 5)
        cv2.line(page, (x, 160), (x + 58, 160), INK, 5)
    assert not struck_through(only_field(page).structure)


def test_a_struck_field_goes_to_review_with_a_warning(recognizer) -> None:  # type: ignore[no-untyped-def]
    clean = recognizer.read_page(cv2.cvtColor(box_page("4087"), cv2.COLOR_GRAY2RGB), None)
    struck = recognizer.read_page(cv2.cvtColor(strike(box_page("4087"), 90, 370, 132, 124),
                                               cv2.COLOR_GRAY2RGB), None)
    (before,), (after,) = clean.fields, struck.fields
    assert not before.struck and not clean.warnings
    assert after.struck and after.confidence <= STRUCK_CONFIDENCE
    assert any(after.name in w and "struck through" in w for w in struck.warnings)
    voided = recognizer.read_page(cv2.cvtColor(strike(box_page(""), 90, 590, 120, 122),
                                               cv2.COLOR_GRAY2RGB), None)
    assert [(f.value, f.struck) for f in voided.fields] == [("", False)]  # an empty field
