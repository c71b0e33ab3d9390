"""The hot folder's process: `python -m worker.watch` (`make run` starts it when WATCH_DIR is set).

Looks at WATCH_DIR every WATCH_INTERVAL_S: claims what is complete, uploads it as a batch,
and delivers finished batches to done/ and failed/ (core.hotfolder, where the steps and what
a crash does to each are described). Claims left by a process that died are taken up first.
One process per folder: a second one waits on the folder's lock.
"""

from __future__ import annotations

import fcntl
import logging
import signal
import sys
import time
from pathlib import Path

from core import hotfolder
from core.batches import UploadRejected
from core.db import session_scope
from core.receiving import parse_options
from core.settings import Settings
from worker.celery_app import make_celery
from worker.sweep import notify, publish

log = logging.getLogger("worker.watch")
# A step that failed (the database or the disk went away) is tried again on a later pass; its
# error is logged once in this many seconds, not on every pass.
ERROR_LOG_INTERVAL_S = 60.0


class Watcher:
    """One pass at a time over WATCH_DIR (`run_once`), or passes until stopped (`run`)."""

    def __init__(self, settings: Settings) -> None:
        if settings.watch_dir is None:
            raise ValueError("WATCH_DIR is not set: nothing to watch")
        self.settings = settings
        self.root: Path = settings.watch_dir
        self.celery = make_celery(settings)
        self.inbox = hotfolder.Inbox(self.root, settings.watch_quiet_s, settings.max_files_per_batch)
        self.stopping = False
        self._last_error = 0.0

    def publish(self, document_id: int) -> None:
        publish(self.celery, document_id)

    def notify(self, batch_id: str) -> None:
        notify(self.celery, batch_id)

    def run_once(self) -> int:
        """Take every claim as far as it goes, then claim what is complete; returns the
        number of claims still waiting for their batch."""
        waiting = 0
        for item in hotfolder.pending(self.root):
            if self.stopping:
                break
            waiting += not self._step(item)
        for ready in self.inbox.scan():
            if self.stopping:
                break
            waiting += not self._step(hotfolder.claim(self.root, ready))
        return waiting

    def _step(self, item: hotfolder.Claim) -> bool:
        try:
            with session_scope(self.settings) as session:
                return hotfolder.step(session, self.settings, self.root, item, self.publish, self.notify)
        except Exception:  # noqa: BLE001 - the claim stays; the next pass tries it again
            if time.time() - self._last_error >= ERROR_LOG_INTERVAL_S:
                log.exception("hot folder: batch %s could not go on now; trying again", item.batch_id)
                self._last_error = time.time()
            return False

    def run(self) -> None:
        for name in ("done", "failed"):
            (self.root / name).mkdir(parents=True, exist_ok=True)
        state = self.root / hotfolder.STATE_DIR
        state.mkdir(exist_ok=True)
        with (state / "watch.lock").open("w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.warning("hot folder: another process watches %s; waiting for it to stop", self.root)
                fcntl.flock(lock, fcntl.LOCK_EX)
            log.info("hot folder: watching %s (quiet %.1f s)", self.root, self.settings.watch_quiet_s)
            while not self.stopping:
                self.run_once()
                time.sleep(self.settings.watch_interval_s)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        stream=sys.stdout)
    settings = Settings.from_env()
    if settings.watch_dir is None:
        print("set WATCH_DIR to the folder to watch", file=sys.stderr)
        return 2
    try:  # WATCH_TEMPLATE, WATCH_LAYOUT, WATCH_REVIEW_THRESHOLD: refused now, not on every batch
        parse_options(settings, hotfolder.default_options(settings))
    except UploadRejected as exc:
        print(f"the hot folder's options (WATCH_*): {exc.message}", file=sys.stderr)
        return 2
    settings.watch_dir.mkdir(parents=True, exist_ok=True)
    watcher = Watcher(settings)

    def stop(*_: object) -> None:
        watcher.stopping = True  # the pass in progress ends at a step's boundary

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    watcher.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
