"""Which fields the line readers are given: field images always, open boxes only when the cut
reading is unsure or split touching digits, comb fields when unsure and the calibration fits
combs; sure ones of several glyphs to a reader that knows letters, to tell words."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from reading.combine import DEFAULT_CALIBRATION, Calibrations, LineReaders
from segmentation.fieldread import (
    COMBS_BELOW,
    LINES_BELOW,
    WORD_CHECK_GLYPHS,
    as_read,
    field_opinions,
    undrawn_field,
)
from segmentation.pipeline import segment_fields
from synth.pages import make_page
from synth.scanner import random_style


class CountingReader:
    """A line reader that reads nothing (every frame filler) and keeps what it was given."""

    name, version = "counting", "test"

    def __init__(self) -> None:
        self.seen: list[np.ndarray] = []

    def read(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        self.seen.extend(images)
        return [np.tile(np.eye(11, dtype=np.float32)[10], (8, 1)) for _ in images]


def split_sure(fields: list, read: list) -> list[int]:  # type: ignore[type-arg]
    """The sure open boxes whose cut split touching digits: shown to the first line reader."""
    return [i for i, (f, r) in enumerate(zip(fields, read))
            if f.kind == "box" and f.split and r.cut.confidence >= LINES_BELOW]


def test_only_unsure_fields_and_field_images_are_read_whole(digits, classify) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(17)
    pages = [make_page(digits, rng, kind, random_style(rng, dpi=200)) for kind in ("form", "order", "cheque")]
    field_image = np.full((50, 160), 235, np.uint8)
    field_image[15:35, 20:140] = 40

    def found() -> list:  # type: ignore[type-arg]  # afresh each time: reading splits pieces
        return [*(f for p in pages for f in segment_fields(p.image)[0]),
                undrawn_field(field_image, (0, 0, 160, 50))]

    fields = found()
    alone = field_opinions(fields, classify, ())
    unsure = [i for i, (f, r) in enumerate(zip(fields, alone))
              if f.kind == "field" or (f.kind == "box" and (r.cut.confidence < LINES_BELOW or f.split))]
    # sure boxes cut by a split are checked first: a reader that reads nothing disputes them all
    checked = len(split_sure(fields, alone))
    combs = [i for i, (f, r) in enumerate(zip(fields, alone))
             if f.kind == "comb" and r.cut.confidence < COMBS_BELOW]
    boxes = sum(f.kind == "box" for f in fields)
    assert 0 < len(unsure) - 1 < boxes  # some boxes are sure, some are not
    assert 0 < len(combs) < sum(f.kind == "comb" for f in fields)  # some combs too
    boxes_only = Calibrations({"box": DEFAULT_CALIBRATION, "field": DEFAULT_CALIBRATION})
    with_combs = Calibrations({**boxes_only.by_kind, "comb": DEFAULT_CALIBRATION})
    for calibration, expected in ((boxes_only, unsure), (with_combs, sorted(unsure + combs)),
                                  (None, sorted(unsure + combs))):  # None: read for fitting
        reader = CountingReader()
        read = field_opinions(found(), classify, (reader,), calibration=calibration)
        assert len(reader.seen) == len(expected) + checked
        assert [i for i, r in enumerate(read) if r.opinions] == expected
        assert all(r.opinions[-1].reader == "counting" for r in read if r.opinions)


def test_page_fields_go_to_the_page_readers_and_field_images_to_the_field_readers(digits, classify) -> None:  # type: ignore[no-untyped-def]
    """With readers of their own for page fields (`LineReaders.pages`), a page's unsure open
    boxes and combs are read by those and only those; a field image or undrawn region by the
    field readers; without page readers, every kind by the field readers."""
    rng = np.random.default_rng(17)
    page = make_page(digits, rng, "form", random_style(rng, dpi=200))
    field_image = np.full((50, 160), 235, np.uint8)
    field_image[15:35, 20:140] = 40

    def found() -> list:  # type: ignore[type-arg]
        return [*segment_fields(page.image)[0], undrawn_field(field_image, (0, 0, 160, 50))]

    for_fields, for_pages = CountingReader(), CountingReader()
    read = field_opinions(found(), classify, LineReaders((for_fields,), (for_pages,)))
    whole = [(f.kind, r) for f, r in zip(found(), read) if r.opinions]
    on_page = [r for kind, r in whole if kind in ("box", "comb")]
    assert on_page and len(for_pages.seen) == len(on_page)
    assert len(for_fields.seen) == 1 and for_fields.seen[0].shape == as_read(field_image).shape

    one = CountingReader()
    read = field_opinions(found(), classify, LineReaders((one,)))
    assert len(one.seen) == len(whole) == sum(bool(r.opinions) for r in read)
    assert LineReaders.of((one,)).for_kind("comb") == (one,)
    assert LineReaders((one,), (for_pages,)).for_kind("field") == (one,)


class LetteredReader(CountingReader):
    """A line reader that knows letters and calls everything it is shown words, or nothing."""

    def __init__(self, words: bool) -> None:
        super().__init__()
        self.words = words

    def read_words(self, images: Sequence[np.ndarray]) -> tuple[list[np.ndarray], list[bool]]:
        return self.read(images), [self.words] * len(images)

    def are_words(self, images: Sequence[np.ndarray]) -> list[bool]:
        return self.read_words(images)[1]


def test_where_words_were_read_sure_fields_are_asked_whether_they_are_words(digits, classify) -> None:  # type: ignore[no-untyped-def]
    """On pages where a reader that knows letters read words in an unsure field, each sure box
    or comb of two glyphs or more is asked whether it holds words too; one that does is read
    whole like an unsure one. Where it read no words, or knows no letters, sure fields are not
    shown to it."""
    rng = np.random.default_rng(17)
    pages = [make_page(digits, rng, kind, random_style(rng, dpi=200)) for kind in ("form", "order", "cheque")]
    calibration = Calibrations({kind: DEFAULT_CALIBRATION for kind in ("box", "comb", "field")})

    def found() -> list:  # type: ignore[type-arg]
        return [f for p in pages for f in segment_fields(p.image)[0]]

    plain = CountingReader()
    fields = found()
    read = field_opinions(fields, classify, (plain,), calibration=calibration)
    unsure = [i for i, r in enumerate(read) if r.opinions]
    # sure boxes cut by a split are shown to the reader first (and, reading nothing, it
    # disputes them: they are among `unsure`)
    checked = len(split_sure(fields, read))
    several = [i for i, r in enumerate(read) if not r.opinions and r.cut.confidence >= LINES_BELOW
               and len(r.cut.digits) >= WORD_CHECK_GLYPHS]
    single = [i for i, r in enumerate(read) if not r.opinions and len(r.cut.digits) < WORD_CHECK_GLYPHS]
    assert several and single and len(plain.seen) == len(unsure) + checked

    lettered = LetteredReader(words=True)
    read = field_opinions(found(), classify, (lettered,), calibration=calibration)
    assert [i for i, r in enumerate(read) if r.opinions] == sorted(unsure + several)
    assert len(lettered.seen) == len(unsure) + checked + 2 * len(several)  # asked, then read whole

    no_words = LetteredReader(words=False)
    read = field_opinions(found(), classify, (no_words,), calibration=calibration)
    assert [i for i, r in enumerate(read) if r.opinions] == unsure
    assert len(no_words.seen) == len(unsure) + checked


class EchoReader(CountingReader):
    """A line reader that reads each image it knows as the value given for it, others as nothing."""

    def __init__(self, values: dict[bytes, str]) -> None:
        super().__init__()
        self.values = values

    def read(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        self.seen.extend(images)
        eye = np.eye(11, dtype=np.float32)
        return [np.array([eye[k] for c in self.values.get(image.tobytes(), "") for k in (int(c), 10)]
                         or [eye[10]]) for image in images]


def test_a_sure_box_whose_touching_digits_were_split_is_checked_by_a_line_reader(digits, classify) -> None:  # type: ignore[no-untyped-def]
    """Cutting touching digits apart is a guess the glyph classifier cannot check (a wrong cut
    is read as surely as a right one): a sure box that was split is shown to the first line
    reader; where that reads another value, the box is read whole by every reader. A sure box
    cut without a split is not shown to any."""
    rng = np.random.default_rng(3)
    pages = [make_page(digits, rng, "order", random_style(rng, dpi=200)) for _ in range(3)]

    def found() -> list:  # type: ignore[type-arg]
        return [f for p in pages for f in segment_fields(p.image)[0]]

    fields = found()
    alone = field_opinions(fields, classify, ())
    sure = [i for i, r in enumerate(alone) if fields[i].kind == "box" and r.cut.confidence >= LINES_BELOW]
    split = split_sure(fields, alone)
    assert split and len(split) < len(sure)  # both kinds of sure box are on these pages
    unsure = [i for i, r in enumerate(alone) if r.cut.confidence < LINES_BELOW and fields[i].kind == "box"]

    disputing = CountingReader()  # reads nothing: every split box is disputed
    read = field_opinions(found(), classify, (disputing,))
    assert [i for i, r in enumerate(read) if r.opinions and fields[i].kind == "box"] == sorted(unsure + split)
    assert len(disputing.seen) == sum(bool(r.opinions) for r in read) + len(split)  # checked, then read

    agreeing = EchoReader({fields[i].line_image()[0].tobytes(): alone[i].cut.value for i in split})
    read = field_opinions(found(), classify, (agreeing,))
    assert [i for i, r in enumerate(read) if r.opinions and fields[i].kind == "box"] == unsure
    assert len(agreeing.seen) == sum(bool(r.opinions) for r in read) + len(split)  # checked only
