"""Form templates: named regions of a form type, so fields get names instead of numbers.

A template is a JSON file, one per form type:

    {"name": "cheque", "description": "...",
     "regions": [{"name": "date", "x": 0.6, "y": 0.05, "width": 0.35, "height": 0.2}, ...]}

Coordinates are fractions of the page's width and height, so one template serves every scan
resolution. A field takes the name of the region holding its centre; fields outside every
region are numbered in reading order (`field_<n>`).

A region with `"drawn": false` has no box drawn around its field (a cheque's amount written on
a printed line, say): the region itself is read as one field, whatever is found in it.

A region may declare what its field holds, `"rule": {"kind": "digits", "length": 8, "check":
"luhn"}` and the like (`reading.rules`): its reading is then the most probable value that
keeps the rule, and a field no reading fits goes to review with the reason.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from reading.rules import Rule, RuleError, parse_rule

NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class TemplateError(ValueError):
    """A template is missing or malformed; the message names the file and the problem."""


@dataclass(frozen=True)
class Region:
    name: str
    x: float
    y: float
    width: float
    height: float
    drawn: bool = True  # False: no box is drawn; the region itself is the field
    rule: Rule | None = None  # what the field holds (reading.rules), if the template says

    def holds(self, fx: float, fy: float) -> bool:
        return self.x <= fx <= self.x + self.width and self.y <= fy <= self.y + self.height


@dataclass(frozen=True)
class Template:
    name: str
    regions: tuple[Region, ...]
    description: str = ""

    def region_for(self, box: tuple[int, int, int, int], page_w: int, page_h: int) -> Region | None:
        """The first region holding the box's centre."""
        x, y, w, h = box
        fx, fy = (x + w / 2) / page_w, (y + h / 2) / page_h
        return next((region for region in self.regions if region.holds(fx, fy)), None)

    def name_for(self, box: tuple[int, int, int, int], page_w: int, page_h: int) -> str | None:
        region = self.region_for(box, page_w, page_h)
        return region.name if region else None

    def undrawn_boxes(self, page_w: int, page_h: int) -> list[tuple[int, int, int, int]]:
        """The regions read whole (no drawn box), in page pixels, clipped to the page."""
        boxes = []
        for r in self.regions:
            if r.drawn:
                continue
            x0, y0 = round(r.x * page_w), round(r.y * page_h)
            x1 = min(page_w, round((r.x + r.width) * page_w))
            y1 = min(page_h, round((r.y + r.height) * page_h))
            if x1 > x0 and y1 > y0:
                boxes.append((x0, y0, x1 - x0, y1 - y0))
        return boxes


def parse_template(data: object, source: str) -> Template:
    if not isinstance(data, dict):
        raise TemplateError(f"{source}: a template is a JSON object")
    name = data.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise TemplateError(f"{source}: 'name' must be 1-64 letters, digits, '_', '-' or '.'")
    regions = data.get("regions")
    if not isinstance(regions, list) or not regions:
        raise TemplateError(f"{source}: 'regions' must be a non-empty list")
    parsed = []
    for i, region in enumerate(regions):
        where = f"{source}: regions[{i}]"
        if not isinstance(region, dict) or not isinstance(region.get("name"), str):
            raise TemplateError(f"{where}: needs a 'name'")
        try:
            values = [float(region[k]) for k in ("x", "y", "width", "height")]
        except (KeyError, TypeError, ValueError):
            raise TemplateError(f"{where}: 'x', 'y', 'width', 'height' must be numbers") from None
        x, y, w, h = values
        if not (0 <= x <= 1 and 0 <= y <= 1 and 0 < w <= 1 and 0 < h <= 1):
            raise TemplateError(f"{where}: coordinates are fractions of the page (0..1)")
        drawn = region.get("drawn", True)
        if not isinstance(drawn, bool):
            raise TemplateError(f"{where}: 'drawn' must be true or false")
        rule = None
        if region.get("rule") is not None:
            try:
                rule = parse_rule(region["rule"])
            except RuleError as exc:
                raise TemplateError(f"{where} ({region['name']!r}): 'rule': {exc}") from None
        parsed.append(Region(region["name"], x, y, w, h, drawn, rule))
    return Template(name, tuple(parsed), str(data.get("description", "")))


def load_template(path: Path) -> Template:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise TemplateError(f"{path}: template file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TemplateError(f"{path}: not a readable JSON file ({exc})") from None
    return parse_template(data, str(path))


def find_template(folder: Path, name: str) -> Template:
    """The template called `name` in `folder` (file `<name>.json`); names never reach a path
    unchecked."""
    if not NAME.match(name):
        raise TemplateError(f"unknown template {name!r}")
    path = Path(folder) / f"{name}.json"
    if not path.is_file():
        raise TemplateError(f"unknown template {name!r}")
    return load_template(path)


def available(folder: Path) -> list[str]:
    return sorted(p.stem for p in Path(folder).glob("*.json") if NAME.match(p.stem))
