"""The readers of this worker process: loaded once, on first use, with sane thread use.

A page is read by the glyph classifier (cut and classify, `models.inference`) and, for open
boxes and field images, by the string readers (`models.strings_reader`, `models.ppocr`),
whose opinions the page pipeline combines (`segmentation.vote`, `reading.combine`). All three
run on ONNX Runtime: a worker process never imports TensorFlow (a `.keras` MODEL_PATH would).

The readers are the shipped files of the settings, or those of the model version promoted in
the registry (`core.models_registry`): `reader_of` is given the active version as each document
starts and loads a version's readers once, when it first meets it.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from core.models_registry import Active
from core.settings import Settings
from models.inference import Recognizer, get_recognizer, limit_threads
from models.strings_reader import DEFAULT_STRINGS_PATH
from reading.combine import UNCALIBRATED, Calibrations, LineReader, LineReaders
from segmentation.pipeline import MAX_PAGE_PIXELS, PageResult, read_field, read_page
from segmentation.templates import Template
from worker.memory import keep_freed_memory

log = logging.getLogger(__name__)
_lock = threading.Lock()
_configured = False
_line_readers: dict[tuple[str, str], LineReader] = {}
# Registered versions' readers kept loaded in a process: the active one and the one before it,
# so a rollback right after a promotion loads nothing (a set of readers is some 50 MB).
KEPT_VERSIONS = 2
_unloadable: set[int] = set()  # registered versions whose files this process could not load


def configure_process(threads: int = 1) -> None:
    """One thread each for the model runtimes and OpenCV: a prefork worker runs one process per core;
    and freed memory kept for the next page (worker.memory)."""
    global _configured
    with _lock:
        if not _configured:
            keep_freed_memory()
            cv2.setNumThreads(threads)
            limit_threads(threads, 1)
            _configured = True


class Reader:
    """Reads pages and field images with this process's readers; `version` names them all
    for the records, `registered` is their registry id when they are a registered version."""

    def __init__(self, recognizer: Recognizer, lines: Sequence[LineReader] = (),
                 calibration: Calibrations = UNCALIBRATED,
                 max_pixels: int = MAX_PAGE_PIXELS, registered: int | None = None,
                 page_lines: Sequence[LineReader] | None = None) -> None:
        self.recognizer = recognizer
        self.registered = registered
        self.lines = tuple(lines)  # field images and undrawn regions
        # a page's open boxes and combs (None: `lines` too)
        self.page_lines = tuple(page_lines) if page_lines is not None else None
        self.calibration = calibration
        extra = [r for r in self.page_lines or () if r not in self.lines]
        self.version = "+".join([recognizer.version, *(r.version for r in self.lines),
                                 *(f"pages:{r.version}" for r in extra)])
        self.max_pixels = max_pixels

    @property
    def readers(self) -> LineReaders:
        """The line readers of each kind of field."""
        return LineReaders(self.lines, self.page_lines)

    def _classify(self, glyphs: np.ndarray) -> np.ndarray:
        return self.recognizer.classify(glyphs).probabilities

    def read_page(self, image: np.ndarray, template: Template | None) -> PageResult:
        return read_page(image, self._classify, template, self.max_pixels, self.readers, self.calibration)

    def read_field(self, image: np.ndarray, name: str = "field_1") -> PageResult:
        return read_field(image, self._classify, self.lines, self.calibration, name, self.max_pixels)


def line_reader(name: str, strings_model: Path | str | None = None,
                cache_dir: Path | None = None) -> LineReader:
    """This process's line reader `name` ("crnn" or "ppocr"), loaded on first use and kept;
    `cache_dir`: where PP-OCR's cut recogniser is kept between starts (`models.ppocr`)."""
    key = (name, str(strings_model or "") if name == "crnn" else "")  # PP-OCR has no model of ours
    with _lock:
        if key not in _line_readers:
            if name == "crnn":
                from models.strings_reader import CrnnReader

                _line_readers[key] = CrnnReader(strings_model or DEFAULT_STRINGS_PATH)
            elif name == "ppocr":
                from models.ppocr import PpOcrReader

                _line_readers[key] = PpOcrReader(cache_dir=cache_dir)
            else:
                raise ValueError(f"unknown line reader {name!r} (known: crnn, ppocr)")
        return _line_readers[key]


def load_calibration(path: Path | str | None) -> Calibrations:
    if path and Path(path).is_file():
        return Calibrations.load(Path(path))
    log.warning("no combination calibration at %s: confidences are the readers' raw product", path)
    return UNCALIBRATED


