"""Settings from the environment: the line readers to load and the broker's poll, checked at start."""

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


def test_a_broker_poll_of_zero_stops_the_start_naming_the_variable(tmp_path: Path) -> None:
    assert Settings.from_env({"BROKER_POLL_S": "1"}, data_dir=tmp_path).broker_poll_s == 1.0
    with pytest.raises(SettingsError, match="BROKER_POLL_S"):
        Settings.from_env({"BROKER_POLL_S": "0"}, data_dir=tmp_path)
