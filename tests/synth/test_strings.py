"""The synthetic amount fields the string readers train on."""

from __future__ import annotations

import numpy as np

from synth.strings import EDGE_CUT, StringField, cut_edge


def _field(text: str) -> StringField:
    image = np.full((40, 200), 230, np.uint8)
    boxes = []
    x = 20
    for char in text:
        if char.isdigit():
            image[8:32, x : x + 16] = 30
            boxes.append((x, 8, 16, 24))
        x += 24
    return StringField(image, "".join(c for c in text if c.isdigit()), text, tuple(boxes))


class _Bars:
    """A hand that writes every digit as a bar: fields whose digits are easy to find."""

    def draw(self, digit: int, height: int, pen: float, rng: np.random.Generator) -> np.ndarray:
        glyph = np.zeros((height, max(3, height // 2)), np.float32)
        glyph[:, glyph.shape[1] // 2 - 1 : glyph.shape[1] // 2 + 1] = 1.0
        return glyph


def test_a_cut_edge_runs_through_the_first_digit_and_keeps_the_value() -> None:
    field = _field("123")
    for seed in range(20):
        cut = cut_edge(field, np.random.default_rng(seed))
        assert cut.value == "123" and cut.text == "123"
        lost = field.image.shape[1] - cut.image.shape[1]
        first = cut.digit_boxes[0]
        if first[0] < 0:  # cut on the left: into the first digit, by at most EDGE_CUT of it
            assert 20 + EDGE_CUT[0] * 16 - 1 <= lost <= 20 + EDGE_CUT[1] * 16
            assert cut.digit_boxes[1][0] == field.digit_boxes[1][0] - lost
            assert (cut.image[:, 0] < 128).any()  # the digit's ink reaches the new edge
        else:  # cut on the right, into the last digit
            assert cut.digit_boxes == field.digit_boxes
            assert (cut.image[:, -1] < 128).any()


def test_a_field_ending_in_a_tail_is_cut_on_the_left() -> None:
    field = _field("45.-")
    for seed in range(10):
        cut = cut_edge(field, np.random.default_rng(seed))
        assert cut.digit_boxes[0][0] < 0 and cut.value == "45"


def test_a_flicked_dash_rises_to_the_right_at_its_angle() -> None:
    import math

    from synth.strings import FLICK_DEGREES, _flick

    for seed in range(30):
        layer, top = _flick(40.0, 2, np.random.default_rng(seed))
        ys, xs = np.nonzero(layer > 0.5)
        left, right = xs.min(), xs.max()
        # ink at the left end sits low, at the right end high: a stroke rising to the right
        assert ys[xs <= left + 1].mean() > ys[xs >= right - 1].mean()
        rise = math.degrees(math.atan2(ys.max() - ys.min(), right - left))
        assert FLICK_DEGREES[0] - 12 <= rise <= FLICK_DEGREES[1] + 12, rise
        assert 0.0 <= top <= 1.0


def test_a_mark_put_beside_the_writing_keeps_its_digits_and_baselines_level() -> None:
    """A printed sign or a delimiter beside an amount (training fields only) is ink that is no
    digit: the digit boxes move with the writing, and the mark's baseline is the writing's."""
    from synth.marks import beside, delimiter, printed

    alpha = np.zeros((30, 60), np.float32)
    alpha[5:25, 10:20] = alpha[5:25, 30:40] = 1.0  # two "digits" standing on row 25
    boxes = [(10, 5, 10, 20), (30, 5, 10, 20)]
    rng = np.random.default_rng(3)
    for mark in (printed("US$", 30.0, rng), delimiter("#", 20.0, 2.0, rng), delimiter("*", 20.0, 2.0, rng)):
        layer, base = mark
        for after in (False, True):
            canvas, moved, baseline = beside(alpha, boxes, 25, mark, after, gap=7)
            assert canvas.shape[1] == 60 + 7 + layer.shape[1]
            for (x, y, w, h) in moved:  # each digit's ink is where its box says
                assert canvas[y : y + h, x : x + w].min() == 1.0
            x_mark = 67 if after else 0
            ys = np.nonzero(canvas[:, x_mark : x_mark + layer.shape[1]].max(axis=1) > 0.5)[0]
            assert all(y + h == baseline for _, y, _, h in moved)  # the writing stands on it
            assert ys.size and ys.min() < baseline and abs(int(ys.max()) - baseline) <= layer.shape[0] // 3


def test_training_fields_now_and_then_carry_marks_that_are_not_in_their_text(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`synth.marks.around` puts a sign, a label or delimiters beside the writing now and then
    (about a quarter of fields: P_SIGN 0.12, P_LABEL 0.1, P_DELIMITED 0.06), never with those
    chances at 0; a field drawn with marks holds only digits and separators in its text."""
    import synth.marks
    from synth.strings import SEPARATORS, field_image

    alpha = np.zeros((30, 60), np.float32)
    alpha[5:25, 10:20] = alpha[5:25, 30:40] = 1.0
    boxes = [(10, 5, 10, 20), (30, 5, 10, 20)]

    def marked(seeds: range) -> int:
        rngs = (np.random.default_rng(seed) for seed in seeds)
        return sum(synth.marks.around(alpha, boxes, 25, 20.0, 2.0, rng)[0].shape[1] > 60 for rng in rngs)

    assert 25 <= marked(range(200)) <= 80
    for name in ("P_SIGN", "P_LABEL", "P_DELIMITED"):
        monkeypatch.setattr(synth.marks, name, 0.0)
    assert marked(range(200)) == 0

    monkeypatch.undo()
    for seed in range(60):
        field = field_image("1250", _Bars(), np.random.default_rng(seed), digit_height=30, marks=True)
        assert field.value == "1250" and set(field.text) <= set("0123456789" + SEPARATORS)


def test_a_printed_label_goes_before_the_writing_and_never_into_the_text(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """With a label drawn on every marked field (and no other mark), the first digit lies a
    label's width in from the left (a label precedes its amount; without labels the digits of
    these fields start within 25 px), and the text is the number alone."""
    import synth.marks
    from synth.strings import field_image

    monkeypatch.setattr(synth.marks, "P_LABEL", 1.0)
    monkeypatch.setattr(synth.marks, "P_SIGN", 0.0)
    monkeypatch.setattr(synth.marks, "P_DELIMITED", 0.0)

    for seed in range(12):
        field = field_image("1250", _Bars(), np.random.default_rng(seed), digit_height=30, marks=True)
        assert field.value == "1250"
        first = min(x for x, _, _, _ in field.digit_boxes)
        assert first > 30, (seed, first)  # the label's width (>= 2 letters at >= 9 px) before it


def test_training_labels_hold_no_s_and_nothing_like_the_evaluation_labels() -> None:
    """The label words the string reader trains on keep out an S (it taught the reader to skip
    S-shaped 5s), and anything like `make eval-real`'s label words: no three letters in a row
    shared with one, no word within two edits of one ("Tutar" of "Total"), so that row
    measures words never seen."""
    from evaluation.pages import edit_distance
    from evaluation.real import PRINTED_LABELS
    from synth.marks import LABELS

    def letters(w: str) -> str:
        return "".join(c for c in w.lower() if c.isalpha())

    def triples(w: str) -> set[str]:
        return {letters(w)[i : i + 3] for i in range(len(letters(w)) - 2)}

    assert not any("s" in letters(w) for w in LABELS)
    for word in PRINTED_LABELS:
        assert not [w for w in LABELS if triples(w) & triples(word)], word
        assert not [w for w in LABELS if edit_distance(letters(w), letters(word)) <= 2], word


def test_every_training_font_prints_a_word_standing_on_its_baseline() -> None:
    """Each TrueType font of the training marks is found and prints a word whose letters stand
    on the baseline row returned (a "p" hangs below it) as tall as asked; the font family of
    `make eval-real`'s printed rows is none of them."""
    from synth.marks import TRUETYPE_FONTS, _truetype

    assert not any(f.startswith("DejaVuSans") for f in TRUETYPE_FONTS)
    for font in TRUETYPE_FONTS:
        layer, base = _truetype("Hep", 20.0, font)
        rows = np.nonzero(layer.max(axis=1) > 0.5)[0]
        assert rows.size, font
        h_rows = np.nonzero(layer[:, : layer.shape[1] // 3].max(axis=1) > 0.5)[0]  # the "H"
        assert abs(int(h_rows.max()) + 1 - base) <= 1, (font, h_rows.max(), base)
        assert 18 <= h_rows.max() - h_rows.min() + 1 <= 22, (font, h_rows.min(), h_rows.max())
        assert rows.max() > base + 2, font  # the "p"'s descender
