"""A page's arrays, freed, are reused by the next page rather than fetched from the system
again: counted as page faults of a second page-sized array, in a fresh process."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import pytest

PAGE_ARRAYS = """
import resource, sys
import numpy as np
from worker.memory import keep_freed_memory
tuned = sys.argv[1] == "tuned" and keep_freed_memory()
def filled():
    a = np.empty(4 << 20, np.uint8)  # a 200-dpi A4 page's grey array, written through
    a.fill(255)
    return a
del_me = filled(); del del_me
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
again = filled()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    # NumPy asks for huge pages for arrays of 4 MB and more: then how many faults a fresh
    # mapping takes depends on where it falls. Without, it is one per 4 kB page.
    env = {**os.environ, "NUMPY_MADVISE_HUGEPAGE": "0"}
    run = subprocess.run([sys.executable, "-c", PAGE_ARRAYS, mode], capture_output=True, text=True,
                         check=True, env=env)
    return int(run.stdout.strip())


def _has_mallopt() -> bool:
    try:
        return hasattr(ctypes.CDLL(None), "mallopt")
    except (OSError, TypeError):
        return False


@pytest.mark.skipif(not _has_mallopt(), reason="the C library has no mallopt (not glibc)")
def test_freed_page_memory_is_reused_without_faulting_it_in_again() -> None:
    # 4 MB is 1,024 pages of 4 kB: mapped afresh, each is faulted in again (~1,010 here);
    # kept in the heap, none is (0 here).
    assert _faults("plain") >= 900
    assert _faults("tuned") < 25
