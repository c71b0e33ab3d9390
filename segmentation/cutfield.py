"""A field as segmentation found it, before it is read (`segmentation.fieldread` reads it)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from segmentation import cut, vote
from segmentation.fields import MARGIN, cut_to_ink, inside_image
from segmentation.results import Box
from segmentation.structure import Structure


@dataclass
class CutField:
    """A field as segmentation found it: its box structure and the ink pieces to read; for a
    field with no drawn box (a field image, an undrawn template region), the image itself,
    which line readers read, and the field's box on the page."""

    structure: Structure
    pieces: list[cut.Piece]
    segmentation_confidence: float = 1.0
    image: np.ndarray | None = None
    split: bool = False  # a piece of it was cut in several digits (`_resolve_touching`)
    box: Box | None = None
    _line: tuple[np.ndarray, vote.Placement] | None = field(default=None, init=False, repr=False,
                                                           compare=False)

    @property
    def kind(self) -> str:
        return "field" if self.image is not None else self.structure.kind

    @property
    def page_box(self) -> Box:
        return self.box or self.structure.page_box

    def line_image(self) -> tuple[np.ndarray, vote.Placement]:
        """What line readers read of this field, and where it lies in the structure's frame;
        made once (a disputed split box is read by its first line reader, then by all)."""
        if self._line is None:
            self._line = self._make_line_image()
        return self._line

    def _make_line_image(self) -> tuple[np.ndarray, vote.Placement]:
        if self.image is not None:
            h, w = self.image.shape[:2]
            return self.image, vote.Placement(MARGIN, MARGIN, w, h)
        inside = inside_image(self.structure)
        x0, y0 = max(self.structure.outer[0], 0), max(self.structure.outer[1], 0)
        if self.kind == "comb":  # the written cells only: a comb's empty cells are a long blank
            inside, x0, y0 = cut_to_ink(inside, x0, y0)
        return inside, vote.Placement(x0, y0, inside.shape[1], inside.shape[0])
