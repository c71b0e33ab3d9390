"""A worker's readers: page fields read by the page CRNN when one is configured, field images by
the field CRNN; one CRNN for both when the two paths are one file."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np

from core.settings import Settings
from models.strings_reader import DEFAULT_STRINGS_PATH
from segmentation.vote import UNREAD_INK_CONFIDENCE
from worker.recognition import get_reader, reader_for


def test_page_fields_have_a_crnn_of_their_own_and_the_version_names_it(tmp_path: Path) -> None:
    page_model = tmp_path / "pages.onnx"
    shutil.copyfile(DEFAULT_STRINGS_PATH, page_model)  # another file: loaded as another reader
    reader = get_reader(lines="crnn,ppocr", page_strings_model=page_model)
    assert reader.page_lines is not None
    assert [r.name for r in reader.page_lines] == [r.name for r in reader.lines] == ["crnn", "ppocr"]
    field_crnn, page_crnn = reader.lines[0], reader.page_lines[0]
    assert field_crnn is not page_crnn and Path(page_crnn.path) == page_model
    assert reader.page_lines[1] is reader.lines[1]  # PP-OCR is shared, loaded once
    assert reader.version.endswith(f"+pages:{page_crnn.version}")
    assert reader.readers.for_kind("comb")[0] is page_crnn
    assert reader.readers.for_kind("field")[0] is field_crnn


def test_one_crnn_for_every_field_when_both_paths_name_one_file() -> None:
    same = get_reader(lines="crnn,ppocr", page_strings_model=DEFAULT_STRINGS_PATH)
    assert same.page_lines is None and "pages:" not in same.version
    assert same.readers.for_kind("box") == same.lines
    without_crnn = get_reader(lines="ppocr", page_strings_model=Path("models/weights/strings_pages.onnx"))
    assert without_crnn.page_lines is None


def test_the_shipped_settings_read_page_fields_with_the_shipped_page_crnn() -> None:
    settings = Settings.from_env({})
    assert settings.page_strings_model_path.is_file()
    reader = reader_for(settings)
    assert reader.page_lines is not None
    assert Path(reader.page_lines[0].path).name == settings.page_strings_model_path.name


def test_a_registered_version_reads_page_fields_with_its_page_crnn(tmp_path: Path) -> None:
    """Its own page CRNN for a page's fields, the shipped field CRNN for field images; a version
    whose two CRNN roles are one stored file loads it once and reads every field with it."""
    from core.models_registry import Active
    from worker.recognition import reader_of

    settings = Settings.from_env({})
    stored = tmp_path / "stored.onnx"
    shutil.copyfile(DEFAULT_STRINGS_PATH, stored)
    pages_only = reader_of(settings, Active(901, "pages only", (("strings_pages", str(stored)),)))
    assert pages_only.registered == 901
    assert Path(pages_only.readers.for_kind("box")[0].path) == stored
    assert Path(pages_only.readers.for_kind("field")[0].path) == settings.strings_model_path
    both = reader_of(settings, Active(902, "one file", (("strings", str(stored)),
                                                         ("strings_pages", str(stored)))))
    assert both.readers.for_kind("comb")[0] is both.readers.for_kind("field")[0]
    assert Path(both.lines[0].path) == stored and "pages:" not in both.version


def test_a_field_image_holding_words_goes_to_review_and_a_number_does_not() -> None:
    """Uploaded as layout=field with the shipped readers: a cheque amount written as words is
    not forced into a sure number; the same written in digits is read."""
    reader = reader_for(Settings.from_env({}))

    def written(text: str) -> np.ndarray:
        image = np.full((70, 260), 250, np.uint8)
        cv2.putText(image, text, (15, 50), cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, 1.5, 20, 3, cv2.LINE_AA)
        return image

    # letters shaped like digits: before PP-OCR was asked about letters, "loo" read 100 at 0.98
    for text in ("loo", "Oslo", "Sasha"):
        field = reader.read_field(written(text)).fields[0]
        assert field.confidence <= UNREAD_INK_CONFIDENCE, (text, field.value, field.confidence)
    number = reader.read_field(written("3250")).fields[0]
    assert number.value == "3250" and number.confidence > 0.5


def _written(text: str) -> np.ndarray:
    """`text` in a script font on grey paper, cropped close: a number written in code."""
    image = np.full((46, 40 * len(text)), 236, np.uint8)
    cv2.putText(image, text, (4, 38), cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, 1.4, 25, 3, cv2.LINE_AA)
    return image


def test_a_field_image_framed_loosely_reads_as_it_does_cropped_tight() -> None:
    """The shipped readers on a number written in code, cropped tight and with paper around it
    (as a capture step cutting a region generously leaves it): the same value either way."""
    reader = reader_for(Settings.from_env({}))
    for text in ("4075", "318"):
        tight = _written(text)
        read = reader.read_field(tight).fields[0]
        assert read.value == text and read.confidence > 0.5, (text, read.value, read.confidence)
        readings = set()
        for above, beside in ((23, 46), (46, 92), (92, 184)):
            loose = cv2.copyMakeBorder(tight, above, above, beside, beside, cv2.BORDER_CONSTANT, value=236)
            field = reader.read_field(loose).fields[0]
            assert field.box == (0, 0, loose.shape[1], loose.shape[0])
            readings.add((field.value, round(field.confidence, 6)))
        assert len(readings) == 1 and readings.pop()[0] == text, (text, readings)


def test_a_field_image_holding_a_printed_box_with_paper_around_reads_as_the_writing() -> None:
    """A capture step that cut a form's box out generously: the box lies well inside the image,
    and is read as the writing in it alone is (its lines had been left in, and the readings
    came out less sure: 0.90 and 0.93 for these two against 1.0)."""
    reader = reader_for(Settings.from_env({}))
    for text in ("318", "507"):
        tight = _written(text)
        alone = reader.read_field(tight).fields[0]
        boxed = cv2.copyMakeBorder(tight, 4, 4, 8, 8, cv2.BORDER_CONSTANT, value=236)
        h, w = boxed.shape
        cv2.rectangle(boxed, (2, 2), (w - 3, h - 3), 30, 2)
        around = cv2.copyMakeBorder(boxed, 20, 20, 40, 40, cv2.BORDER_CONSTANT, value=236)
        field = reader.read_field(around).fields[0]
        assert field.box == (0, 0, around.shape[1], around.shape[0])
        assert field.value == alone.value == text, (text, field.value, alone.value)
        assert abs(field.confidence - alone.confidence) < 0.02, (text, field.confidence, alone.confidence)


def test_a_currency_sign_printed_before_a_field_image_is_read_past() -> None:
    """A generous crop of a cheque's amount area takes in the printed "$" before it (in a
    TrueType font the string reader never trained on): the amount is read without it (the
    fifth-stage CRNN read the "$" as a 5: 5318, 54075)."""
    from matplotlib import font_manager
    from PIL import Image, ImageDraw, ImageFont

    reader = reader_for(Settings.from_env({}))
    font = ImageFont.truetype(font_manager.findfont("DejaVu Sans"), 28)
    for text in ("4075", "318"):
        writing = _written(text)
        sign = Image.new("L", (30, 46), 236)
        ImageDraw.Draw(sign).text((2, 6), "$", fill=25, font=font)
        field = reader.read_field(np.hstack([np.asarray(sign), writing])).fields[0]
        assert field.value == text, (text, field.value, field.confidence, field.readings)


def test_a_label_printed_before_a_field_image_is_read_past() -> None:
    """A template region or a generous crop takes in the label a form prints before its amount
    box (words the string reader never trained on, in a TrueType font it never saw): the amount
    is read without it (with the sixth-stage CRNN the service read "Total: 318" as 7318, "Montant 15"
    as 015)."""
    from matplotlib import font_manager
    from PIL import Image, ImageDraw, ImageFont

    reader = reader_for(Settings.from_env({}))
    font = ImageFont.truetype(font_manager.findfont("DejaVu Sans"), 20)
    for label, text in (("Total:", "318"), ("Montant", "15"), ("Amount", "4075")):
        writing = _written(text)
        width = int(font.getlength(label)) + 14
        printed = Image.new("L", (width, 46), 236)
        ImageDraw.Draw(printed).text((2, 14), label, fill=25, font=font)
        field = reader.read_field(np.hstack([np.asarray(printed), writing])).fields[0]
        assert field.value == text, (label, text, field.value, field.confidence, field.readings)


def test_a_one_bit_field_image_reads_as_the_same_scan_in_eight_bits() -> None:
    """A bilevel field image decoded from a 1-bit file (bool) and the same in 8 bits (0 and
    255) read alike with the shipped readers, and right; a 1-bit image had reached PP-OCR as
    grey levels 0 and 1, all but black."""
    reader = reader_for(Settings.from_env({}))
    for text in ("4075", "318"):
        image = np.full((46, 40 * len(text)), 255, np.uint8)
        cv2.putText(image, text, (4, 38), cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, 1.4, 0, 3, cv2.LINE_AA)
        black_white = np.where(image < 128, 0, 255).astype(np.uint8)
        eight, one = (reader.read_field(x).fields[0] for x in (black_white, black_white > 0))
        assert eight.value == text and (one.value, one.confidence) == (eight.value, eight.confidence)


def test_words_in_a_page_s_boxes_and_combs_go_to_review_and_numbers_do_not() -> None:
    """A form's open boxes and combs, drawn in code, holding words: a name with letters no
    digit looks like, and words made of letters shaped like digits. Before PP-OCR was asked
    about sure fields on such a page, "Oslo" in a box read 0510 at 0.99 and "ZOO" in a comb 200
    at 0.99. Numbers beside them are still read sure."""
    reader = reader_for(Settings.from_env({}))
    page = np.full((1080, 1240), 250, np.uint8)
    boxed = {(80, 80): "Oslo", (640, 80): "3250", (80, 260): "Sol", (640, 260): "861", (80, 820): "Hannah"}
    for (x, y), text in boxed.items():
        cv2.rectangle(page, (x, y), (x + 420, y + 90), 0, 2)
        cv2.putText(page, text, (x + 30, y + 65), cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, 1.6, 25, 3, cv2.LINE_AA)
    combed = {(80, 460): "ZOO", (640, 460): "4719", (80, 640): "SD", (640, 640): "50"}
    for (x, y), text in combed.items():
        cv2.rectangle(page, (x, y), (x + 400, y + 60), 0, 2)
        for j in range(1, 8):
            cv2.line(page, (x + 50 * j, y), (x + 50 * j, y + 60), 0, 2)
        for j, char in enumerate(text):
            cv2.putText(page, char, (x + 50 * j + 12, y + 46), cv2.FONT_HERSHEY_SIMPLEX, 1.4, 25, 3,
                        cv2.LINE_AA)
    fields = reader.read_page(page, None).fields
    written = {**boxed, **combed}
    assert len(fields) == len(written)
    for f in fields:
        text = written[min(written, key=lambda xy: abs(xy[0] - f.box[0]) + abs(xy[1] - f.box[1]))]
        if text.isdigit():
            assert f.value == text and f.confidence > 0.9, (text, f.value, f.confidence)
        else:
            assert f.confidence <= UNREAD_INK_CONFIDENCE, (text, f.value, f.confidence)

