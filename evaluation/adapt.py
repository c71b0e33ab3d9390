"""`make eval-adapt`: the review loop closed on real paper, measured as a back office would live it.

On a service of its own (a temporary data directory, the embedded database and broker, a real
Celery worker process, the web app's API): the first `--train` cheque amounts of ORAND-CAR-A dev
(`../shared/data/real/orand_car_a_dev/`, in name order) are uploaded with layout=field and read;
a reviewer (the truth) corrects or confirms every one of their fields through the review API;
the loop runs (`worker.improve`: a candidate trained on the reviewed fields, judged, promoted
only if better); the other cheques are read before and after, by the same worker, which takes
up the promoted version without a restart. Prints exact match and the straight-through share
at ≤ 0.5% error before and after, how many corrections it took, the candidate's comparison and
the MNIST test accuracy of both; writes `results/eval_adapt.json`. The adapted model is this
measurement's own: it stays in the temporary folder, it is never shipped.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

from core.migrate import upgrade
from core.settings import PROJECT_ROOT, Settings
from evaluation.real import CHEQUES, load_errata, real_dir
from worker.improve import Options, improve
from worker.judging import straight_through

READ_TIMEOUT_S = 1800  # a batch of 300 fields read on a loaded 2-core machine
WORKER_START_S = 120
WORKER_STOP_S = 60


def start_worker(settings: Settings, log: Path) -> subprocess.Popen:
    """A real Celery worker on the settings' data directory (embedded database and broker)."""
    env = {**os.environ, "DATA_DIR": str(settings.data_dir), "PYTHONPATH": str(PROJECT_ROOT),
           "MNIST_DIR": str(settings.mnist_dir or ""), "TF_CPP_MIN_LOG_LEVEL": "2"}
    for name in ("DATABASE_URL", "BROKER_URL", "API_TOKEN"):
        env.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "worker.app", "worker", "--loglevel", "INFO",
         "--concurrency", "2", "--queues", "documents", "--without-gossip", "--without-mingle"],
        cwd=PROJECT_ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
        start_new_session=True)  # its own process group: stopped whole, pool included
    deadline = time.time() + WORKER_START_S
    while time.time() < deadline:
        if " ready." in log.read_text(errors="replace"):
            return process
        if process.poll() is not None:
            raise SystemExit(f"the worker stopped at start; see {log}")
        time.sleep(0.5)
    raise SystemExit(f"the worker was not ready in {WORKER_START_S} s; see {log}")


def stop_worker(process: subprocess.Popen) -> None:
    """SIGTERM to the worker's process group; SIGKILL if it has not stopped within a minute."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=WORKER_STOP_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=WORKER_STOP_S)


class Service:
    """The web app's API, in this process, on the same database and broker as the worker."""

    def __init__(self, settings: Settings) -> None:
        from web import create_app

        self.client = create_app(settings).test_client()

    def upload(self, folder: Path, names: list[str]) -> str:
        files = [(io.BytesIO((folder / "images" / n).read_bytes()), n) for n in names]
        response = self.client.post("/api/batches", data={"layout": "field", "files": files},
                                    content_type="multipart/form-data")
        if response.status_code != 202:
            raise SystemExit(f"upload refused: {response.get_data(as_text=True)}")
        return response.get_json()["id"]

    def wait(self, batch_id: str) -> None:
        deadline = time.time() + READ_TIMEOUT_S
        while time.time() < deadline:
            status = self.client.get(f"/api/batches/{batch_id}").get_json()
            if status["status"] in ("done", "partial", "failed"):
                return
            time.sleep(1.0)
        raise SystemExit(f"batch {batch_id} not read within {READ_TIMEOUT_S} s")

    def fields(self, batch_id: str) -> list[dict]:
        return json.loads(self.client.get(f"/api/batches/{batch_id}/export.json").get_data())["fields"]

    def review(self, field_id: int, value: str) -> None:
        response = self.client.patch(f"/api/fields/{field_id}",
                                     json={"value": value, "reviewer": "eval-adapt"})
        if response.status_code != 200:
            raise SystemExit(f"review refused: {response.get_data(as_text=True)}")


