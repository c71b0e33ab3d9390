"""A per-document lock held while a worker reads it, released by the operating system or the
database the moment that worker dies, so a redelivered task can tell a dead reader from a live
one: PostgreSQL advisory locks on a connection of their own; on SQLite (one machine), flock.
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


@contextmanager
def document_lock(settings: Settings, document_id: int) -> Iterator[bool]:
    """Yields True if this process now holds the document's lock, False if another holds it."""
    if settings.is_sqlite:
        folder = settings.data_dir / "locks"
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / f"document-{int(document_id)}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
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
