"""Commands that measure the service: on generated pages (`make eval`), on real paper and
held-out writers (`make eval-real`), and the fits of its confidences. They sit above the
libraries (`segmentation`, `models`, `reading`) and the worker, and may use all of them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.settings import Settings
    from synth.render import DigitSource
    from worker.recognition import Reader


def write_report(report: dict, path: Path) -> None:
    """A command's figures written as JSON (folders made as needed), and where, said."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))
    print(f"written to {path}")


def shipped_reading(mnist_dir: str | None = None) -> tuple[Settings, Reader, DigitSource]:
    """The settings, the shipped readers as a worker runs them, and MNIST's test digits: what
    the commands that read generated pages start from."""
    from core.settings import Settings
    from synth import test_digits
    from worker.recognition import reader_for

    settings = Settings.from_env()
    return settings, reader_for(settings), test_digits(mnist_dir)
