"""Model versions in the database, their files in the data directory: register, promote, roll back.

A version names up to four files by role: "digits" (the glyph classifier, ONNX), "strings"
(the CRNN string reader of field images, ONNX), "strings_pages" (the CRNN of a page's open boxes
and combs, ONNX) and "combination" (the readers' calibration, JSON); a role it
does not carry is read with the shipped file of the settings. Files are kept once per content
under `<data_dir>/models/<sha256>.<ext>`. A registered version starts as a candidate; promoting
one makes it the active one (exactly one at a time, the database keeps it so) and retires the
one before; rolling back promotes a retired one again; retiring the active one leaves none
promoted. With none promoted, workers read with the shipped files. Workers look at the active
version as they start each document (`active_files`), so a promotion is taken up without a restart.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.schema import CANDIDATE, PROMOTED, RETIRED, ModelVersion, iso_utc, utcnow
from core.settings import Settings

ROLES = {"digits": ".onnx", "strings": ".onnx", "strings_pages": ".onnx",
         "combination": ".json"}  # role -> file type
CHUNK = 1 << 20  # files are copied and hashed a MiB at a time


class RegistryError(ValueError):
    """A registry request that cannot be done; the message says why."""


class UnknownVersion(RegistryError):
    """No registered version has that id."""


@dataclass(frozen=True)
class Active:
    """The promoted version as a worker needs it: its id, name and stored files by role."""

    id: int
    name: str
    files: tuple[tuple[str, str], ...]  # (role, path), only the roles it carries

    def path(self, role: str) -> Path | None:
        """The version's file for `role`, None when it reads that role with the shipped file."""
        return next((Path(p) for r, p in self.files if r == role), None)


def stored_path(settings: Settings, role: str, sha256: str) -> Path:
    """Where the file of `role` with content hash `sha256` is kept."""
    return settings.models_dir / f"{sha256}{ROLES[role]}"


def store(settings: Settings, role: str, source: Path) -> str:
    """Copy `source` into the data directory under its content hash (once); returns the hash.
    Written to a temporary file and renamed, so no reader ever sees a half-written model."""
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=settings.models_dir, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as out, Path(source).open("rb") as src:
            for chunk in iter(lambda: src.read(CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        target = stored_path(settings, role, digest.hexdigest())
        if target.is_file():
            os.unlink(tmp)  # the same bytes are kept already
        else:
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return digest.hexdigest()


def _check(role: str, path: Path) -> None:
    """Refuse a file that is not what its role reads, before anything is recorded."""
    if role not in ROLES:
        raise RegistryError(f"unknown role {role!r} (known: {', '.join(ROLES)})")
    if not path.is_file():
        raise RegistryError(f"{role}: no file at {path}")
    if path.suffix.lower() != ROLES[role]:
        raise RegistryError(f"{role}: {path.name} is not a {ROLES[role]} file")
    try:
        if role == "combination":
            from reading.combine import Calibrations

            Calibrations.load(path)
        else:
            import onnxruntime as ort

            ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - whatever the loader says is why it is refused
        raise RegistryError(f"{role}: {path.name} cannot be loaded ({type(exc).__name__}: {exc})") from None


def register(session: Session, settings: Settings, files: dict[str, Path], name: str | None = None,
             note: str | None = None, metrics: dict | None = None) -> ModelVersion:
    """Store a candidate's files (role -> file; missing roles: the shipped ones) and record it."""
    for role, path in files.items():
        _check(role, Path(path))
    hashes = {role: store(settings, role, Path(path)) for role, path in sorted(files.items())}
    name = name or "registered:" + ("+".join(f"{r}@{h[:12]}" for r, h in hashes.items()) or "shipped")
    taken = session.scalar(select(ModelVersion.id).where(ModelVersion.name == name))
    if taken is not None:
        raise RegistryError(f"the name {name!r} is taken by version {taken}: give another")
    version = ModelVersion(name=name, status=CANDIDATE, files=hashes, metrics=metrics, note=note)
    session.add(version)
    session.flush()
    return version


def versions(session: Session) -> list[ModelVersion]:
    """Every registered version, newest first (rows workers recorded by name are not listed)."""
    return list(session.scalars(select(ModelVersion).where(ModelVersion.status.is_not(None))
                                .order_by(ModelVersion.id.desc())))


def _registered(session: Session, version_id: int) -> ModelVersion:
    version = session.get(ModelVersion, version_id)
    if version is None or version.status is None:
        raise UnknownVersion(f"no registered model version {version_id}")
    return version


def promote(session: Session, version_id: int) -> ModelVersion:
    """Make `version_id` the active version; the one active before is retired."""
    # Registered rows locked first: two promotions at once are done one after the other
    # (PostgreSQL; SQLite's transactions are one at a time already).
    session.execute(select(ModelVersion.id).where(ModelVersion.status.is_not(None)).with_for_update())
    version = _registered(session, version_id)
    session.refresh(version)
    if version.status == PROMOTED:
        return version
    session.execute(update(ModelVersion).where(ModelVersion.status == PROMOTED)
                    .values(status=RETIRED).execution_options(synchronize_session="fetch"))
    version.status, version.promoted_at = PROMOTED, utcnow()
    session.flush()
    return version


def rollback(session: Session, version_id: int) -> ModelVersion:
    """Promote again a version that was active before (a retired one)."""
    version = _registered(session, version_id)
    if version.status == PROMOTED:
        raise RegistryError(f"version {version_id} ({version.name}) is the active one already")
    if version.status != RETIRED:
        raise RegistryError(f"version {version_id} ({version.name}) has never been promoted: "
                            "promote it instead")
    return promote(session, version_id)


def retire(session: Session, version_id: int) -> ModelVersion:
    """Retire the active version with none after it: workers read with the shipped files again."""
    session.execute(select(ModelVersion.id).where(ModelVersion.status.is_not(None)).with_for_update())
    version = _registered(session, version_id)
    session.refresh(version)
    if version.status != PROMOTED:
        raise RegistryError(f"version {version_id} ({version.name}) is not the active one")
    version.status = RETIRED
    session.flush()
    return version


def active(session: Session) -> ModelVersion | None:
    """The promoted version; None when workers read with the shipped files."""
    return session.scalar(select(ModelVersion).where(ModelVersion.status == PROMOTED))


def active_files(session: Session, settings: Settings) -> Active | None:
    """The promoted version's id, name and file paths, in one small query (a worker's check)."""
    row = session.execute(select(ModelVersion.id, ModelVersion.name, ModelVersion.files)
                          .where(ModelVersion.status == PROMOTED)).first()
    if row is None:
        return None
    files = row.files or {}
    return Active(row.id, row.name, tuple((role, str(stored_path(settings, role, files[role])))
                                          for role in sorted(files)))


def describe(version: ModelVersion) -> dict:
    """A version as the API and the command show it."""
    return {"id": version.id, "name": version.name, "status": version.status,
            "files": dict(version.files or {}), "metrics": version.metrics, "note": version.note,
            "created_at": iso_utc(version.created_at), "promoted_at": iso_utc(version.promoted_at)}


def load_metrics(path: Path | None) -> dict | None:
    """An evaluation comparison from a JSON file (an object), or None without one."""
    if path is None:
        return None
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict):
        raise RegistryError(f"{path}: the metrics must be a JSON object")
    return data
