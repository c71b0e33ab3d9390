"""Per-document locks on the embedded default: exclusive while held, and no file left behind."""

from __future__ import annotations

from pathlib import Path

from core.locks import document_lock
from core.settings import Settings


def test_a_held_lock_is_refused_and_its_file_is_removed_when_released(tmp_path: Path) -> None:
    settings = Settings.from_env({}, data_dir=tmp_path)
    with document_lock(settings, 7) as held:
        assert held
        with document_lock(settings, 7) as again:
            assert not again  # the same document: another reader has it
        with document_lock(settings, 8) as other:
            assert other
        assert (tmp_path / "locks" / "document-7.lock").exists()
    with document_lock(settings, 7) as later:
        assert later  # released: free again
    assert list((tmp_path / "locks").iterdir()) == []


def test_many_documents_leave_no_lock_files(tmp_path: Path) -> None:
    settings = Settings.from_env({}, data_dir=tmp_path)
    for document_id in range(500):
        with document_lock(settings, document_id) as held:
            assert held
    assert list((tmp_path / "locks").iterdir()) == []
