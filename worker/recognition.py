"""The recogniser of this worker process: loaded once, on first use, with sane thread use."""

from __future__ import annotations

import threading

import cv2
import numpy as np

from models.inference import Recognizer, get_recognizer, limit_threads
from segmentation.pipeline import MAX_PAGE_PIXELS, PageResult, read_page
from segmentation.templates import Template
from worker.memory import keep_freed_memory

_lock = threading.Lock()
_configured = False


def configure_process(threads: int = 1) -> None:
    """One thread each for TensorFlow and OpenCV: a prefork worker runs one process per core;
    and freed memory kept for the next page (worker.memory)."""
    global _configured
    with _lock:
        if not _configured:
            keep_freed_memory()
            cv2.setNumThreads(threads)
            limit_threads(threads, 1)
            _configured = True


class Reader:
    """Reads pages with this process's recogniser; `version` names the model for the records."""

    def __init__(self, recognizer: Recognizer, max_pixels: int = MAX_PAGE_PIXELS) -> None:
        self.recognizer = recognizer
        self.version = recognizer.version
        self.max_pixels = max_pixels

    def _classify(self, glyphs: np.ndarray) -> np.ndarray:
        return self.recognizer.classify(glyphs).probabilities

    def read_page(self, image: np.ndarray, template: Template | None) -> PageResult:
        return read_page(image, self._classify, template, self.max_pixels)


def get_reader(model_path: str | None = None, max_pixels: int = MAX_PAGE_PIXELS) -> Reader:
    configure_process()
    return Reader(get_recognizer(model_path), max_pixels)
