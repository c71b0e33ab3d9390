"""Which fields the line readers are given: field images always, open boxes only when the cut
reading is unsure, comb fields never."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from segmentation.fieldread import LINES_BELOW, field_opinions, undrawn_field
from segmentation.pipeline import segment_fields
from synth.pages import make_page, random_style


class CountingReader:
    """A line reader that reads nothing (every frame filler) and keeps what it was given."""

    name, version = "counting", "test"

    def __init__(self) -> None:
        self.seen: list[np.ndarray] = []

    def read(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        self.seen.extend(images)
        return [np.tile(np.eye(11, dtype=np.float32)[10], (8, 1)) for _ in images]


def test_only_unsure_open_boxes_and_field_images_are_read_whole(digits, classify) -> None:  # type: ignore[no-untyped-def]
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
              if f.kind == "field" or (f.kind == "box" and r.cut.confidence < LINES_BELOW)]
    boxes = sum(f.kind == "box" for f in fields)
    assert 0 < len(unsure) - 1 < boxes  # some boxes are sure, some are not
    reader = CountingReader()
    read = field_opinions(found(), classify, (reader,))
    assert len(reader.seen) == len(unsure)
    assert [i for i, r in enumerate(read) if r.opinions] == unsure
    assert all(r.opinions[-1].reader == "counting" for r in read if r.opinions)
