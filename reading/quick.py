"""np.median and np.percentile for the many small arrays of a page and its fields, without their
overhead.

NumPy's versions spend ~70 µs per call on argument handling, more than the work on a few
hundred values; a page asks for a thousand of them. These give the same numbers (NumPy's
"linear" method, same float arithmetic) from one np.partition of a 1-D array.
"""

from __future__ import annotations

import numpy as np


def median(values: np.ndarray) -> float:
    """np.median of a non-empty 1-D array."""
    n = values.size
    half = n // 2
    if n % 2:
        return float(np.partition(values, half)[half])
    part = np.partition(values, (half - 1, half))
    return float((part[half - 1] + part[half]) / 2)


def percentile(values: np.ndarray, q: float) -> float:
    """np.percentile(values, q) of a non-empty 1-D array (method "linear")."""
    n = values.size
    quantile = np.float64(q) / 100
    virtual = (n - 1) * quantile  # NumPy's virtual index for "linear"
    below = int(np.floor(virtual))
    below = min(max(below, 0), n - 1)
    above = min(below + 1, n - 1)
    gamma = float(virtual - np.floor(virtual))  # a Python float: the lerp stays in the data's type
    part = np.partition(values, (below, above))
    a, b = part[below], part[above]
    diff = b - a
    result = b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma
    return float(result)
