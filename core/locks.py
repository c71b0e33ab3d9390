"""A per-document lock held while a worker reads it, released by the operating system or the
database the moment that worker dies, so a redelivered task can tell a dead reader from a live
one: PostgreSQL advisory locks on a connection of their own; on SQLite (one machine), flock
on a file per document, removed when the document is done with.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core.db import engine_for
from core.settings import Settings

LOCK_SPACE = 0x44494749  # "DIGI": keeps our advisory lock ids apart from other applications'


def _locked_file(path: os.PathLike[str]) -> int | None:
    """A descriptor of `path` locked by this process, or None if another process holds it."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            current = os.stat(path).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(fd).st_ino:
            return fd
        os.close(fd)  # its holder removed the file as we opened it: lock the new one


@contextmanager
def document_lock(settings: Settings, document_id: int) -> Iterator[bool]:
    """Yields True if this process now holds the document's lock, False if another holds it."""
    if settings.is_sqlite:
        folder = settings.data_dir / "locks"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"document-{int(document_id)}.lock"
        fd = _locked_file(path)
        if fd is None:
            yield False
            return
        try:
            yield True
        finally:
            # Only the holder removes the file, while it still holds it: a process that opened
            # the old file meanwhile finds it unlinked once it gets the lock, and starts again.
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            os.close(fd)  # closing releases the lock
        return
    with engine_for(settings).connect() as connection:
        held = connection.execute(text("SELECT pg_try_advisory_lock(:space, :id)"),
                                  {"space": LOCK_SPACE, "id": int(document_id)}).scalar()
        connection.commit()
        try:
            yield bool(held)
        finally:
            if held:
                try:
                    connection.execute(text("SELECT pg_advisory_unlock(:space, :id)"),
                                       {"space": LOCK_SPACE, "id": int(document_id)})
                    connection.commit()
                except DBAPIError:
                    pass  # the connection is gone (database restarted): so is the lock
