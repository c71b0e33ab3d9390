"""`make bench` (second part): a batch of 200-dpi pages through a running service.

Starts the service as `make run` does (embedded default unless DATABASE_URL / BROKER_URL are
set) with two worker processes, uploads the batch through the API in one request, and measures
pages per second from the start of the upload to the batch being done, and the memory of each
worker process (peak resident set, sampled while it works).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import requests

from bench.common import auth_headers, make_pages, rss_mb, running_service, wait_done, worker_pids


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.service", description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--distinct", type=int, default=100,
                        help="different pages drawn (repeated to --pages)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--output", type=Path, default=Path("results/bench-service.json"))
    args = parser.parse_args(argv)

    print(f"drawing {min(args.pages, args.distinct)} distinct pages…", flush=True)
    pages = make_pages(args.pages, seed=7, distinct=args.distinct)
    megabytes = sum(len(p) for p in pages) / 1e6
    with tempfile.TemporaryDirectory(prefix="digits-bench-") as tmp:
        with running_service(Path(tmp), args.port, WORKER_CONCURRENCY=str(args.workers)) as service:
            url = f"http://127.0.0.1:{args.port}"
            peak: dict[int, float] = {}
            pids = worker_pids(service)  # found once: pgrep on every poll costs the workers CPU

            def sample(_: object) -> None:
                nonlocal pids
                if not all(Path(f"/proc/{pid}").exists() for pid in pids):
                    pids = worker_pids(service)  # a pool process was replaced
                for pid in pids:
                    peak[pid] = max(peak.get(pid, 0.0), rss_mb(pid))

            sample(None)
            idle = dict(peak)
            files = [("files", (f"page-{i:04d}.png", data, "image/png")) for i, data in enumerate(pages)]
            started = time.perf_counter()
            response = requests.post(f"{url}/api/batches", files=files, headers=auth_headers(), timeout=600)
            uploaded = time.perf_counter()
            response.raise_for_status()
            status = wait_done(url, response.json()["id"], {}, timeout=3600, on_poll=sample)
            finished = time.perf_counter()
    result = {
        "pages": args.pages, "upload_megabytes": round(megabytes, 1), "worker_processes": args.workers,
        "status": status["status"], "pages_done": status["pages"]["done"],
        "upload_seconds": round(uploaded - started, 2),
        "total_seconds": round(finished - started, 2),
        "pages_per_second": round(args.pages / (finished - started), 2),
        "worker_rss_mb_idle": {str(k): round(v) for k, v in idle.items()},
        "worker_rss_mb_peak": {str(k): round(v) for k, v in peak.items()},
    }
    print(f"{args.pages} pages ({megabytes:.0f} MB) with {args.workers} worker processes: "
          f"upload {result['upload_seconds']} s, done after {result['total_seconds']} s → "
          f"{result['pages_per_second']} pages/s (status {status['status']})")
    print("worker memory, peak resident: " + ", ".join(f"{v:.0f} MB" for v in peak.values()))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
