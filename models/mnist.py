"""MNIST from local IDX files (gzip or plain); nothing is downloaded.

The folder is the one passed, else `$MNIST_DIR`, else `../shared/data/mnist` beside the project
(where this workplace keeps it). Training, evaluation and the tests read MNIST; the service
itself does not.
"""

from __future__ import annotations

import gzip
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
# IDX type codes (third byte of the magic number) and the NumPy types they stand for.
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class MnistError(Exception):
    """An MNIST file is missing or damaged; the message names the file and the problem."""


@dataclass(frozen=True)
class Mnist:
    x_train: np.ndarray  # (60000, 28, 28) uint8, ink = 255
    y_train: np.ndarray  # (60000,) uint8
    x_test: np.ndarray
    y_test: np.ndarray


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (gzip-compressed or not) into an array of its declared type and shape."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise MnistError(f"{path}: file not found") from None
    except OSError as exc:
        raise MnistError(f"{path}: cannot be read ({exc.strerror})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise MnistError(f"{path}: damaged gzip data ({exc})") from None
    return parse_idx(raw, str(path))


def parse_idx(raw: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse the bytes of an IDX file: magic (0, 0, type, ndim), ndim big-endian sizes, data."""
    if len(raw) < 4:
        raise MnistError(f"{name}: too short to be an IDX file ({len(raw)} bytes)")
    zero, type_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or type_code not in IDX_TYPES:
        raise MnistError(f"{name}: not an IDX file (magic number {raw[:4].hex()})")
    if not 1 <= ndim <= 4:
        raise MnistError(f"{name}: unsupported number of dimensions {ndim}")
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise MnistError(f"{name}: header truncated ({len(raw)} of {header_len} bytes)")
    shape = struct.unpack(f">{ndim}I", raw[4:header_len])
    dtype = np.dtype(IDX_TYPES[type_code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(raw) - header_len
    if found != expected:
        what = "truncated" if found < expected else "has trailing bytes"
        raise MnistError(
            f"{name}: data {what}: header declares shape {shape} ({expected} bytes), found {found}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header_len).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def _find(folder: Path, stem: str) -> Path:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.exists():
            return candidate
    raise MnistError(f"{folder / (stem + '.gz')}: file not found (nor {stem} uncompressed)")


def load_from_dir(folder: Path) -> Mnist:
    """Load the four MNIST files from `folder`, checking that images and labels agree."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MnistError(f"{folder}: MNIST folder not found")
    arrays = {key: read_idx(_find(folder, stem)) for key, stem in FILES.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        image_file, label_file = FILES[f"{split}_images"], FILES[f"{split}_labels"]
        if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
            raise MnistError(f"{folder / image_file}: expected N×28×28 bytes, got {images.shape}")
        if labels.ndim != 1 or len(labels) != len(images):
            raise MnistError(
                f"{folder / label_file}: {len(labels)} labels for {len(images)} images in {image_file}"
            )
        if labels.max(initial=0) > 9:
            raise MnistError(f"{folder / label_file}: label {labels.max()} is not a digit")
    return Mnist(
        arrays["train_images"], arrays["train_labels"], arrays["test_images"], arrays["test_labels"]
    )


DEFAULT_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "mnist"


def load(mnist_dir: Path | str | None = None) -> Mnist:
    """MNIST from `mnist_dir`, else from `$MNIST_DIR`, else from DEFAULT_DIR."""
    folder = mnist_dir or os.environ.get("MNIST_DIR") or DEFAULT_DIR
    if not Path(folder).is_dir():
        raise MnistError(f"{folder}: MNIST folder not found: set MNIST_DIR to a folder holding its "
                         "four IDX files (train-images-idx3-ubyte.gz, ...)")
    return load_from_dir(Path(folder))
