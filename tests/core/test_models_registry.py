"""The model registry (core.models_registry) against real databases, SQLite and PostgreSQL:
files kept once per content under the data directory, and the rules of promotion — one
promoted at a time, the one before retired, rollback only to a version that was active."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import delete, select, text
from sqlalchemy.exc import IntegrityError

from core import models_registry as registry
from core import processing
from core.db import session_scope
from core.migrate import alembic_config, upgrade
from core.schema import CANDIDATE, PROMOTED, RETIRED, ModelVersion
from core.settings import Settings
from tests.services import postgres_database, wait_until

SHIPPED = Settings()
JOIN_TIMEOUT_S = 60  # a promotion waiting for another's lock gets it as soon as that commits


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A migrated database of this module's own, on each backend."""
    data_dir = tmp_path_factory.mktemp(request.param)
    if request.param == "sqlite":
        settings = Settings.from_env({}, data_dir=data_dir)
        upgrade(settings)
        yield settings
        return
    with postgres_database() as url:
        settings = Settings.from_env({}, data_dir=data_dir, database_url=url)
        upgrade(settings)
        yield settings


@pytest.fixture()
def settings(database: Settings, tmp_path: Path) -> Settings:
    """The module's database with no model versions, and an empty data directory of its own."""
    with session_scope(database) as session:
        session.execute(delete(ModelVersion))
    return dataclasses.replace(database, data_dir=tmp_path)


@pytest.fixture()
def combination(tmp_path: Path) -> Path:
    """A combination calibration that differs from the shipped one (its field bias moved)."""
    data = json.loads(SHIPPED.combination_path.read_text())
    data["field"]["bias"] -= 1.0
    path = tmp_path / "candidate" / "combination.json"
    path.parent.mkdir()
    path.write_text(json.dumps(data))
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_files_are_kept_once_under_their_content_hash(settings: Settings, combination: Path) -> None:
    with session_scope(settings) as session:
        first = registry.register(session, settings, {"digits": SHIPPED.model_path}, name="a")
        second = registry.register(session, settings, {"digits": SHIPPED.model_path,
                                                       "combination": combination}, name="b")
        assert first.files == {"digits": sha256(SHIPPED.model_path)}
        assert second.files == {"digits": sha256(SHIPPED.model_path), "combination": sha256(combination)}
    kept = sorted(p.name for p in settings.models_dir.iterdir())
    assert kept == sorted([f"{sha256(SHIPPED.model_path)}.onnx", f"{sha256(combination)}.json"])
    for role, digest in second.files.items():
        stored = registry.stored_path(settings, role, digest)
        assert sha256(stored) == digest  # the bytes, whole: no temporary file left half-written
    with session_scope(settings) as session:
        listed = [(v.name, v.status) for v in registry.versions(session)]
    assert listed == [("b", CANDIDATE), ("a", CANDIDATE)]


def test_roles_not_carried_are_read_with_the_shipped_files(settings: Settings, combination: Path) -> None:
    with session_scope(settings) as session:
        version = registry.register(session, settings, {"combination": combination}, name="c")
        registry.promote(session, version.id)
    with session_scope(settings) as session:
        found = registry.active_files(session, settings)
    assert found is not None and found.id == version.id
    assert found.path("combination") == registry.stored_path(settings, "combination", sha256(combination))
    assert found.path("digits") is None and found.path("strings") is None


@pytest.mark.parametrize("role, content, suffix, says", [
    ("digits", b"not a model at all", ".onnx", "cannot be loaded"),
    ("digits", None, ".json", "is not a .onnx file"),
    ("combination", b'{"field": {"weights": {}}}', ".json", "cannot be loaded"),
    ("colour", b"{}", ".json", "unknown role"),
])
def test_a_file_its_role_cannot_read_is_refused(settings: Settings, tmp_path: Path, role: str,
                                                content: bytes | None, suffix: str, says: str) -> None:
    path = tmp_path / f"candidate{suffix}"
    path.write_bytes(content if content is not None else SHIPPED.combination_path.read_bytes())
    with session_scope(settings) as session, pytest.raises(registry.RegistryError, match=says):
        registry.register(session, settings, {role: path})
    with session_scope(settings) as session:
        assert registry.versions(session) == []
    assert not settings.models_dir.exists() or not any(settings.models_dir.iterdir())


def test_a_name_is_one_version_s(settings: Settings, combination: Path) -> None:
    with session_scope(settings) as session:
        first = registry.register(session, settings, {"combination": combination})
        assert first.name == f"registered:combination@{sha256(combination)[:12]}"
    with session_scope(settings) as session, pytest.raises(registry.RegistryError, match="taken"):
        registry.register(session, settings, {"combination": combination})


