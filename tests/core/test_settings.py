"""Settings from the environment: the line readers to load, checked at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import Settings, SettingsError


def test_line_readers_default_to_both_and_can_be_turned_off(tmp_path: Path) -> None:
    assert Settings.from_env({}, data_dir=tmp_path).reader_names == ["crnn", "ppocr"]
    assert Settings.from_env({"LINE_READERS": "ppocr"}, data_dir=tmp_path).reader_names == ["ppocr"]
    assert Settings.from_env({"LINE_READERS": "none"}, data_dir=tmp_path).reader_names == []


def test_an_unknown_line_reader_stops_the_start_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="LINE_READERS.*tesseract"):
        Settings.from_env({"LINE_READERS": "crnn,tesseract"}, data_dir=tmp_path)
