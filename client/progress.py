"""Progress on stderr: a bar redrawn in place on a terminal, plain lines now and then when
stderr is a file or a pipe (a log should not fill with redraws), nothing when quiet."""

from __future__ import annotations

import sys
import time
from typing import TextIO

BAR_WIDTH = 30  # characters of the bar itself
REDRAW_S = 0.1  # a terminal's bar is redrawn at most this often
PLAIN_EVERY_S = 5.0  # without a terminal, one line at most this often (and one at the end)
MIB = 1 << 20


class Progress:
    """One task's progress at a time (`start`, `advance` or `update`, `finish`); `note` prints
    a line of its own without breaking the bar."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False, tty: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.tty = self.stream.isatty() if tty is None else tty
        self.label, self.unit, self.total, self.done = "", "", 0, 0
        self.shown_at, self.drawn, self.printed = 0.0, False, ""

    def start(self, label: str, total: int, unit: str) -> None:
        self.label, self.total, self.unit, self.done = label, total, unit, 0
        self.shown_at = 0.0
        self._show(force=True)

    def advance(self, step: int) -> None:
        self.update(self.done + step)

    def update(self, done: int, total: int | None = None) -> None:
        changed = done != self.done or (total is not None and total != self.total)
        self.done = done
        if total is not None:
            self.total = total
        if changed:
            self._show()

    def finish(self) -> None:
        """The task is over: its last state shown, the terminal's line ended."""
        if self.label:
            self._show(force=True)
        if self.drawn and self.tty and not self.quiet:
            self.stream.write("\n")
            self.stream.flush()
        self.label, self.drawn = "", False

    def note(self, text: str) -> None:
        """A line of its own (a warning, a file skipped): shown even when quiet."""
        if self.drawn and self.tty:
            self.stream.write("\r\x1b[K")
        self.stream.write(text + "\n")
        self.stream.flush()
        if self.drawn and self.tty and not self.quiet:
            self._show(force=True)

    def line(self) -> str:
        """The progress as text: label, bar, figures."""
        share = min(1.0, self.done / self.total) if self.total else 0.0
        filled = int(share * BAR_WIDTH)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        figures = (f"{self.done / MIB:.1f}/{self.total / MIB:.1f} MiB" if self.unit == "bytes"
                   else f"{self.done}/{self.total} {self.unit}")
        return f"{self.label} [{bar}] {figures} {share:4.0%}"

    def _show(self, force: bool = False) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        if not force and now - self.shown_at < (REDRAW_S if self.tty else PLAIN_EVERY_S):
            return
        self.shown_at = now
        if self.tty:
            self.stream.write("\r\x1b[K" + self.line())
            self.drawn = True
        elif self.line() != self.printed:  # a log gets no line twice
            self.printed = self.line()
            self.stream.write(self.printed + "\n")
        self.stream.flush()


class Silent(Progress):
    """No progress and no notes: what the library shows when it is given no Progress."""

    def __init__(self) -> None:
        super().__init__(quiet=True, tty=False)

    def note(self, text: str) -> None:
        pass
