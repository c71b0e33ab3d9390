"""The progress display: a bar redrawn in place on a terminal, plain lines in a log."""

from __future__ import annotations

import io

from client.progress import Progress


def test_a_terminal_gets_one_line_redrawn_and_a_note_does_not_break_it() -> None:
    out = io.StringIO()
    progress = Progress(out, tty=True)
    progress.start("uploading", 4 << 20, "bytes")
    progress.advance(4 << 20)
    progress.note("a note")
    progress.finish()
    text = out.getvalue()
    assert text.count("\n") == 2 and text.endswith("4.0/4.0 MiB 100%\n")  # the note, the bar's end
    assert "\r\x1b[Ka note\n" in text


def test_a_log_gets_lines_not_redraws_and_quiet_gets_only_notes() -> None:
    out = io.StringIO()
    progress = Progress(out, tty=False)
    progress.start("reading", 10, "documents")
    for done in range(1, 11):
        progress.update(done)
    progress.finish()
    assert "\r" not in out.getvalue()
    assert out.getvalue().splitlines() == [f"reading [{'-' * 30}] 0/10 documents   0%",
                                           f"reading [{'#' * 30}] 10/10 documents 100%"]
    quiet = io.StringIO()
    progress = Progress(quiet, quiet=True)
    progress.start("reading", 1, "documents")
    progress.note("still said")
    progress.finish()
    assert quiet.getvalue() == "still said\n"
