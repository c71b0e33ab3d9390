"""Workers on separate hosts against one PostgreSQL and one Redis, on one machine.

Each "host" is a Linux network namespace (`ip netns`) joined to this one by a veth pair: its
processes have their own network stack and reach PostgreSQL and Redis only over that link, at
this side's address, as a second machine would (a forwarder here carries the link to the
servers, which listen on loopback). The data directory is shared, as the README's scaling-out
section asks of real machines (NFS there, the same disk here). Needs root and iproute2.

`python -m bench.hosts` reads the same batch with one worker host, then with two, and prints
how long each took and how many documents each host read.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from core.settings import PROJECT_ROOT

# 10.<200 + pid % 50>.<host>.0/24, this side .1, the host .2: a private range, apart for two
# runs at once (a CI run beside a session's)
SUBNET_BASE = 200
POSTGRES_PORT, REDIS_PORT = 5432, 6379
BENCH_REDIS_DB = 12  # the tests use 13 (tests/services.py)
READY_TIMEOUT_S = 120  # a worker host's start, TensorFlow-free, takes seconds; far over that


def available() -> str | None:
    """None when network namespaces can be made here, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2's ip is not installed"
    return None


@dataclass(frozen=True)
class Host:
    name: str  # the namespace's name
    address: str  # the host's own address
    gateway: str  # this side's address, where it finds PostgreSQL and Redis


def _ip(*args: str, namespace: str | None = None) -> None:
    command = ["ip", *(["netns", "exec", namespace, "ip"] if namespace else []), *args]
    subprocess.run(command, check=True, capture_output=True)


@contextmanager
def hosts(count: int) -> Iterator[list[Host]]:
    """`count` hosts, each a namespace with a veth link to this one; removed afterwards."""
    tag = f"dg{os.getpid() % 100000}"
    made: list[Host] = []
    try:
        for index in range(1, count + 1):
            subnet = f"10.{SUBNET_BASE + os.getpid() % 50}.{index}"
            host = Host(f"{tag}-h{index}", f"{subnet}.2", f"{subnet}.1")
            outside, inside = f"{tag}h{index}o", f"{tag}h{index}i"  # under 15 characters
            _ip("netns", "add", host.name)
            made.append(host)
            _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            _ip("link", "set", inside, "netns", host.name)
            _ip("addr", "add", f"{host.gateway}/24", "dev", outside)
            _ip("link", "set", outside, "up")
            _ip("addr", "add", f"{host.address}/24", "dev", inside, namespace=host.name)
            _ip("link", "set", inside, "up", namespace=host.name)
            _ip("link", "set", "lo", "up", namespace=host.name)
        yield made
    finally:
        for host in made:  # deleting a namespace deletes its end of the veth pair, and so both
            subprocess.run(["ip", "netns", "del", host.name], capture_output=True)


