"""The split search's temperature fit (`python -m evaluation.split_temperature`)."""

from __future__ import annotations


def test_split_temperature_calibration_command(mnist_dir, classify) -> None:  # type: ignore[no-untyped-def]
    from evaluation import split_temperature
    from segmentation import split

    kept = split.SPLIT_TEMPERATURE
    try:
        losses = split_temperature.main(["--pages", "3", "--temperatures", "1.0", "0.1",
                                 *(["--mnist-dir", str(mnist_dir)] if mnist_dir else [])])
    finally:
        split.SPLIT_TEMPERATURE = kept
    assert set(losses) == {1.0, 0.1} and all(v >= 0 for v in losses.values())
