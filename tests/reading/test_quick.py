"""reading.quick gives NumPy's median and percentile exactly, for the arrays a page makes."""

from __future__ import annotations

import numpy as np
import pytest

from reading import quick


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_median_and_percentile_equal_numpy(dtype: type) -> None:
    rng = np.random.default_rng(0)
    for _ in range(500):
        values = rng.random(int(rng.integers(1, 300))).astype(dtype)
        if rng.random() < 0.3:
            values = np.round(values * 4) / 4  # many ties
        assert quick.median(values) == float(np.median(values))
        for q in (0, 10, 33.3, 50, 75, 99, 100):
            assert quick.percentile(values, q) == float(np.percentile(values, q))
