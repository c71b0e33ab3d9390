"""`make load`: 50 clients uploading 5 pages each at once, against the service on Redis and
PostgreSQL (loopback only, bounded in count and time).

A database and a Redis database of its own are used and cleaned up. Printed: uploads accepted,
documents done, upload latency (median, p95, max) and pages per second from the first upload
to the last batch done.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import requests

from bench.common import auth_headers, make_pages, running_service, wait_done

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"
REDIS_DB = 12
TIME_LIMIT_S = 900


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--pages", type=int, default=5, help="pages per client's batch")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--output", type=Path, default=Path("results/load.json"))
    args = parser.parse_args(argv)

    import psycopg
    import redis

    database = f"digits_load_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    broker = redis.Redis("127.0.0.1", 6379, db=REDIS_DB)
    broker.flushdb()
    pool = make_pages(25, seed=99)
    latencies: list[float] = []
    batches: list[str] = []
    refused: list[str] = []
    lock = threading.Lock()
    try:
        with tempfile.TemporaryDirectory(prefix="digits-load-") as tmp:
            env = {"DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}",
                   "BROKER_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
                   "WORKER_CONCURRENCY": str(args.workers), "WEB_PROCESSES": "2"}
            with running_service(Path(tmp), args.port, **env):
                url = f"http://127.0.0.1:{args.port}"
                start_line = threading.Barrier(args.clients)

                def client(number: int) -> None:
                    files = [("files", (f"c{number:02d}-p{k}.png",
                                        pool[(number * args.pages + k) % len(pool)], "image/png"))
                             for k in range(args.pages)]
                    start_line.wait()
                    began = time.perf_counter()
                    try:
                        response = requests.post(f"{url}/api/batches", files=files,
                                                 headers=auth_headers(), timeout=120)
                    except requests.RequestException as exc:
                        with lock:
                            refused.append(f"client {number}: {exc}")
                        return
                    with lock:
                        latencies.append(time.perf_counter() - began)
                        if response.status_code == 202:
                            batches.append(response.json()["id"])
                        else:
                            refused.append(f"client {number}: {response.status_code} {response.text[:200]}")

                started = time.perf_counter()
                threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(timeout=TIME_LIMIT_S)
                finals = [wait_done(url, b, {}, timeout=TIME_LIMIT_S) for b in batches]
                finished = time.perf_counter()
    finally:
        broker.flushdb()
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                          (database,))
            admin.execute(f'DROP DATABASE IF EXISTS "{database}"')
    pages = args.clients * args.pages
    done = sum(f["documents"]["done"] for f in finals)
    result = {
        "clients": args.clients, "pages_per_client": args.pages, "uploads_accepted": len(batches),
        "uploads_refused": refused, "documents": pages, "documents_done": done,
        "batches_done": sum(f["status"] == "done" for f in finals),
        "upload_latency_s": {"median": round(float(np.median(latencies)), 3),
                             "p95": round(float(np.percentile(latencies, 95)), 3),
                             "max": round(max(latencies), 3)} if latencies else None,
        "seconds": round(finished - started, 1), "pages_per_second": round(pages / (finished - started), 2),
    }
    print(f"{len(batches)}/{args.clients} uploads accepted; {done}/{pages} documents done; "
          f"upload latency median {result['upload_latency_s']['median']} s, "
          f"p95 {result['upload_latency_s']['p95']} s; {result['pages_per_second']} pages/s overall")
    for line in refused:
        print("refused:", line)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
