"""How this process's C library keeps memory it frees: for reuse, not handed back at once.

Reading a page allocates and frees a dozen page-sized arrays (grey, background, marks, labels:
4 MB each at 200 dpi). By default glibc maps each of those fresh from the system and unmaps it
when freed, so every page pays again to fault in and zero the same memory: ~2.5 ms of a
200-dpi page's ~41 ms segmentation (best of three on the eval's A4 pages, with and without). Served from the
heap and kept there, the memory is reused. The cost is memory kept between pages: free memory
at the top of a heap is handed back only past TRIM_THRESHOLD, and freed blocks below it not at
all; a worker's peak in `bench.service` went from ~825 MB to ~840 MB (100 pages) and ~857 MB
(1,000 pages). Threads that allocate get heaps (arenas) of their own, each kept likewise.
"""

from __future__ import annotations

import ctypes

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3  # glibc's mallopt parameters
# Blocks up to this size come from the heap: glibc's largest allowed value on 64-bit systems,
# over a 200-dpi page's arrays (a 600-dpi page's, 35 MB, are still mapped on their own).
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 128 << 20  # free memory kept at the top of the heap: a few pages' worth
TOP_PAD = 64 << 20  # grow the heap by this much at a time: fewer system calls


def keep_freed_memory() -> bool:
    """Tune the C library's allocator as above. False where it has no mallopt (not glibc) or
    refuses a value; each setting is tried whatever became of the others."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):  # no C library by that name, or no mallopt
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    accepted = [mallopt(param, value) == 1 for param, value in (
        (M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD), (M_TOP_PAD, TOP_PAD))]
    return all(accepted)
