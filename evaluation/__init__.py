"""Commands that measure the service: on generated pages (`make eval`), on real paper and
held-out writers (`make eval-real`), and the fits of its confidences. They sit above the
libraries (`segmentation`, `models`, `reading`) and the worker, and may use all of them."""

from __future__ import annotations

import json
from pathlib import Path


def write_report(report: dict, path: Path) -> None:
    """A command's figures written as JSON (folders made as needed), and where, said."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))
    print(f"written to {path}")