class Forwarder:
    """Carries TCP from each host's gateway address to the servers on this side's loopback."""

    def __init__(self, gateways: list[str], ports: tuple[int, ...] = (POSTGRES_PORT, REDIS_PORT)) -> None:
        self.addresses = [(gateway, port) for gateway in gateways for port in ports]
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.servers: list[asyncio.base_events.Server] = []

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(1 << 16):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _listen(self, host: str, port: int) -> asyncio.base_events.Server:
        """Each connection to (host, port) joined to the same port on loopback."""
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                writer.close()
                return
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        return await asyncio.start_server(handle, host, port, reuse_address=True)

    def __enter__(self) -> Forwarder:
        self.thread.start()
        for host, port in self.addresses:
            started = asyncio.run_coroutine_threadsafe(self._listen(host, port), self.loop)
            self.servers.append(started.result(10))
        return self

    def __exit__(self, *_: object) -> None:
        for server in self.servers:
            self.loop.call_soon_threadsafe(server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def on_host(host: Host, database_url: str, broker_url: str) -> dict[str, str]:
    """The URLs as a worker on `host` must use them: the servers at its gateway's address."""
    return {"DATABASE_URL": database_url.replace("127.0.0.1", host.gateway),
            "BROKER_URL": broker_url.replace("127.0.0.1", host.gateway)}


def start_worker(host: Host, env: dict[str, str], log: Path, concurrency: int = 1) -> subprocess.Popen:
    """A Celery worker inside `host`'s namespace; returns once its pool processes are up."""
    from worker import POOL_READY

    out = log.open("ab")
    process = subprocess.Popen(
        ["ip", "netns", "exec", host.name, sys.executable, "-m", "celery", "-A", "worker.app",
         "worker", "--loglevel", "INFO", "--concurrency", str(concurrency), "--queues", "documents",
         "--without-gossip", "--without-mingle", "--hostname", f"{host.name}@%h"],
        cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + READY_TIMEOUT_S
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the worker on {host.name} exited at start:\n{log.read_text()[-3000:]}")
        if log.read_text(errors="replace").count(POOL_READY) >= concurrency:
            return process
        time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"the worker on {host.name} did not get ready:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait(timeout=10)


def documents_read(log: Path) -> int:
    """How many documents the worker of this log finished (worker.documents' line for each)."""
    from bench.timeline import LOG_LINE

    return sum(1 for _ in LOG_LINE.finditer(log.read_text(errors="replace")))


@contextmanager
def scratch_servers() -> Iterator[tuple[str, str]]:
    """A new PostgreSQL database and an emptied Redis database for one bench run."""
    import uuid

    import psycopg
    import redis

    name = f"digits_hosts_{uuid.uuid4().hex[:8]}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    broker = redis.Redis("127.0.0.1", REDIS_PORT, db=BENCH_REDIS_DB)
    broker.flushdb()
    try:
        yield (f"postgresql+psycopg://postgres@127.0.0.1:{POSTGRES_PORT}/{name}",
               f"redis://127.0.0.1:{REDIS_PORT}/{BENCH_REDIS_DB}")
    finally:
        from core.db import dispose_all

        dispose_all()
        broker.flushdb()
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                          (name,))
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.hosts", description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=24, help="noisy colour A4 PNG pages in the batch")
    args = parser.parse_args(argv)
    why = available()
    if why:
        sys.exit(f"bench.hosts: {why}")
    import io
    import tempfile

    from bench.pages import noisy_pngs
    from core.migrate import upgrade
    from core.settings import Settings
    from web import create_app

    print(f"drawing {args.pages} pages…", flush=True)
    pages = noisy_pngs(args.pages, seed=17)
    figures: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="digits-hosts-") as tmp, \
            scratch_servers() as (database, broker), \
            hosts(2) as made, Forwarder([h.gateway for h in made]):
        settings = Settings.from_env({}, data_dir=Path(tmp), database_url=database, broker_url=broker)
        upgrade(settings)
        client = create_app(settings).test_client()
        env = dict(os.environ, DATA_DIR=tmp, PYTHONPATH=str(PROJECT_ROOT))
        for count in (1, 2):
            logs = [Path(tmp) / f"worker-{count}-{h.name}.log" for h in made[:count]]
            workers = [start_worker(h, {**env, **on_host(h, database, broker)}, log)
                       for h, log in zip(made[:count], logs)]
            try:
                files = [(io.BytesIO(d.data), d.name) for d in pages]
                started = time.perf_counter()
                response = client.post("/api/batches", data={"files": files},
                                       content_type="multipart/form-data")
                assert response.status_code == 202, response.get_data(as_text=True)
                status = wait_finished(client, response.get_json()["id"])
                seconds = time.perf_counter() - started
            finally:
                for process in workers:
                    stop(process)
            entry = figures[f"{count} host(s)"] = {
                "seconds": round(seconds, 2), "status": status["status"],
                "pages_per_second": round(args.pages / seconds, 2),
                "documents_per_host": [documents_read(log) for log in logs]}
            print(f"{count} worker host(s), one pool process each: {args.pages} pages in {seconds:.1f} s "
                  f"({entry['pages_per_second']} pages/s, status {status['status']}); documents read "
                  f"per host: {entry['documents_per_host']}", flush=True)
    one, two = figures["1 host(s)"]["seconds"], figures["2 host(s)"]["seconds"]
    print(f"two hosts finish the batch {one / two:.2f}× as fast as one")
    return figures


def wait_finished(client: object, batch_id: str, timeout: float = 1800) -> dict:
    """The batch's status once it is finished (polled through the API)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = client.get(f"/api/batches/{batch_id}").get_json()  # type: ignore[attr-defined]
        if status["status"] in ("done", "partial", "failed"):
            return status
        time.sleep(0.2)
    raise RuntimeError(f"batch {batch_id} not finished after {timeout} s")


if __name__ == "__main__":
    main()
