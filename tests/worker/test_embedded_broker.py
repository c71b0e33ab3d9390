"""Processes starting at once on a new embedded broker file all start.

kombu's SQLAlchemy transport looks for its tables and its queues' rows, then makes them, under a
lock of its own process only; processes starting together on a new file could both find
nothing, and one failed (`UNIQUE constraint failed: kombu_queue.name`, or "table kombu_queue
already exists"): 1 process start in 30, three at a time, on 2026-12-03; nearly every one but
the first when they start at the very same moment, as here. The one that loses now tries again
(worker.celery_app._retrying_a_race)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from worker.celery_app import EMBEDDED_SETUP_TRIES, _retrying_a_race

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BROKERS = 6  # new broker files, each opened by PROCESSES at the same moment
PROCESSES = 3  # as `make run` starts: the web, the document worker, the training worker
START_IN_S = 20.0  # every process waits for the same moment, well after all have imported

DECLARE = """
import dataclasses, sys, time
from core.settings import Settings
from worker.celery_app import QUEUE, TRAINING_QUEUE, make_celery

settings = dataclasses.replace(Settings.from_env(), broker_url="sqla+sqlite:///" + sys.argv[1])
app = make_celery(settings)
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
with app.connection_for_write() as connection:
    for queue in (QUEUE, TRAINING_QUEUE):
        connection.default_channel.queue_declare(queue=queue)