def test_one_version_is_promoted_at_a_time_and_rollback_goes_back(settings: Settings,
                                                                  combination: Path) -> None:
    with session_scope(settings) as session:
        assert registry.active(session) is None and registry.active_files(session, settings) is None
        a = registry.register(session, settings, {"combination": combination}, name="a").id
        b = registry.register(session, settings, {"digits": SHIPPED.model_path}, name="b").id
        c = registry.register(session, settings, {}, name="c").id

    def states() -> dict[int, str]:
        with session_scope(settings) as session:
            return {v.id: v.status for v in registry.versions(session)}

    with session_scope(settings) as session:
        registry.promote(session, a)
    assert states() == {a: PROMOTED, b: CANDIDATE, c: CANDIDATE}
    with session_scope(settings) as session:
        registry.promote(session, b)
        registry.promote(session, b)  # promoting the active one again changes nothing
    assert states() == {a: RETIRED, b: PROMOTED, c: CANDIDATE}
    for target, says in ((b, "active one already"), (c, "never been promoted")):
        with session_scope(settings) as session, pytest.raises(registry.RegistryError, match=says):
            registry.rollback(session, target)
    with session_scope(settings) as session:
        assert registry.rollback(session, a).status == PROMOTED
    assert states() == {a: PROMOTED, b: RETIRED, c: CANDIDATE}
    with session_scope(settings) as session:
        assert registry.active(session).id == a
        promoted_at = registry.active(session).promoted_at
        assert promoted_at is not None
    with session_scope(settings) as session, pytest.raises(registry.RegistryError, match="not the active"):
        registry.retire(session, b)
    with session_scope(settings) as session:
        registry.retire(session, a)
    assert states() == {a: RETIRED, b: RETIRED, c: CANDIDATE}
    with session_scope(settings) as session:
        assert registry.active(session) is None


def test_only_registered_versions_can_be_promoted(settings: Settings) -> None:
    """Rows workers record by the name of their shipped readers have no files to promote."""
    with session_scope(settings) as session:
        recorded = processing.model_version_id(session, "digits.onnx@f379fa311e5e")
    for change in (registry.promote, registry.rollback, registry.retire):
        for version_id in (recorded, recorded + 1000):
            with session_scope(settings) as session, pytest.raises(registry.UnknownVersion):
                change(session, version_id)
    with session_scope(settings) as session:
        assert registry.versions(session) == [] and registry.active(session) is None


def test_the_database_refuses_a_second_promoted_version(settings: Settings) -> None:
    with session_scope(settings) as session:
        a = registry.register(session, settings, {}, name="a")
        b = registry.register(session, settings, {"combination": SHIPPED.combination_path}, name="b")
        registry.promote(session, a.id)
    with pytest.raises(IntegrityError), session_scope(settings) as session:
        session.execute(text("UPDATE model_versions SET status = 'promoted' WHERE id = :id"), {"id": b.id})


def lock_waits(settings: Settings) -> int:
    """PostgreSQL sessions of this database waiting for a lock."""
    with session_scope(settings) as session:
        return session.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                   "current_database() AND wait_event_type = 'Lock'"))


def test_promotions_at_the_same_time_leave_one_promoted(settings: Settings) -> None:
    """A second promotion started while the first is not yet committed waits for it, then
    retires it: neither fails, and one version is promoted at the end."""
    with session_scope(settings) as session:
        a = registry.register(session, settings, {}, name="a").id
        b = registry.register(session, settings, {"combination": SHIPPED.combination_path}, name="b").id
    errors: list[BaseException] = []

    def promote_b() -> None:
        try:
            with session_scope(settings) as session:
                registry.promote(session, b)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    with session_scope(settings) as session:
        registry.promote(session, a)
        other = threading.Thread(target=promote_b)
        other.start()  # it waits for this transaction, which commits as the block ends
        if not settings.is_sqlite:  # seen waiting (SQLite's wait, for its write lock, is not seen)
            wait_until(lambda: lock_waits(settings), JOIN_TIMEOUT_S, "the second promotion waiting")
    other.join(JOIN_TIMEOUT_S)
    assert not other.is_alive() and errors == []
    with session_scope(settings) as session:
        assert {v.id: v.status for v in registry.versions(session)} == {a: RETIRED, b: PROMOTED}


def test_versions_recorded_before_the_registry_keep_working(tmp_path: Path) -> None:
    """A database at 0005 with a worker's version row: migrated, the row is there, unlisted,
    and a worker still finds it by name."""
    settings = Settings.from_env({}, data_dir=tmp_path)
    config = alembic_config(settings.database_url)
    command.upgrade(config, "0005")
    with session_scope(settings) as session:
        session.execute(text("INSERT INTO model_versions (name, created_at) VALUES ('old@1', '2026-01-01')"))
    command.upgrade(config, "head")
    with session_scope(settings) as session:
        old = session.scalar(select(ModelVersion).where(ModelVersion.name == "old@1"))
        assert old is not None and old.status is None and old.files is None
        assert processing.model_version_id(session, "old@1") == old.id
        assert registry.versions(session) == []
    command.downgrade(config, "0005")  # and back
    command.upgrade(config, "head")
