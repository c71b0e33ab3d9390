"""`make bench` (first part): the readers' start-up, memory and throughput, Keras/TF vs ONNX Runtime.

Each figure comes from a fresh process per runtime, capped as a worker caps itself
(`limit_threads`, one thread unless --threads): start-up is a `python -c` that imports, loads
the glyph classifier and classifies one glyph; memory is the resident size once both readers
(glyphs and strings) are loaded; then glyphs/s at several batch sizes and CRNN fields/s.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RUNTIMES = ("keras", "onnx")  # the file suffix each runtime loads
GLYPH_BATCHES = (1, 16, 64, 256)  # glyphs per classify call
FIELD_BATCH, FIELD_WIDTH = 8, 200  # CRNN: fields per call, each ~200 px wide (32 px high)

STARTUP_PROBE = """
import time
import numpy as np
from models.bench import rss_mib
from models.inference import WEIGHTS, Recognizer, limit_threads
limit_threads({threads}, 1)
Recognizer(WEIGHTS / "digits.{runtime}").classify(np.zeros((1, 28, 28), np.float32))
print(time.time(), rss_mib())  # when it was ready (the process's exit is not start-up)
"""


def rss_mib() -> float:
    """This process's resident memory now (Linux), else its peak, in MiB."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        import os

        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (2**20 if sys.platform == "darwin" else 2**10)


def _rate(call, batch: np.ndarray, seconds: float) -> float:  # noqa: ANN001 - a model call
    """Items per second of `call(batch)`, after warming up, over about `seconds`."""
    for _ in range(3):
        call(batch)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        call(batch)
        count += len(batch)
    return count / (time.perf_counter() - started)


def probe(runtime: str, threads: int, seconds: float) -> dict:
    """In this (fresh) process: load both readers on `runtime`, then measure them."""
    from models.inference import WEIGHTS, Recognizer, limit_threads
    from models.strings_reader import CrnnReader, batch_of

    limit_threads(threads, 1)
    recognizer = Recognizer(WEIGHTS / f"digits.{runtime}")
    reader = CrnnReader(WEIGHTS / f"strings.{runtime}")
    result: dict = {"models": [recognizer.version, reader.version], "rss_mib": round(rss_mib())}
    rng = np.random.default_rng(0)
    for batch in GLYPH_BATCHES:
        glyphs = rng.random((batch, 28, 28)).astype(np.float32)
        result[f"glyphs_per_s_batch_{batch}"] = round(_rate(recognizer.classify, glyphs, seconds))
    fields, _ = batch_of([(rng.random((32, FIELD_WIDTH)) < 0.15).astype(np.float32)] * FIELD_BATCH)
    result[f"fields_per_s_batch_{FIELD_BATCH}"] = round(_rate(reader.runner, fields, seconds), 1)
    return result


def _run(args: list[str]) -> tuple[str, float]:
    """The last line a fresh Python process in the project printed, and when it was started."""
    started = time.time()
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, check=True,
                          cwd=PROJECT_ROOT)
    return done.stdout.strip().splitlines()[-1], started


def _startup(runtime: str, threads: int) -> tuple[float, float]:
    """Seconds from starting `python -c` to a classified glyph, and the memory then (MiB)."""
    out, started = _run(["-c", STARTUP_PROBE.format(runtime=runtime, threads=threads)])
    ready, rss = (float(v) for v in out.split())
    return ready - started, rss


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m models.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads per process")
    parser.add_argument("--seconds", type=float, default=4.0, help="per throughput figure")
    parser.add_argument("--startups", type=int, default=3, help="start-ups timed per runtime (best kept)")
    parser.add_argument("--output", type=Path, default=Path("results/bench-model.json"))
    parser.add_argument("--probe", choices=RUNTIMES, help=argparse.SUPPRESS)  # the child's side
    args = parser.parse_args(argv)
    if args.probe:
        print(json.dumps(probe(args.probe, args.threads, args.seconds)))
        return {}

    results: dict = {"threads": args.threads}
    for runtime in RUNTIMES:
        startups = [_startup(runtime, args.threads) for _ in range(args.startups)]
        out, _ = _run(["-m", "models.bench", "--probe", runtime, "--threads", str(args.threads),
                       "--seconds", str(args.seconds)])
        results[runtime] = {"startup_s": round(min(s for s, _ in startups), 2),
                            "startup_rss_mib": round(min(m for _, m in startups)), **json.loads(out)}
    rows = [("startup_s", "start-up, s (import, load, 1 glyph)"),
            ("startup_rss_mib", "  memory then, MiB RSS"), ("rss_mib", "both readers loaded, MiB RSS"),
            *((f"glyphs_per_s_batch_{b}", f"glyphs/s at batch {b}") for b in GLYPH_BATCHES),
            (f"fields_per_s_batch_{FIELD_BATCH}", f"CRNN fields/s, {FIELD_BATCH} x {FIELD_WIDTH} px")]
    print(f"{'':38}{'Keras/TF':>10}{'ONNX Runtime':>14}   ({args.threads} thread(s) per process)")
    for key, label in rows:
        print(f"{label:38}{results['keras'][key]:>10,}{results['onnx'][key]:>14,}")
    print("models: " + ", ".join(results["keras"]["models"] + results["onnx"]["models"]))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
