"""The bookkeeping of improving from corrections (worker.improve): one run at a time, its state
kept in the registry's folder for GET /api/models/improve. Light: the web imports it."""

from __future__ import annotations

import fcntl
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

from core.settings import Settings
from core.storage import write_whole

STATUS_FILE = "improve.json"  # in the registry's folder: the last run's state
LOCK_FILE = "improve.lock"  # held by the process running it (a killed run holds nothing)
LOG_LINES = 50  # the last lines of a run's progress kept in its state


class Busy(RuntimeError):
    """A run is going on already (one at a time: each takes both cores for minutes)."""


def status(settings: Settings) -> dict:
    """The last run's state: "none", "queued", "running", "done" or "failed", with its log."""
    try:
        return json.loads((settings.models_dir / STATUS_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return {"state": "none", "log": []}


def record(settings: Settings, state: dict) -> None:
    """Write the run's state, whole or not at all."""
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    write_whole(settings.models_dir / STATUS_FILE, json.dumps(state))


@contextmanager
def exclusive(settings: Settings) -> Iterator[None]:
    """Held while a run goes on; Busy when another process holds it."""
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    with (settings.models_dir / LOCK_FILE).open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy("a run is going on already: see GET /api/models/improve") from None
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def mark_queued(settings: Settings) -> dict:
    """Record that a run was asked for; Busy while one goes on."""
    with exclusive(settings):  # free now: no run is going on
        state = {"state": "queued", "queued_at": time.time(), "log": []}
        record(settings, state)
    return state