def get_reader(model_path: str | None = None, max_pixels: int = MAX_PAGE_PIXELS,
               lines: str | Sequence[str] = (), strings_model: Path | str | None = None,
               combination: Path | str | None = None, registered: int | None = None,
               page_strings_model: Path | str | None = None, cache_dir: Path | None = None) -> Reader:
    """Readers of these files (None: the shipped ones), loaded once per process and file; with
    `page_strings_model`, a page's open boxes and combs are read by that CRNN instead of
    `strings_model` (the other line readers are the same for both); `cache_dir` as for
    `line_reader`."""
    configure_process()
    names = [n.strip() for n in lines.split(",")] if isinstance(lines, str) else list(lines)
    names = [n for n in names if n and n != "none"]
    readers = [line_reader(n, strings_model, cache_dir) for n in names]
    page_readers = None
    if _separate(names, strings_model, page_strings_model):
        page_readers = [line_reader(n, page_strings_model, cache_dir) for n in names]
    return Reader(get_recognizer(model_path), readers, load_calibration(combination) if readers
                  else UNCALIBRATED, max_pixels, registered, page_readers)


def _separate(names: Sequence[str], strings_model: Path | str | None,
              page_strings_model: Path | str | None) -> bool:
    """Whether a page's fields have a CRNN of their own: one is named, and is another file."""
    return bool(page_strings_model) and "crnn" in names and \
        Path(page_strings_model).resolve() != Path(strings_model or DEFAULT_STRINGS_PATH).resolve()  # type: ignore[arg-type]


def has_page_crnn(settings: Settings) -> bool:
    """Whether these settings read a page's open boxes and combs with a CRNN of their own."""
    return _separate(settings.reader_names, settings.strings_model_path, settings.page_strings_model_path)


@functools.lru_cache(maxsize=4)
def reader_for(settings: Settings) -> Reader:
    """The reader a worker of these settings uses, made once per process."""
    return get_reader(str(settings.model_path), settings.max_page_pixels, settings.reader_names,
                      settings.strings_model_path, settings.combination_path,
                      page_strings_model=settings.page_strings_model_path,
                      cache_dir=settings.cache_dir)


@functools.lru_cache(maxsize=KEPT_VERSIONS)
def _registered_reader(settings: Settings, version: Active) -> Reader:
    """A registered version's readers. Its own files are loaded here, outside the caches of the
    shipped readers, so that a version dropped from this cache is freed; roles it does not
    carry are the shipped readers, shared."""
    missing = [path for _, path in version.files if not Path(path).is_file()]
    if missing:  # the shipped readers fall back quietly on a missing calibration: a version does not
        raise FileNotFoundError(f"not in this worker's data directory: {', '.join(missing)}")
    configure_process()
    from models.strings_reader import CrnnReader

    digits, strings = version.path("digits"), version.path("strings")
    recognizer = Recognizer(digits) if digits else get_recognizer(str(settings.model_path))
    lines: list[LineReader] = [CrnnReader(strings) if name == "crnn" and strings
                               else line_reader(name, settings.strings_model_path, settings.cache_dir)
                               for name in settings.reader_names]
    page_lines = version_page_lines(settings, lines, strings, version.path("strings_pages"))
    combination = version.path("combination") or settings.combination_path
    return Reader(recognizer, lines, load_calibration(combination) if lines else UNCALIBRATED,
                  settings.max_page_pixels, version.id, page_lines)


def version_page_lines(settings: Settings, lines: Sequence[LineReader], strings: Path | None,
                       page_strings: Path | None) -> tuple[LineReader, ...] | None:
    """The line readers of a page's open boxes and combs for a version whose field readers are
    `lines` (its string reader `strings`): its own page CRNN, else the shipped one; with neither
    (one CRNN for every field in these settings), `lines` (None). Registered versions and the
    candidates judged before registering are both read so."""
    from models.strings_reader import CrnnReader

    shipped_pages = reader_for(settings).page_lines
    if not page_strings or "crnn" not in settings.reader_names:
        return shipped_pages
    if page_strings == strings:
        return tuple(lines)  # one file (content-addressed) for both roles: one reader
    return tuple(CrnnReader(page_strings) if r.name == "crnn" else r for r in shipped_pages or lines)


def reader_of(settings: Settings, version: Active | None) -> Reader:
    """The reader for the active registered version (None: the shipped files); a version whose
    files cannot be loaded here is logged once and the shipped readers read instead (and are
    recorded as what read: a document always names the readers that read it)."""
    if version is None or version.id in _unloadable:
        return reader_for(settings)
    try:
        return _registered_reader(settings, version)
    except Exception:  # noqa: BLE001 - a broken version never stops the service
        log.exception("model version %s (%s) cannot be loaded: reading with the shipped files",
                      version.id, version.name)
        _unloadable.add(version.id)
        return reader_for(settings)
