"""`python -m bench.reading`: a page's reading time against an earlier version of the code.

Issue 12 lets a second reader cost, but a page must stay under 1.5x the reading time of the
code before the line readers came (28e999f, 2026-11-25: the glyph classifier alone). Machines
differ, and not all of a page's work in the same proportion (TensorFlow then, ONNX Runtime
now), so the figure is a ratio, both versions timed in turn on the same machine and the same
pages: generated pages of both styles by seeds `make eval` never uses, read by each version in
its own process from a git worktree of that commit, in `--rounds` taken in turn (a machine's
speed drifts by several percent over minutes), each page's best of all its readings in process
time (one thread).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from core.settings import PROJECT_ROOT

BEFORE_LINE_READERS = "28e999f"  # the code of 2026-11-25, before the line readers came
BUDGET = 1.5  # issue 12: a page's reading time at most this many times that code's
STYLES = {"ours": 7, "hard": 8}  # dev seeds: never `make eval`'s (20261124, 20261125)

# Run in the worktree of each version (`python -c` puts the working folder, that worktree,
# first on the path): the reader through whichever entry point that version has, then every
# page read `repeats` times in turn.
_TIMER = """
import json, sys, time
import numpy as np
from worker.recognition import configure_process
configure_process(1)
try:
    from core.settings import Settings
    from worker.recognition import reader_for
    reader = reader_for(Settings.from_env())
except ImportError:  # before 2026-11-26
    from worker.recognition import get_reader
    reader = get_reader()
pages_file, repeats = sys.argv[1], int(sys.argv[2])
out = {}
with np.load(pages_file) as data:
    for style in sorted({k.split("-")[0] for k in data.files}):
        keys = sorted((k for k in data.files if k.startswith(style + "-")),
                      key=lambda k: int(k.split("-")[1]))
        images = [data[k] for k in keys]
        reader.read_page(images[0], None)  # warm up
        best = [float("inf")] * len(images)
        for _ in range(repeats):
            for i, image in enumerate(images):
                started = time.process_time()
                reader.read_page(image, None)
                best[i] = min(best[i], time.process_time() - started)
        out[style] = [1000 * b for b in best]
print("RESULT " + json.dumps(out))
"""


def make_pages(count: int, mnist_dir: str | None, path: Path) -> None:
    """`count` pages of each style (STYLES' seeds), saved to `path` as style-number arrays
    (compressed: 40 hard pages at 300 dpi are ~1 GB raw, ~0.1 GB so)."""
    from evaluation.pages import style_pages

    arrays = {}
    for style, seed in STYLES.items():
        for k, page in enumerate(style_pages(style, count, seed, mnist_dir)):
            arrays[f"{style}-{k}"] = page.image
    np.savez_compressed(path, **arrays)


def time_version(tree: Path, pages: Path, repeats: int) -> dict[str, list[float]]:
    """Each page's best ms of `repeats` readings by the code in `tree`, by style."""
    done = subprocess.run([sys.executable, "-c", _TIMER, str(pages), str(repeats)], cwd=tree,
                          capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{tree}: reading failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def worktree(commit: str, folder: Path) -> Path:
    """A checkout of `commit` in `folder` (a git worktree of this repository)."""
    subprocess.run(["git", "worktree", "add", "--detach", str(folder), commit], cwd=PROJECT_ROOT,
                   check=True, capture_output=True, text=True)
    return folder


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.reading", description=__doc__.splitlines()[0])
    parser.add_argument("--against", default=BEFORE_LINE_READERS, help="the earlier commit")
    parser.add_argument("--pages", type=int, default=40, help="pages of each style")
    parser.add_argument("--repeats", type=int, default=2, help="readings of each page in a round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, each version in turn")
    parser.add_argument("--mnist-dir", default=None)
    parser.add_argument("--output", type=Path, default=PROJECT_ROOT / "results" / "bench_reading.json")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-reading-") as tmp:
        pages = Path(tmp) / "pages.npz"
        print(f"generating {args.pages} pages of each style ({', '.join(STYLES)})…", flush=True)
        make_pages(args.pages, args.mnist_dir, pages)
        earlier = worktree(args.against, Path(tmp) / "earlier")
        try:
            before: dict[str, list[float]] = {}
            now: dict[str, list[float]] = {}
            for number in range(1, args.rounds + 1):
                print(f"round {number}/{args.rounds}: reading them with {args.against}, then with this "
                      "code…", flush=True)
                for times, tree in ((before, earlier), (now, PROJECT_ROOT)):
                    for style, ms in time_version(tree, pages, args.repeats).items():
                        times[style] = list(np.minimum(times.get(style, ms), ms))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(earlier)], cwd=PROJECT_ROOT,
                           capture_output=True)
    report = {"against": args.against, "pages_per_style": args.pages, "repeats": args.repeats,
              "rounds": args.rounds, "budget": BUDGET, "styles": {}}
    for style in STYLES:
        then_ms, now_ms = float(np.mean(before[style])), float(np.mean(now[style]))
        ratio = now_ms / then_ms
        report["styles"][style] = {"before_ms": then_ms, "now_ms": now_ms, "ratio": ratio}
        print(f"{style:5s} {then_ms:7.1f} ms a page with {args.against}, {now_ms:7.1f} now: "
              f"{ratio:.2f}x ({'within' if ratio <= BUDGET else 'over'} the {BUDGET}x budget)", flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
