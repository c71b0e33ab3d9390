"""`make bench` (second part): the service against its own pipeline, on the same pages.

For each page set (the scanner room's mix, and 60 noisy colour A4 PNG; bench.pages):
1. the plain pipeline in this one process: decode + read every page as a worker does;
2. the service as `make run` starts it (embedded default unless DATABASE_URL / BROKER_URL are
   set) with N worker processes, the set uploaded in one request, timed from the start of the
   upload to the batch being done;
then service ÷ (N × plain), and where a page's time goes inside the service (bench.timeline).
A first small batch warms the workers; its figure is reported as the cold start.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import requests

from bench.common import auth_headers, rss_mb, running_service, wait_done, worker_pids
from bench.pages import BenchDocument, noisy_pngs, scanner_room
from bench.timeline import breakdown, print_breakdown

WARM_UP_DOCUMENTS = 4  # the first batch after start: pool processes' first pages are slower
UPLOAD_LIMIT = 8 << 30  # the bench's own: a 1,000-page batch (--distinct) is gigabytes


def plain(documents: list[BenchDocument]) -> dict:
    """Pages/s of decode + read in this process, one page after another, by the worker's own
    reading loop (core.processing.read), which times each page's decoding and reading."""
    from core import processing
    from core.files import Limits, sniff
    from core.settings import Settings
    from core.storage import Storage
    from worker.recognition import reader_for

    settings = Settings.from_env()
    reader = reader_for(settings)
    limits = Limits.of(settings)
    with tempfile.TemporaryDirectory(prefix="digits-plain-") as tmp:
        storage = Storage(Path(tmp))
        jobs = []
        for i, doc in enumerate(documents):
            stored = storage.put_bytes(doc.data)
            jobs.append(processing.Job(i, doc.name, stored.sha256, sniff(stored.head) or "", "plain",
                                       None, 1))

        def read(job: processing.Job) -> list[processing.PageOutcome]:
            return processing.read(job, storage, limits, reader.read_page, None, lambda total, done: None)

        read(jobs[0])  # warm
        started = time.perf_counter()
        outcomes = [outcome for job in jobs for outcome in read(job)]
        total = time.perf_counter() - started
    count = len(outcomes)
    return {"pages": count, "seconds": round(total, 2), "pages_per_second": round(count / total, 2),
            "decode_ms_per_page": round(1000 * sum(o.decode_s for o in outcomes) / count),
            "read_ms_per_page": round(1000 * sum(o.read_s for o in outcomes) / count)}


def through_service(url: str, documents: list[BenchDocument], sample: object) -> dict:
    files = [("files", (d.name, d.data, d.media_type)) for d in documents]
    started, started_wall = time.perf_counter(), time.time()
    response = requests.post(f"{url}/api/batches", files=files, headers=auth_headers(), timeout=600)
    response.raise_for_status()
    batch_id = response.json()["id"]
    uploaded = time.perf_counter()
    status = wait_done(url, batch_id, {}, timeout=3600, on_poll=sample)
    finished = time.perf_counter()
    pages = sum(d.pages for d in documents)
    return {"batch": batch_id, "pages": pages, "status": status["status"],
            "pages_done": status["pages"]["done"], "upload_seconds": round(uploaded - started, 2),
            "total_seconds": round(finished - started, 2),
            "pages_per_second": round(pages / (finished - started), 2), "started_wall": started_wall}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.service", description=__doc__.splitlines()[0])
    parser.add_argument("--mixed", type=int, default=40, help="documents of the scanner room's mix")
    parser.add_argument("--noisy", type=int, default=60, help="noisy colour A4 PNG pages")
    parser.add_argument("--distinct", type=int, default=None,
                        help="draw only this many noisy pages and repeat them (a 1,000-page batch)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--output", type=Path, default=Path("results/bench-service.json"))
    args = parser.parse_args(argv)

    print("drawing the pages…", flush=True)
    drawn = noisy_pngs(min(args.noisy, args.distinct or args.noisy))
    noisy = [dataclasses.replace(drawn[i % len(drawn)], name=f"scan-{i:04d}.png") for i in range(args.noisy)]
    sets = {"mixed": scanner_room(args.mixed) if args.mixed else [], "noisy-png": noisy}
    sets = {name: documents for name, documents in sets.items() if documents}
    warm_up = [dataclasses.replace(d, name=f"warm-{d.name}") for d in noisy_pngs(WARM_UP_DOCUMENTS, seed=99)]
    result: dict = {"worker_processes": args.workers, "sets": {}}
    distinct = {"mixed": sets.get("mixed", []), "noisy-png": drawn}  # repeats read alike
    for name, documents in sets.items():
        result["sets"][name] = {"megabytes": round(sum(len(d.data) for d in documents) / 1e6, 1),
                                "plain": plain(distinct[name])}
        p = result["sets"][name]["plain"]
        print(f"[{name}] plain pipeline, one process: {p['pages']} pages, {p['pages_per_second']} "
              f"pages/s (decode {p['decode_ms_per_page']} ms + read {p['read_ms_per_page']} ms a page)",
              flush=True)
    with tempfile.TemporaryDirectory(prefix="digits-bench-") as tmp:
        data_dir = Path(tmp)
        launched = time.perf_counter()
        # 60 noisy A4 pages are ~280 MB, over the default upload limit of 256 MiB
        with running_service(data_dir, args.port, WORKER_CONCURRENCY=str(args.workers),
                             MAX_UPLOAD_BYTES=str(UPLOAD_LIMIT)) as service:
            result["service_start_seconds"] = round(time.perf_counter() - launched, 1)
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
            result["worker_rss_mb_idle"] = {str(k): round(v) for k, v in peak.items()}
            cold = through_service(url, warm_up, sample)
            result["cold_pages_per_second"] = cold["pages_per_second"]
            print(f"first batch after start ({cold['pages']} pages): {cold['pages_per_second']} pages/s")
            for name, documents in sets.items():
                run = through_service(url, documents, sample)
                entry = result["sets"][name]
                run["breakdown"] = breakdown(data_dir, run.pop("batch"), run.pop("started_wall"),
                                             run["upload_seconds"], args.workers)
                entry["service"] = run
                plain_rate = entry["plain"]["pages_per_second"]
                entry["ratio"] = round(run["pages_per_second"] / (args.workers * plain_rate), 3)
                print(f"[{name}] service, {args.workers} workers: {run['pages']} pages "
                      f"({entry['megabytes']:.0f} MB) uploaded in {run['upload_seconds']} s, done after "
                      f"{run['total_seconds']} s → {run['pages_per_second']} pages/s "
                      f"(status {run['status']}); "
                      f"service ÷ ({args.workers} × plain) = {entry['ratio']}")
                print_breakdown(run["breakdown"])
            result["worker_rss_mb_peak"] = {str(k): round(v) for k, v in peak.items()}
    print("worker memory, peak resident: " + ", ".join(f"{v:.0f} MB" for v in peak.values()))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
