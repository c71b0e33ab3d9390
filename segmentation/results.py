"""What reading a page gives: its fields, their values and confidences, each digit's box.

Plain dataclasses shared by the page pipeline, the combination of readers and the worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class DigitResult:
    value: str  # "0".."9"
    confidence: float  # calibrated probability that `value` is right
    box: Box  # on the page as given, before any deskewing
    alternatives: tuple[tuple[str, float], ...]  # next most likely readings ("?" = not a digit)
    glyph: np.ndarray = field(repr=False, compare=False)  # the 28×28 input the model read


@dataclass(frozen=True)
class FieldResult:
    name: str
    kind: str  # "comb", "box" (an open box), or "field" (an image that is one whole field)
    box: Box
    cells: tuple[Box, ...]
    value: str
    confidence: float  # probability that the whole value is right
    digits: tuple[DigitResult, ...]
    readings: tuple[tuple[str, str], ...] = ()  # each reader's own reading, when several read it
    rule_error: str | None = None  # why no reading keeps the template's rule (it goes to review)
    struck: bool = False  # a pen line struck through its writing (segmentation.strike): to review


@dataclass(frozen=True)
class PageResult:
    width: int
    height: int
    skew_deg: float
    rotation: int  # 0, or 90 / 270 when the page was found lying on its side and read turned
    fields: tuple[FieldResult, ...]
    warnings: tuple[str, ...] = ()
    seconds: dict[str, float] = field(default_factory=dict, compare=False)
