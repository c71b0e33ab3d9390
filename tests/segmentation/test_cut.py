"""Cutting glyphs out of a box: line removal must take the lines and leave the strokes.

Each page here is drawn in code at 200 dpi: a comb of 6 × 8 mm cells, lines and ink as given.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from segmentation.pipeline import segment_fields

CELL_W, CELL_H = 48, 64  # px: a 6 × 8 mm cell at 200 dpi
LEFT, TOP, CELLS = 60, 60, 4


def _comb_page(line_grey: int, line_px: int = 3) -> np.ndarray:
    page = np.full((TOP + CELL_H + 80, LEFT + CELLS * CELL_W + 80), 245, np.uint8)
    right, bottom = LEFT + CELLS * CELL_W, TOP + CELL_H
    for y in (TOP, bottom):
        page[y : y + line_px, LEFT : right + line_px] = line_grey
    for i in range(CELLS + 1):
        x = LEFT + i * CELL_W
        page[TOP : bottom + line_px, x : x + line_px] = line_grey
    return page


def _only_comb_pieces(page: np.ndarray) -> list:
    fields, *_ = segment_fields(page)
    assert len(fields) == 1 and fields[0].structure.kind == "comb"
    return fields[0].pieces


def _u_beside_the_left_wall(page: np.ndarray, gap: int) -> int:
    """A U-shaped 0 in the first cell, its left side running down `gap` px from the wall."""
    left = LEFT + 3 + gap
    cv2.line(page, (left + 1, TOP + 14), (left + 1, TOP + 44), 10, 3)
    cv2.line(page, (left + 25, TOP + 14), (left + 25, TOP + 44), 10, 3)
    cv2.ellipse(page, (left + 13, TOP + 44), (12, 10), 0, 0, 180, 10, 3)
    return left


@pytest.mark.parametrize("line_grey", [20, 120])
def test_a_stroke_lying_beside_a_wall_is_not_erased_with_it(line_grey: int) -> None:
    """Blurred as a scan blurs it, the U's left side and the wall nearly merge: the side stays."""
    page = _comb_page(line_grey)
    left = _u_beside_the_left_wall(page, gap=1)
    page = cv2.GaussianBlur(page, (0, 0), 0.9)
    pieces = _only_comb_pieces(page)
    first = next(p for p in pieces if p.cell == 0)
    assert first.x0 <= left + 1, "the U's left side was erased with the wall"
    # and the glyph is a U, not a J: ink in its left third all down its upper half
    upper_left = first.mask[: first.height // 2, : first.width // 3]
    assert upper_left.any(axis=1).all()


@pytest.mark.parametrize("line_grey", [20, 120])
def test_bars_lying_under_the_top_line_are_not_erased_with_it(line_grey: int) -> None:
    """7777 written high, each 7's bar a pixel under the top line: together the bars cover
    more than half of the line's length, yet they are strokes, and each 7 keeps its bar."""
    page = _comb_page(line_grey)
    bar_y = TOP + 3 + 2
    for cell in range(CELLS):
        x = LEFT + cell * CELL_W + 3
        cv2.line(page, (x + 10, bar_y), (x + 32, bar_y), 10, 3)
        cv2.line(page, (x + 32, bar_y), (x + 18, TOP + 50), 10, 3)
    page = cv2.GaussianBlur(page, (0, 0), 0.9)
    pieces = _only_comb_pieces(page)
    assert [p.cell for p in pieces] == list(range(CELLS))
    for piece in pieces:
        assert piece.y0 <= bar_y + 1, f"cell {piece.cell}: the 7's bar was erased with the line"
        assert piece.mask[:3, : piece.width // 2].any(), f"cell {piece.cell}: the bar's left half is gone"


def test_a_foot_drawn_on_a_grey_bottom_line_stays_with_its_digit() -> None:
    """2222 written low, each 2's foot drawn along the cell's bottom line: on a grey box the
    black pen can be told from the line, and each 2 keeps its foot (without it, a 7)."""
    page = _comb_page(line_grey=120)
    foot_y = TOP + CELL_H + 1  # the middle of the 3-px bottom line
    for cell in range(CELLS):
        x = LEFT + cell * CELL_W + 3
        cv2.ellipse(page, (x + 21, TOP + 24), (11, 10), 0, 180, 360, 10, 3)
        cv2.line(page, (x + 32, TOP + 24), (x + 9, foot_y), 10, 3)
        cv2.line(page, (x + 9, foot_y), (x + 36, foot_y), 10, 3)
    page = cv2.GaussianBlur(page, (0, 0), 0.9)
    pieces = _only_comb_pieces(page)
    assert [p.cell for p in pieces] == list(range(CELLS))
    for piece in pieces:
        bottom = piece.mask[-3:].any(axis=0)
        assert bottom.sum() >= 0.6 * piece.width, f"cell {piece.cell}: the 2's foot was erased with the line"


def _open_box_page() -> np.ndarray:
    """An open box 300 × 72 px (38 × 9 mm at 200 dpi) with a 0 and a 7 in it."""
    page = np.full((240, 460), 245, np.uint8)
    cv2.rectangle(page, (60, 60), (360, 132), 30, 3)
    cv2.ellipse(page, (200, 96), (13, 22), 0, 0, 360, 10, 3)
    cv2.line(page, (236, 76), (262, 76), 10, 3)
    cv2.line(page, (262, 76), (244, 118), 10, 3)
    return page


def _only_box_pieces(page: np.ndarray) -> list:
    fields, *_ = segment_fields(page)
    assert len(fields) == 1 and fields[0].structure.kind == "box"
    return fields[0].pieces


def _box_pieces_on_page(page: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The open box's pieces as boxes on the page (x, y, w, h), left to right. A piece cut in
    two where it crossed a line would be two boxes here."""
    fields, *_ = segment_fields(page)
    assert len(fields) == 1 and fields[0].structure.kind == "box"
    frame = fields[0].structure.frame
    return [frame.box_to_page(p.x0, p.y0, p.x1, p.y1) for p in fields[0].pieces]


def test_a_speck_away_from_the_digits_is_no_glyph() -> None:
    """A dot of 5 × 5 px is over the speck area of the box, but far smaller than its digits:
    fitted into 20 × 20 it would be read as a digit, so it must not become a glyph."""
    page = _open_box_page()
    assert len(_only_box_pieces(cv2.GaussianBlur(page, (0, 0), 0.7))) == 2
    page[100:105, 100:105] = 10
    pieces = _only_box_pieces(cv2.GaussianBlur(page, (0, 0), 0.7))
    assert len(pieces) == 2
    assert all(p.height > 30 for p in pieces)


def test_a_lone_mark_in_an_open_box_is_still_read() -> None:
    """With nothing taller beside it, a small mark is left to the recogniser to judge."""
    page = np.full((240, 460), 245, np.uint8)
    cv2.rectangle(page, (60, 60), (360, 132), 30, 3)
    page[100:105, 100:105] = 10
    assert len(_only_box_pieces(cv2.GaussianBlur(page, (0, 0), 0.7))) == 1


def test_broken_strokes_join_their_digit() -> None:
    """A 5 whose flag was lifted off the stem and a 7 whose bar was drawn apart from its
    stroke are one glyph each, not four."""
    page = np.full((240, 460), 245, np.uint8)
    cv2.rectangle(page, (60, 60), (360, 132), 30, 3)
    cv2.line(page, (154, 77), (176, 77), 10, 3)  # the 5's flag, 4 px clear of its stem
    cv2.line(page, (151, 84), (151, 100), 10, 3)
    cv2.ellipse(page, (162, 108), (14, 11), 0, -150, 150, 10, 3)
    cv2.line(page, (216, 76), (242, 76), 10, 3)  # the 7's bar, 4 px clear of its stroke
    cv2.line(page, (244, 82), (226, 119), 10, 3)
    boxes = _box_pieces_on_page(cv2.GaussianBlur(page, (0, 0), 0.7))
    assert len(boxes) == 2
    (_, five_y, _, five_h), (_, seven_y, _, seven_h) = boxes
    assert five_y <= 77 and five_y + five_h >= 118, "the 5's flag is not with its body"
    assert seven_y <= 76 and seven_y + seven_h >= 119, "the 7's bar is not with its stroke"


def test_strokes_crossing_the_outer_lines_are_kept_across_them() -> None:
    """A 9's tail running out through the bottom line, and a 7 whose bar starts left of the
    box's wall: the lines are erased, the strokes crossing them are not cut there."""
    page = _open_box_page()
    cv2.circle(page, (130, 88), 11, 10, 3)  # a 9 whose tail runs 12 px below the bottom line
    cv2.line(page, (141, 88), (139, 146), 10, 3)
    cv2.line(page, (48, 78), (84, 78), 10, 3)  # a 7 whose bar crosses the left wall
    cv2.line(page, (84, 78), (70, 120), 10, 3)
    boxes = _box_pieces_on_page(cv2.GaussianBlur(page, (0, 0), 0.7))
    assert len(boxes) == 4
    seven, nine = boxes[:2]
    assert nine[1] + nine[3] >= 145, "the 9's tail was cut at the bottom line"
    assert seven[0] <= 50 and seven[0] + seven[2] >= 84, "the 7's bar was cut at the wall"


def _rings_are_zeros(glyphs: np.ndarray) -> np.ndarray:
    """A stand-in recogniser: a glyph with a hole in it is a 0, sure of it; any other mark (a
    dash, or any part of one) is no digit."""
    out = np.zeros((len(glyphs), 11), np.float32)
    for row, glyph in zip(out, glyphs):
        paper = (glyph < 0.3).astype(np.uint8)
        ring = cv2.connectedComponents(paper, connectivity=4)[0] > 2  # outside, and a hole
        row[0 if ring else 10], row[10 if ring else 0] = 0.99, 0.01
    return out


def _no_digit_at_all(glyphs: np.ndarray) -> np.ndarray:
    out = np.zeros((len(glyphs), 11), np.float32)
    out[:, 10], out[:, 0] = 0.99, 0.01
    return out


def test_ink_as_tall_as_a_digit_that_is_read_as_no_digit_sends_the_field_to_review() -> None:
    """Two 0s and, far from them, a dash: the dash is left out and the field stays sure. Read
    as no digit at all, the 0s are left out too, but then the field must not be trusted."""
    from segmentation.pipeline import UNREAD_INK_CONFIDENCE, read_page

    page = np.full((240, 460), 245, np.uint8)
    cv2.rectangle(page, (60, 60), (360, 132), 30, 3)
    for x in (190, 225):
        cv2.ellipse(page, (x, 96), (11, 22), 0, 0, 360, 10, 3)
    cv2.line(page, (300, 96), (324, 96), 10, 3)  # a dash
    page = cv2.GaussianBlur(page, (0, 0), 0.7)
    (field,) = read_page(page, _rings_are_zeros).fields
    assert field.value == "00" and field.confidence > 0.9
    (field,) = read_page(page, _no_digit_at_all).fields
    assert field.value == "" and field.confidence <= UNREAD_INK_CONFIDENCE
    # A dash alone in an empty box is not ink the size of a digit: left out, and trusted.
    alone = np.full((240, 460), 245, np.uint8)
    cv2.rectangle(alone, (60, 60), (360, 132), 30, 3)
    cv2.line(alone, (300, 96), (324, 96), 10, 3)
    (field,) = read_page(cv2.GaussianBlur(alone, (0, 0), 0.7), _no_digit_at_all).fields
    assert field.value == "" and field.confidence > 0.9
