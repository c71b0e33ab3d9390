"""The shipped CRNN string reader at run time."""

from __future__ import annotations

import numpy as np

from reading import ctc


def test_a_field_reads_the_same_alone_and_beside_fields_of_other_widths() -> None:
    from models.strings_reader import CrnnReader
    from synth import test_writers_numbers

    reader = CrnnReader()
    images, _ = test_writers_numbers(12, 5)
    together = reader.read(images)
    alone = [reader.read([image])[0] for image in images]
    assert len({t.shape[0] for t in together}) > 3  # widths do differ
    assert [ctc.best_path(f) for f in together] == [ctc.best_path(f) for f in alone]
    assert all(t.shape == a.shape and np.allclose(t, a, atol=1e-5) for t, a in zip(together, alone))
