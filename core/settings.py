"""The service's configuration: one object, read from the environment, shared by web and worker."""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Fields whose confidence is under this are put in front of a person. Chosen from `make eval`:
# the lowest threshold at which auto-accepted fields err at most 0.5% on the generated pages
# (see README, "Choosing the review threshold").
# make eval, 2026-11-24: 0.9425 was the lowest with ≤0.5% errors. 2026-11-25: the eval pages
# need 0.8114, those of seeds 99 and 5 0.9465 and 0.9284: 0.95 covers all three.
DEFAULT_REVIEW_THRESHOLD = 0.95
LINE_READERS = ("crnn", "ppocr")  # the string readers there are (worker.recognition.line_reader)


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names the variable."""


@dataclasses.dataclass(frozen=True)
class Settings:
    data_dir: Path = PROJECT_ROOT / "var"
    database_url: str = ""
    broker_url: str = ""
    api_token: str | None = None
    secret_key: str = ""
    host: str = "127.0.0.1"  # docker-compose sets 0.0.0.0 inside its network
    port: int = 8000
    web_processes: int = 2
    proxies: int = 0  # reverse proxies in front (their X-Forwarded-* headers are trusted)
    secure_cookies: bool = False  # set when users reach the service over HTTPS
    # Where every process writes its Prometheus counts for GET /metrics (core.metrics); web and
    # workers must share it. Unset: <data_dir>/metrics.
    metrics_dir: Path | None = None
    mnist_dir: Path | None = None
    model_path: Path = PROJECT_ROOT / "models" / "weights" / "digits.onnx"  # the .keras file, exported
    # The string readers that read open boxes and field images whole, beside the glyph
    # classifier (comma-separated; "none" for none): "crnn" (ours, strings_model_path) and
    # "ppocr" (PP-OCRv6's recogniser from the rapidocr wheel).
    line_readers: str = "crnn,ppocr"
    strings_model_path: Path = PROJECT_ROOT / "models" / "weights" / "strings.onnx"
    # The CRNN that reads a page's open boxes and combs (trained on such fields as segmentation
    # cuts them); field images and undrawn regions are read by strings_model_path. The same
    # file as strings_model_path: one CRNN for every field.
    page_strings_model_path: Path = PROJECT_ROOT / "models" / "weights" / "strings_pages.onnx"
    combination_path: Path = PROJECT_ROOT / "models" / "weights" / "combination.json"
    form_templates_dir: Path = PROJECT_ROOT / "form_templates"
    review_threshold: float = DEFAULT_REVIEW_THRESHOLD
    pdf_dpi: int = 200
    # Limits: each protects memory or disk from one hostile or mistaken upload.
    max_upload_bytes: int = 256 * 1024 * 1024
    max_files_per_batch: int = 1000
    max_pages_per_document: int = 200
    max_page_pixels: int = 40_000_000  # an A4 page at 600 dpi is 35 Mpx
    max_page_bytes: int = 200_000_000  # decoded: a 40 Mpx RGBA page is 160 MB, in 16 bits 320
    page_timeout_s: float = 60.0  # a PDF page not drawn within this is an error of its own
    # A document still being read after this long is stopped and marked failed (a 200-page
    # document reads in 1-2 minutes on a loaded 2-core machine).
    document_time_limit_s: int = 1800
    max_zip_members: int = 1000
    max_zip_uncompressed_bytes: int = 1024 * 1024 * 1024
    max_zip_ratio: int = 200  # real scans compress 2-20x; a bomb compresses 1000x
    max_zip_depth: int = 2
    # Worker behaviour.
    worker_concurrency: int = 2
    task_max_retries: int = 3
    task_retry_backoff_s: int = 2
    broker_visibility_timeout_s: int = 600
    sweep_interval_s: float = 30.0
    stale_after_s: int = 300  # a reader silent this long (no page finished) is taken for dead
    # A queued document whose queue has been empty this long has lost its message (the broker
    # restarted empty, or a killed worker had taken it): a minute, far over a message's trip.
    lost_after_s: int = 60
    broker_timeout_s: float = 3.0
    # How often an idle worker process looks at the embedded broker's table (Redis pushes
    # instead): kombu's default of once a second left each pool process idle up to a second
    # after every document. Each look costs ~2 ms of CPU: 20 a second kept an idle `make run`
    # at 9% of a core (both consumers), so its training queue's process looks once a second
    # (`worker.celery_app.TRAINING_POLL_S`), where a run waiting a second is nothing.
    broker_poll_s: float = 0.05
    # Callbacks (core.callbacks): a signed POST when a batch finishes, to the upload's
    # callback_url or this default; only to the hosts listed (host or host:port, commas), signed
    # with HMAC-SHA256 under callback_secret; retried with back-off, then recorded as failed.
    callback_url: str = ""
    callback_hosts: str = ""
    callback_secret: str = ""
    callback_retries: int = 6  # 2, 4, 8, 16, 32, 64 s apart: two minutes of a receiver's restart
    callback_backoff_s: float = 2.0
    callback_timeout_s: float = 10.0  # a receiver should answer at once and work afterwards
    # The hot folder (core.hotfolder, `python -m worker.watch`; `make run` starts it when
    # WATCH_DIR is set): files dropped there are read, then moved to done/ or failed/.
    watch_dir: Path | None = None
    # A file unchanged this long is complete. Scanners and copies write without pauses of
    # seconds; a copy over a slow share can pause longer: raise it there.
    watch_quiet_s: float = 5.0
    watch_interval_s: float = 1.0  # how often the folder is looked at
    watch_template: str = ""  # the options of its batches (a sub-folder's batch.json overrides)
    watch_layout: str = ""
    watch_review_threshold: float | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from environment variables (names as in the README), then `overrides`."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for field in dataclasses.fields(cls):
            raw = env.get(field.name.upper())
            if raw is None or raw == "":
                continue
            values[field.name] = _parse(field.name, field.type, raw)
        values.update(overrides)
        settings = cls(**values)  # type: ignore[arg-type]
        return settings._with_derived_defaults()

    def _with_derived_defaults(self) -> Settings:
        data_dir = Path(self.data_dir).resolve()
        changes: dict[str, object] = {"data_dir": data_dir}
        if not self.database_url:
            changes["database_url"] = f"sqlite:///{data_dir / 'digits.sqlite3'}"
        if not self.broker_url:
            changes["broker_url"] = f"sqla+sqlite:///{data_dir / 'broker.sqlite3'}"
        if not self.secret_key:
            changes["secret_key"] = _persistent_secret(data_dir)
        metrics_dir = Path(self.metrics_dir).resolve() if self.metrics_dir else data_dir / "metrics"
        changes["metrics_dir"] = metrics_dir
        if self.watch_dir:
            changes["watch_dir"] = Path(self.watch_dir).resolve()
        if self.broker_poll_s <= 0:  # 0 would have idle workers poll the table without pause
            raise SettingsError(f"BROKER_POLL_S must be above 0, got {self.broker_poll_s}")
        if not 0.0 <= self.review_threshold <= 1.0:
            raise SettingsError(f"REVIEW_THRESHOLD must be within 0..1, got {self.review_threshold}")
        unknown = set(self.reader_names) - set(LINE_READERS)
        if unknown:
            raise SettingsError(f"LINE_READERS={self.line_readers!r}: unknown reader(s) "
                                f"{', '.join(sorted(unknown))} (known: {', '.join(LINE_READERS)}, or none)")
        return dataclasses.replace(self, **changes)

    @property
    def reader_names(self) -> list[str]:
        """The line readers to load, in order ("none" or nothing: none)."""
        return [n.strip() for n in self.line_readers.split(",") if n.strip() and n.strip() != "none"]

    @property
    def originals_dir(self) -> Path:
        return self.data_dir / "originals"

    @property
    def models_dir(self) -> Path:
        """Registered model files, content-addressed (core.models_registry); shared by all workers."""
        return self.data_dir / "models"

    @property
    def cache_dir(self) -> Path:
        """Files made from others once and kept between starts (PP-OCR's cut recogniser)."""
        return self.data_dir / "cache"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _parse(name: str, annotation: object, raw: str) -> object:
    kind = str(annotation)
    if kind == "bool":
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{name.upper()}={raw!r}: expected true or false")
    try:
        if "int" in kind and "Path" not in kind:
            return int(raw)
        if "float" in kind:
            return float(raw)
        if "Path" in kind:
            return Path(raw).expanduser()
    except ValueError as exc:
        raise SettingsError(f"{name.upper()}={raw!r}: {exc}") from None
    return raw


def _persistent_secret(data_dir: Path) -> str:
    """A random secret made once per data directory, so every process and restart agrees on it."""
    path = data_dir / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(secrets.token_hex(32))
    tmp.chmod(0o600)
    try:
        os.link(tmp, path)  # atomic: the first process to get here wins, the others read its secret
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text().strip()