def measured(fields: list[dict], truth: dict[str, str]) -> dict:
    right = [f["recognized_value"] == truth[f["document"]] for f in fields]
    share, threshold = straight_through(right, [f["confidence"] for f in fields])
    return {"fields": len(fields), "exact": sum(right) / max(1, len(right)),
            "straight_through": share, "threshold": threshold}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m evaluation.adapt", description=__doc__.splitlines()[0])
    parser.add_argument("--real-dir", type=Path, default=None)
    parser.add_argument("--train", type=int, default=300, help="cheques reviewed before the loop runs")
    parser.add_argument("--output", type=Path, default=PROJECT_ROOT / "results" / "eval_adapt.json")
    args = parser.parse_args(argv)
    folder = (args.real_dir or real_dir()) / CHEQUES
    truth = json.loads((folder / "truth.json").read_text())
    names = sorted(truth)
    for name in names:
        if cv2.imread(str(folder / "images" / name), cv2.IMREAD_UNCHANGED) is None:
            raise SystemExit(f"{folder / 'images' / name}: cannot be read")
    reviewed, others = names[: args.train], names[args.train :]
    errata = load_errata(folder)
    corrected = {**truth, **errata}
    mnist_dir = os.environ.get("MNIST_DIR")
    if not mnist_dir:
        raise SystemExit("set MNIST_DIR (the Makefile does when ../shared/data/mnist exists)")
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="eval-adapt-") as tmp:
        settings = Settings.from_env({}, data_dir=Path(tmp) / "data", mnist_dir=Path(mnist_dir))
        upgrade(settings)
        worker = start_worker(settings, Path(tmp) / "worker.log")
        try:
            service = Service(settings)
            print(f"reading {len(reviewed)} cheques to review and the other {len(others)}…", flush=True)
            first, before = service.upload(folder, reviewed), service.upload(folder, others)
            service.wait(first)
            service.wait(before)
            corrections = 0
            for f in service.fields(first):
                corrections += f["value"] != truth[f["document"]]
                service.review(f["id"], truth[f["document"]])
            print(f"reviewed {len(reviewed)} fields through the review API: {corrections} corrected, "
                  f"{len(reviewed) - corrections} confirmed", flush=True)
            outcome = improve(settings, Options(), lambda line: print(f"  {line}", flush=True))
            after = service.upload(folder, others)
            service.wait(after)
            result = {
                "reviewed_cheques": len(reviewed), "corrections": corrections,
                "read_cheques": len(others), "candidate": outcome.version_id,
                "promoted": outcome.promoted, "comparison": outcome.metrics,
                "before": measured(service.fields(before), truth),
                "after": measured(service.fields(after), truth),
                # the same, with the labels that are visibly not what is written corrected
                # (evaluation.real.load_errata; the reviewer above keeps to the labels as given)
                "before_labels_corrected": measured(service.fields(before), corrected),
                "after_labels_corrected": measured(service.fields(after), corrected),
                "seconds": round(time.time() - started, 1),
            }
        finally:
            stop_worker(worker)
    corrected_here = sum(name in errata for name in others)
    for when in ("before", "after", "before_labels_corrected", "after_labels_corrected"):
        r = result[when]
        label = when.replace("_labels_corrected", f", {corrected_here} labels corrected")
        print(f"{label}: the other {r['fields']} cheques: exact {r['exact']:.2%}, straight through "
              f"{r['straight_through']:.2%} at {r['threshold']}", flush=True)
    mnist = result["comparison"]["mnist_test"]
    print(f"candidate {'promoted' if result['promoted'] else 'not promoted'}; MNIST test accuracy "
          f"{mnist['current']:.2%} → {mnist['candidate']:.2%}; {result['seconds']:.0f} s", flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
