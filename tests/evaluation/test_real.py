"""`make eval-real`'s arithmetic on isolated digits: figures and intervals by writer."""

from __future__ import annotations

import numpy as np

from evaluation.real import _digits_row


def _classify_wrong_for(wrong: set[int]):  # type: ignore[no-untyped-def]
    """A classifier that reads glyph i as its stored label, but as label + 1 for i in `wrong`."""
    def classify(glyphs: np.ndarray) -> np.ndarray:
        probs = np.full((len(glyphs), 10), 0.01)
        for i, g in enumerate(glyphs):
            label = int(g[0, 0])
            probs[i, (label + (i in wrong)) % 10] = 0.91
        return probs
    return classify


def test_isolated_digits_are_drawn_again_by_writer_when_writers_are_known() -> None:
    labels = np.arange(200) % 10
    glyphs = np.zeros((200, 28, 28), np.float32)
    glyphs[:, 0, 0] = labels
    writers = np.array([f"w{i // 20}" for i in range(200)], dtype=object)  # 10 writers of 20
    wrong = set(range(20))  # writer w0 is read wrong every time
    by_writer = _digits_row("set", _classify_wrong_for(wrong), glyphs, labels, writers)
    by_digit = _digits_row("set", _classify_wrong_for(wrong), glyphs, labels)
    assert by_writer["accuracy"] == by_digit["accuracy"] == 0.9
    assert by_writer["drawn_again"] == "writers" and by_digit["drawn_again"] == "digits"
    low, high = by_writer["intervals"]["exact"]
    assert low <= 0.9 <= high
    # one writer's digits err together: drawn by writer, the interval is wider
    assert high - low > by_digit["intervals"]["exact"][1] - by_digit["intervals"]["exact"][0]


def test_label_errata_name_labels_of_the_set_and_give_digits(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The corrections printed beside the cheques' figures: each one a label the set really has
    (checked against the set when it is here) and a value of digits only; a set without
    errata has none."""
    import json

    from evaluation.real import CHEQUES, ERRATA, load_errata, real_dir

    shipped = json.loads(ERRATA[CHEQUES].read_text())["corrections"]
    folder = tmp_path / CHEQUES
    assert load_errata(tmp_path / "another_set") == {}
    corrections = load_errata(folder)
    assert corrections and set(corrections) == set(shipped)
    for name, written in corrections.items():
        assert written.isdigit() and written != shipped[name]["labelled"]
    truth_file = real_dir() / CHEQUES / "truth.json"
    if truth_file.is_file():
        truth = json.loads(truth_file.read_text())
        assert all(truth[name] == entry["labelled"] for name, entry in shipped.items())
