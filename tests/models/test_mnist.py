"""Reading MNIST's IDX files, and the errors that name the file and the problem."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from models.mnist import FILES, MnistError, load, load_from_dir, parse_idx, read_idx


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    header = struct.pack(">HBB", 0, type_code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(">u1" if type_code == 0x08 else ">i4").tobytes()


def test_parses_images_and_labels() -> None:
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    assert np.array_equal(parse_idx(idx_bytes(images)), images)
    labels = np.array([3, 7], np.uint8)
    assert np.array_equal(parse_idx(idx_bytes(labels)), labels)
    ints = np.array([1, -2, 300], np.int32)
    assert np.array_equal(parse_idx(idx_bytes(ints, 0x0C)), ints)


@pytest.mark.parametrize("raw, message", [
    (b"\x00\x00", "too short"),
    (b"\x12\x34\x08\x01\x00\x00\x00\x01\x05", "not an IDX file"),
    (b"\x00\x00\x08\x01\x00\x00", "header truncated"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x05\x01\x02", "truncated"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x01\x01\x02", "trailing bytes"),
    (b"\x00\x00\x08\x09" + b"\x00" * 40, "dimensions"),
])
def test_damaged_bytes_are_named(raw: bytes, message: str) -> None:
    with pytest.raises(MnistError, match=message) as caught:
        parse_idx(raw, "some-file")
    assert "some-file" in str(caught.value)


def test_gzip_and_plain_files(tmp_path: Path) -> None:
    labels = np.array([1, 2, 3], np.uint8)
    (tmp_path / "a.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    (tmp_path / "b").write_bytes(idx_bytes(labels))
    assert np.array_equal(read_idx(tmp_path / "a.gz"), labels)
    assert np.array_equal(read_idx(tmp_path / "b"), labels)
    (tmp_path / "c.gz").write_bytes(b"\x1f\x8b" + b"garbage")
    with pytest.raises(MnistError, match="c.gz: damaged gzip"):
        read_idx(tmp_path / "c.gz")
    with pytest.raises(MnistError, match="missing.gz: file not found"):
        read_idx(tmp_path / "missing.gz")


def _folder(tmp_path: Path, train_labels: int = 4) -> Path:
    images = np.zeros((4, 28, 28), np.uint8)
    for stem, array in (("train_images", images), ("test_images", images),
                        ("train_labels", np.zeros(train_labels, np.uint8)),
                        ("test_labels", np.zeros(4, np.uint8))):
        (tmp_path / f"{FILES[stem]}.gz").write_bytes(gzip.compress(idx_bytes(array)))
    return tmp_path


def test_loads_a_folder_and_checks_it_agrees(tmp_path: Path) -> None:
    data = load_from_dir(_folder(tmp_path))
    assert data.x_train.shape == (4, 28, 28) and data.y_test.shape == (4,)
    mismatched = tmp_path / "mismatched"
    mismatched.mkdir()
    with pytest.raises(MnistError, match="3 labels for 4 images"):
        load_from_dir(_folder(mismatched, train_labels=3))
    (tmp_path / f"{FILES['test_labels']}.gz").unlink()
    with pytest.raises(MnistError, match="t10k-labels-idx1-ubyte.gz: file not found"):
        load_from_dir(tmp_path)
    with pytest.raises(MnistError, match="MNIST folder not found"):
        load(tmp_path / "nowhere")


def test_the_shipped_data_is_mnist(mnist) -> None:  # type: ignore[no-untyped-def]
    assert mnist.x_train.shape == (60000, 28, 28) and mnist.x_test.shape == (10000, 28, 28)
    assert np.bincount(mnist.y_test).tolist()[:3] == [980, 1135, 1032]
    assert abs(float(mnist.x_train.mean()) - 33.33) < 0.05
