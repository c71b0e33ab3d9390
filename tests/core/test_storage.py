"""The store of originals: uploads spooled into it are stored by a rename, hashed on the way."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from core.storage import Storage, TooLarge


def spooled(storage: Storage, data: bytes, piece: int = 65536):  # type: ignore[no-untyped-def]
    spool = storage.spool()
    for start in range(0, len(data), piece):
        spool.write(data[start : start + piece])
    spool.seek(0)
    return spool


def test_a_spooled_upload_is_stored_by_its_hash_without_a_copy_left_behind(tmp_path: Path) -> None:
    storage = Storage(tmp_path)
    data = os.urandom(300_000)
    spool = spooled(storage, data)
    stored = storage.put_stream(spool)
    spool.close()
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert (stored.size, stored.head) == (len(data), data[:4096])
    assert storage.path(stored.sha256).read_bytes() == data
    assert os.listdir(storage.tmp) == []


def test_a_spool_over_the_limit_is_refused_and_removed(tmp_path: Path) -> None:
    storage = Storage(tmp_path)
    spool = spooled(storage, b"x" * 1000)
    with pytest.raises(TooLarge):
        storage.put_stream(spool, limit=999)
    assert os.listdir(storage.tmp) == []


def test_a_spool_never_stored_is_deleted_when_closed(tmp_path: Path) -> None:
    storage = Storage(tmp_path)
    spool = spooled(storage, b"abc")
    spool.close()
    assert os.listdir(storage.tmp) == []


def test_a_spool_written_out_of_order_is_hashed_from_its_content(tmp_path: Path) -> None:
    storage = Storage(tmp_path)
    spool = spooled(storage, b"abcdef")
    spool.write(b"X")  # over the first byte
    spool.seek(0)
    stored = storage.put_stream(spool)
    spool.close()
    assert stored.sha256 == hashlib.sha256(b"Xbcdef").hexdigest()
    assert storage.path(stored.sha256).read_bytes() == b"Xbcdef"
