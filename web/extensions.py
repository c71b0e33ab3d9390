"""Extensions, initialised in one place: the database session per request and the broker."""

from __future__ import annotations

from celery import Celery
from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from core.db import session_factory
from core.settings import Settings
from worker.celery_app import make_celery
from worker.sweep import notify as notify_of
from worker.sweep import publish as publish_to


def init_app(app: Flask, settings: Settings) -> None:
    app.extensions["sessions"] = session_factory(settings)
    app.extensions["celery"] = make_celery(settings)
    app.teardown_appcontext(_close_session)


def settings() -> Settings:
    return current_app.config["SETTINGS"]


def db() -> Session:
    """This request's database session (opened on first use, closed at the end)."""
    if "db" not in g:
        g.db = current_app.extensions["sessions"]()
    return g.db


def celery() -> Celery:
    return current_app.extensions["celery"]


def publish(document_id: int) -> None:
    publish_to(celery(), document_id)


def notify(batch_id: str) -> None:
    """Hand a finished batch's callback to the workers (core.callbacks)."""
    notify_of(celery(), batch_id)


def _close_session(_: BaseException | None) -> None:
    session = g.pop("db", None)
    if session is not None:
        session.rollback()
        session.close()
