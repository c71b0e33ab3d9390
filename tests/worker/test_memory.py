"""A page's arrays, freed, are reused by the next page rather than fetched from the system
again: counted as page faults of a second page-sized array, in a fresh process."""

from __future__ import annotations

import subprocess
import sys

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
    run = subprocess.run([sys.executable, "-c", PAGE_ARRAYS, mode], capture_output=True, text=True,
                         check=True)
    return int(run.stdout.strip())


def test_freed_page_memory_is_reused_without_faulting_it_in_again() -> None:
    # 4 MB is 1,024 pages of 4 kB: mapped afresh, they are faulted in again (509 faults
    # here: the kernel maps some two at a time); kept in the heap, none is (0 here).
    assert _faults("plain") >= 250
    assert _faults("tuned") < 25
