"""`make bench` (first part): the recogniser's load time and throughput at batch 256."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from models.inference import DEFAULT_MODEL_PATH

PROJECT_ROOT = Path(__file__).resolve().parent.parent

LOAD_PROBE = """
import time, os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
t0 = time.perf_counter()
import tensorflow
t1 = time.perf_counter()
from models.inference import Recognizer
r = Recognizer({path!r})
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m models.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--output", type=Path, default=Path("results/bench-model.json"))
    args = parser.parse_args(argv)

    # Load time in a fresh process: what a worker pays once when it starts.
    probe = subprocess.run([sys.executable, "-c", LOAD_PROBE.format(path=str(args.model))],
                           capture_output=True, text=True, check=True, cwd=PROJECT_ROOT)
    import_s, load_s = (float(v) for v in probe.stdout.split()[-2:])

    from models.inference import Recognizer

    recognizer = Recognizer(args.model)
    glyphs = np.random.default_rng(0).random((args.batch, 28, 28)).astype(np.float32)
    for _ in range(3):
        recognizer.classify(glyphs)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < args.seconds:
        recognizer.classify(glyphs)
        count += args.batch
    rate = count / (time.perf_counter() - started)
    result = {"model": recognizer.version, "tensorflow_import_s": round(import_s, 2),
              "model_load_s": round(load_s, 2), "batch": args.batch,
              "glyphs_per_second": round(rate), "parameters": int(recognizer.model.count_params())}
    print(f"model {result['model']}: load {load_s:.2f} s (after importing TensorFlow, {import_s:.2f} s); "
          f"{rate:,.0f} glyphs/s at batch {args.batch}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
