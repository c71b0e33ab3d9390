"""Applying the Alembic migrations in `migrations/` (used by `make run`, the tests and CI)."""

from __future__ import annotations

import sys

from alembic import command
from alembic.config import Config

from core.settings import PROJECT_ROOT, Settings


def alembic_config(database_url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.attributes["database_url"] = database_url
    return config


def upgrade(settings: Settings) -> None:
    """Bring the settings' database to the newest schema (creating it if empty)."""
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(settings.database_url), "head")


if __name__ == "__main__":
    upgrade(Settings.from_env())
    sys.stdout.write("database schema is up to date\n")