"""


def test_processes_starting_together_on_a_new_embedded_broker_all_start(tmp_path: Path) -> None:
    start = time.time() + START_IN_S
    brokers = [tmp_path / f"broker-{b}.sqlite3" for b in range(BROKERS)]
    runs = [subprocess.Popen([sys.executable, "-c", DECLARE, str(broker), repr(start)], cwd=PROJECT_ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for broker in brokers for _ in range(PROCESSES)]
    failed = []
    for process in runs:
        output, _ = process.communicate(timeout=240)
        if process.returncode != 0:
            errors = [line for line in output.splitlines() if "Error:" in line]
            failed.append(errors[-1] if errors else f"exit {process.returncode}: {output[-300:]}")
    assert not failed, failed
    for broker in brokers:
        with sqlite3.connect(broker) as db:
            names = sorted(n for (n,) in db.execute("SELECT name FROM kombu_queue"))
        assert names == ["documents", "training"]


def _unique_violation(path: Path) -> IntegrityError:
    """A real one, from SQLite."""
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE IF NOT EXISTS q (name TEXT UNIQUE)")
        db.execute("INSERT OR IGNORE INTO q VALUES ('documents')")
        try:
            db.execute("INSERT INTO q VALUES ('documents')")
        except sqlite3.IntegrityError as exc:
            return IntegrityError("INSERT INTO q", {}, exc)
    raise AssertionError("no violation")


class _Session:
    rolled_back = 0

    def rollback(self) -> None:
        self.rolled_back += 1


class _Channel:
    def __init__(self) -> None:
        self.session = _Session()


def test_a_lost_race_is_tried_again_and_other_errors_are_not(tmp_path: Path) -> None:
    raced = _unique_violation(tmp_path / "race.sqlite3")
    calls: list[str] = []

    def _get_or_create(channel: _Channel, queue: str) -> str:
        calls.append(queue)
        if len(calls) == 1:
            raise raced  # another process made the row between our look and our insert
        return queue

    channel = _Channel()
    assert _retrying_a_race(_get_or_create, True)(channel, "documents") == "documents"
    assert calls == ["documents", "documents"] and channel.session.rolled_back == 1

    def broken(channel: _Channel) -> None:
        calls.append("broken")
        raise OperationalError("SELECT", {}, sqlite3.OperationalError("no such column: nme"))

    calls.clear()
    with pytest.raises(OperationalError):
        _retrying_a_race(broken, False)(channel)
    assert calls == ["broken"]  # not a race: not tried again

    def always(channel: _Channel) -> None:
        calls.append("always")
        raise raced

    calls.clear()
    with pytest.raises(IntegrityError):
        _retrying_a_race(always, True)(channel)
    assert len(calls) == EMBEDDED_SETUP_TRIES
    assert channel.session.rolled_back == 1 + EMBEDDED_SETUP_TRIES  # left clean after the last one too


def test_kombus_channel_is_wrapped_once_however_many_apps_are_made() -> None:
    from kombu.transport import sqlalchemy as embedded_transport

    from core.settings import Settings
    from worker.celery_app import make_celery

    for _ in range(3):
        make_celery(Settings.from_env(broker_url="sqla+sqlite:///:memory:"))
    for name in ("_open", "_get_or_create"):
        method = getattr(embedded_transport.Channel, name)
        assert method.retries_a_race and not getattr(method.__wrapped__, "retries_a_race", False)


def test_an_app_polls_the_embedded_broker_at_the_settings_pace(tmp_path: Path) -> None:
    """BROKER_POLL_S sets how often an idle process looks at the broker's table (`make run`
    gives its training-queue process TRAINING_POLL_S): 20 looks a second cost an idle service
    9% of a core."""
    from kombu.transport import sqlalchemy as embedded_transport

    from core.settings import Settings
    from worker.celery_app import TRAINING_POLL_S, make_celery

    try:
        make_celery(Settings.from_env({"BROKER_URL": "sqla+sqlite:///:memory:",
                                       "BROKER_POLL_S": str(TRAINING_POLL_S)}, data_dir=tmp_path))
        assert embedded_transport.Transport.polling_interval == TRAINING_POLL_S
    finally:
        make_celery(Settings.from_env({}, broker_url="sqla+sqlite:///:memory:", data_dir=tmp_path))
    assert embedded_transport.Transport.polling_interval == Settings.broker_poll_s < TRAINING_POLL_S


def test_an_idle_consumer_polls_less_and_less_often() -> None:
    from worker.celery_app import IDLE_FAST_S, IDLE_POLL_S, idle_poll_interval

    paces = [idle_poll_interval(k * IDLE_FAST_S / 2, 0.05) for k in range(40)]
    assert paces[:2] == [0.05, 0.05] and paces[2] == 0.1  # fast for IDLE_FAST_S, then doubling
    assert paces == sorted(paces) and paces[-1] == IDLE_POLL_S
    assert idle_poll_interval(1000.0, 2.0) == 2.0  # a slower pace of its own is kept


def test_an_idle_embedded_consumer_takes_a_message_and_polls_fast_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a real consumer on an embedded broker file: idle, it looks at the table less and less
    # often; a message published meanwhile is taken within IDLE_POLL_S, and it is fast again
    from kombu import Connection, Queue

    from worker import celery_app

    monkeypatch.setattr(celery_app, "IDLE_FAST_S", 0.2)
    url = f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}"
    celery_app._tune_embedded_broker(url, 0.02)
    got: list[object] = []
    with Connection(url) as connection:
        queue = Queue("idle-test")
        with connection.Consumer(queue, callbacks=[lambda body, message: (got.append(body), message.ack())],
                                 accept=["json"]):
            polls: list[float] = []
            cycle = connection.transport.cycle
            look = cycle.get

            def counted(*args: object, **kwargs: object) -> object:
                polls.append(time.monotonic())
                return look(*args, **kwargs)

            monkeypatch.setattr(cycle, "get", counted)
            with pytest.raises(TimeoutError):
                connection.drain_events(timeout=2.5)
            assert len(polls) < 60  # 0.02 s throughout would be ~125
            assert max(b - a for a, b in zip(polls, polls[1:])) > 0.2  # it had slowed down
            with connection.Producer() as producer:
                producer.publish({"n": 1}, routing_key="idle-test", declare=[queue], serializer="json")
            sent = time.monotonic()
            connection.drain_events(timeout=5)
            assert got == [{"n": 1}] and time.monotonic() - sent < celery_app.IDLE_POLL_S + 1.0
            polls.clear()
            with pytest.raises(TimeoutError):
                connection.drain_events(timeout=0.15)
            assert len(polls) >= 3  # fast again after a message
