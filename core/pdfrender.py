"""PDF pages rendered in a child process with a time and memory budget per page.

PDFium parses and draws a page in one native call that nothing in Python can interrupt: a
3 KB PDF of nested form XObjects (fan-out 10, depth 7) held a reader at 100% CPU and 2.6 GB
for minutes. So pages are rendered by a small child process (PDFium and NumPy only, started
once per document) with an address-space limit; a page that takes longer than its time budget
gets the child killed and an error of its own, and the rest of the document goes on.

The child's protocol, on its stdin and stdout: the child says `ready` once the document is
open; then the parent writes a page index (a line) and the child answers with one header
line — `ok <height> <width> <channels>`, then the raw pixels; `error <message>` — for each.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

PAGE_TIMEOUT_S = 60.0  # a page at 200 dpi renders in under a second; 60 s leaves room for load
CHILD_MEMORY_BYTES = 3 * 1024**3  # a 600-dpi A4 page is ~100 MB; its drawing gets 30× that
START_TIMEOUT_S = 30.0


class RenderError(Exception):
    """A page could not be rendered within its budget, or the PDF could not be opened."""


class Renderer:
    """One document's child renderer; `render(index)` gives the page's RGB pixels."""

    def __init__(self, path: Path, dpi: int, page_timeout_s: float = PAGE_TIMEOUT_S,
                 memory_bytes: int = CHILD_MEMORY_BYTES) -> None:
        self.path, self.dpi = Path(path), dpi
        self.page_timeout_s, self.memory_bytes = page_timeout_s, memory_bytes
        self.child: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        if self.child is None or self.child.poll() is not None:
            self.child = subprocess.Popen(
                [sys.executable, "-m", "core.pdfrender", str(self.path), str(self.dpi),
                 str(self.memory_bytes)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                cwd=Path(__file__).resolve().parent.parent)
            if self._line(self.child, START_TIMEOUT_S) != "ready":
                self.close()
                raise RenderError("the PDF renderer could not start")
        return self.child

    def render(self, index: int) -> np.ndarray:
        child = self._start()
        assert child.stdin is not None and child.stdout is not None
        try:
            child.stdin.write(f"{index}\n".encode())
            child.stdin.flush()
            header = self._line(child, self.page_timeout_s)
        except (BrokenPipeError, OSError):
            self.close()
            raise RenderError("the renderer stopped (it ran out of memory)") from None
        if header is None:
            self.close()
            raise RenderError(f"rendering took longer than {self.page_timeout_s:.0f} s "
                              "(a page drawn with too many nested objects?): stopped")
        kind, _, rest = header.partition(" ")
        if kind == "error":
            raise RenderError(rest)
        height, width, channels = (int(v) for v in rest.split())
        data = self._read(child, height * width * channels, self.page_timeout_s)
        if data is None:
            self.close()
            raise RenderError("the renderer stopped while sending the page")
        return np.frombuffer(data, np.uint8).reshape(height, width, channels)

    def _line(self, child: subprocess.Popen, timeout: float) -> str | None:
        buffer = b""
        deadline = time.monotonic() + timeout
        fd = child.stdout.fileno()  # type: ignore[union-attr]
        while not buffer.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 1)
            if not chunk:
                return None
            buffer += chunk
        return buffer.decode(errors="replace").strip()

    def _read(self, child: subprocess.Popen, size: int, timeout: float) -> bytes | None:
        parts, got = [], 0
        deadline = time.monotonic() + timeout
        fd = child.stdout.fileno()  # type: ignore[union-attr]
        while got < size:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, min(1 << 20, size - got))
            if not chunk:
                return None
            parts.append(chunk)
            got += len(chunk)
        return b"".join(parts)

    def close(self) -> None:
        if self.child is not None and self.child.poll() is None:
            self.child.kill()
            self.child.wait(timeout=10)
        self.child = None

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _serve(path: str, dpi: int, memory_bytes: int) -> None:
    """The child: render the pages asked for on stdin, answer on stdout."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    import pypdfium2 as pdfium

    out = sys.stdout.buffer
    pdf = pdfium.PdfDocument(path)
    scale = dpi / 72.0
    out.write(b"ready\n")
    out.flush()
    for line in sys.stdin.buffer:
        try:
            page = pdf[int(line)]
            bitmap = page.render(scale=scale, rev_byteorder=True, fill_color=(255, 255, 255, 255))
            pixels = np.ascontiguousarray(bitmap.to_numpy())
            if pixels.ndim == 2:
                pixels = pixels[..., None]
            height, width, channels = pixels.shape
            out.write(f"ok {height} {width} {channels}\n".encode())
            out.write(pixels.tobytes())
        except MemoryError:
            out.write(f"error rendering needed more than {memory_bytes // 1024**2} MB: stopped\n".encode())
        except Exception as exc:  # noqa: BLE001 - every problem goes back to the parent
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            out.write(f"error cannot be rendered ({reason})\n".encode())
        out.flush()


if __name__ == "__main__":
    _serve(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
