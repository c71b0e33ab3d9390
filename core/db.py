"""Engine and sessions, for web and worker alike: the one place that talks to the database.

PostgreSQL in production, SQLite embedded. On SQLite every transaction starts with
BEGIN IMMEDIATE (one writer at a time, no lost updates between worker processes) in WAL mode
(readers never wait for the writer) with a busy timeout instead of "database is locked" errors.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings

SQLITE_BUSY_TIMEOUT_MS = 30_000  # a worker's result transaction takes milliseconds; 30 s is ample

_engines: dict[tuple[int, str], Engine] = {}


def make_engine(database_url: str) -> Engine:
    """A new engine; pre-ping makes pooled connections survive a database restart."""
    if database_url.startswith("sqlite"):
        engine = create_engine(database_url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _sqlite_transactions(engine)
        return engine
    return create_engine(database_url, pool_pre_ping=True, pool_size=5, max_overflow=10,
                         pool_recycle=1800)


def _sqlite_transactions(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: object, _record: object) -> None:
        dbapi_connection.isolation_level = None  # type: ignore[attr-defined]  # we issue BEGIN
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: object) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")  # type: ignore[attr-defined]


def engine_for(settings: Settings) -> Engine:
    """This process's engine for the settings' database (a forked worker gets its own)."""
    key = (os.getpid(), settings.database_url)
    if key not in _engines:
        if settings.is_sqlite:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        _engines[key] = make_engine(settings.database_url)
    return _engines[key]


def session_factory(settings: Settings) -> sessionmaker[Session]:
    return sessionmaker(bind=engine_for(settings), expire_on_commit=False)


@contextmanager
def session_scope(settings: Settings) -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on any error."""
    session = session_factory(settings)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def dispose_all() -> None:
    """Drop pooled connections (after a fork, or in tests between databases)."""
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()
