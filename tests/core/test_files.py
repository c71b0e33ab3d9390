"""Uploaded documents that are not what they claim to be: every one read or refused with a
message that says what is wrong, never a raw exception. Every input is built here."""

from __future__ import annotations

import io
import struct
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest
from PIL import Image

from core.files import Limits, PageImage, UnreadableFile, count_pages, page, pages, sniff, to_array
from synth.handmade import CATALOG, ONE_PAGE_TREE, grey_png_header, hand_pdf, nested_forms_pdf, png_chunk

SMALL = Limits(max_pages=10, max_page_pixels=1_000_000, pdf_dpi=72)  # 72 dpi: 1 pt = 1 px


def encode(image: Image.Image, fmt: str, **options) -> bytes:  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def noise(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width), dtype=np.uint8)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def read(path: Path, kind: str, limits: Limits = SMALL) -> list[PageImage]:
    return list(pages(path, kind, limits))


def new_pdf(sizes: list[tuple[float, float]]) -> bytes:
    """A PDF with blank pages of these sizes in points, written by PDFium."""
    pdf = pdfium.PdfDocument.new()
    for width, height in sizes:
        pdf.new_page(width, height)
    buffer = io.BytesIO()
    pdf.save(buffer)
    pdf.close()
    return buffer.getvalue()


PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] >>"


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width×height grey pixels (CRCs correct, data a stub)."""
    return (grey_png_header(width, height) + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + png_chunk(b"IEND", b""))


def tiff_directories(data: bytes) -> list[int]:
    """Offsets of the page directories (IFDs) of a little-endian TIFF, in order."""
    offsets = []
    offset = struct.unpack_from("<I", data, 4)[0]
    while offset:
        offsets.append(offset)
        entries = struct.unpack_from("<H", data, offset)[0]
        offset = struct.unpack_from("<I", data, offset + 2 + 12 * entries)[0]
    return offsets


def multi_tiff(frames: list[np.ndarray], **options) -> bytes:  # type: ignore[no-untyped-def]
    images = [Image.fromarray(frame) for frame in frames]
    return encode(images[0], "TIFF", save_all=True, append_images=images[1:], **options)


# --- sniff -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind, head", [
    ("png", encode(Image.new("L", (4, 4)), "PNG")),
    ("jpeg", encode(Image.new("RGB", (4, 4)), "JPEG")),
    ("tiff", encode(Image.new("L", (4, 4)), "TIFF")),  # little-endian "II*\0"
    ("tiff", b"MM\x00*\x00\x00\x00\x08"),  # big-endian
    ("tiff", b"II+\x00\x08\x00\x00\x00"),  # BigTIFF
    ("pdf", new_pdf([(100, 100)])),
    ("zip", b"PK\x03\x04" + b"\0" * 26),
    ("zip", b"PK\x05\x06" + b"\0" * 18),  # an empty ZIP is only its end record
])
def test_sniff_tells_each_type_from_its_first_bytes(kind: str, head: bytes) -> None:
    assert sniff(head[:4096]) == kind


@pytest.mark.parametrize("head", [
    b"", b"hello, world\n", b"GIF89a\x01\x00\x01\x00", b"BM\x00\x00", b"\x89PNG",  # PNG cut short
    b"\xff\xd8", b"PK\x01\x02", np.random.default_rng(3).bytes(4096)])
def test_sniff_does_not_guess(head: bytes) -> None:
    assert sniff(head) is None


def test_sniff_finds_a_pdf_header_after_junk_within_the_first_kilobyte() -> None:
    pdf = new_pdf([(100, 100)])
    assert sniff(b"\0junk from a mail gateway\r\n" * 30 + pdf) == "pdf"
    assert sniff(b"x" * 1100 + pdf) is None  # PDF readers look no further either


def test_a_pdf_after_junk_is_also_read(tmp_path: Path) -> None:
    path = write(tmp_path, "late.pdf", b"junk\r\n" * 100 + new_pdf([(120, 80)]))
    assert [p.image.shape for p in read(path, "pdf")] == [(80, 120, 3)]  # type: ignore[union-attr]


# --- files that cannot be read at all ------------------------------------------------------


@pytest.mark.parametrize("kind", ["png", "jpeg", "tiff", "pdf"])
def test_an_empty_file_is_called_empty(tmp_path: Path, kind: str) -> None:
    path = write(tmp_path, f"empty.{kind}", b"")
    with pytest.raises(UnreadableFile, match="^the file is empty$"):
        read(path, kind)
    assert count_pages(path, kind) is None


@pytest.mark.parametrize("kind, fmt", [("png", "PNG"), ("jpeg", "JPEG")])
def test_a_truncated_image_is_called_truncated(tmp_path: Path, kind: str, fmt: str) -> None:
    data = encode(Image.fromarray(noise(200, 300)), fmt)
    path = write(tmp_path, f"half.{kind}", data[: len(data) // 2])
    with pytest.raises(UnreadableFile, match=r"^the image data is truncated \(incomplete file\)$"):
        read(path, kind)


def test_a_text_file_named_png_is_not_an_image(tmp_path: Path) -> None:
    text = b"Dear customer,\nplease find the scans attached.\n" * 20
    assert sniff(text) is None
    with pytest.raises(UnreadableFile, match=r"not a readable image \(unknown or damaged format\)"):
        read(write(tmp_path, "letter.png", text), "png")


@pytest.mark.parametrize("kind, magic, problem", [
    ("png", b"\x89PNG\r\n\x1a\n", r"^not a readable image \(unknown or damaged format\)$"),
    ("jpeg", b"\xff\xd8\xff\xe0", r"^cannot be opened as an image \(Truncated File Read\)$"),
    ("tiff", b"II*\x00", r"^not a readable image \(unknown or damaged format\)$"),
])
def test_random_bytes_behind_a_magic_number_are_not_an_image(tmp_path: Path, kind: str, magic: bytes,
                                                             problem: str) -> None:
    data = magic + np.random.default_rng(7).bytes(5000)
    assert sniff(data) == kind
    with pytest.raises(UnreadableFile, match=problem):
        read(write(tmp_path, "noise", data), kind)


def test_a_missing_file_is_refused_without_naming_its_path(tmp_path: Path) -> None:
    missing = tmp_path / "ab" / "cd" / "gone"
    with pytest.raises(UnreadableFile, match=r"^cannot be read \(No such file or directory\)$"):
        read(missing, "png")


def test_a_zip_is_not_a_document(tmp_path: Path) -> None:
    path = write(tmp_path, "a.zip", b"PK\x05\x06" + b"\0" * 18)
    with pytest.raises(UnreadableFile, match="'zip' files are not documents"):
        read(path, "zip")


def test_a_zero_sized_png_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFile, match="not a readable image"):
        read(write(tmp_path, "zero.png", png_declaring(0, 10)), "png")


# --- decompression bombs -------------------------------------------------------------------


def test_a_png_declaring_a_huge_size_is_refused_before_decoding(tmp_path: Path) -> None:
    path = write(tmp_path, "bomb.png", png_declaring(50_000, 50_000))
    assert path.stat().st_size < 200  # 2.5 Gpx claimed by a few bytes: only the header is read
    with pytest.raises(UnreadableFile) as caught:
        read(path, "png", Limits())
    # Had the pixels been decoded, the stub data would have been called truncated instead.
    assert str(caught.value) == ("page 1 is 50000×50000 = 2,500,000,000 pixels, over the limit "
                                 "of 40,000,000 pixels per page")


def test_a_jpeg_declaring_a_huge_size_is_refused(tmp_path: Path) -> None:
    data = bytearray(encode(Image.fromarray(noise(16, 16)).convert("RGB"), "JPEG"))
    frame = data.index(b"\xff\xc0")  # baseline frame header: length, precision, height, width
    struct.pack_into(">HH", data, frame + 5, 60_000, 60_000)
    with pytest.raises(UnreadableFile, match="^page 1 is 60000×60000 = 3,600,000,000 pixels, over "
                                             "the limit of 1,000,000 pixels per page$"):
        read(write(tmp_path, "bomb.jpg", bytes(data)), "jpeg")


def test_a_png_with_a_text_chunk_bomb_is_refused_clearly(tmp_path: Path) -> None:
    """A zTXt chunk that inflates to 200 MB: refused with a clear reason, not a crash."""
    png = encode(Image.new("L", (50, 40), 255), "PNG")
    bomb = png_chunk(b"zTXt", b"Comment\0\0" + zlib.compress(b"A" * (200 * 1024 * 1024), 9))
    path = write(tmp_path, "text-bomb.png", png[:33] + bomb + png[33:])
    with pytest.raises(UnreadableFile, match="decompression bomb"):
        read(path, "png")


def test_size_and_limit_are_told_exactly_not_rounded_alike(tmp_path: Path) -> None:
    data = encode(Image.new("L", (1001, 1000), 255), "PNG")  # just over 1 Mpx: compresses to nothing
    path = write(tmp_path, "big.png", data)
    with pytest.raises(UnreadableFile, match="^page 1 is 1001×1000 = 1,001,000 pixels, over the "
                                             "limit of 1,000,000 pixels per page$"):
        read(path, "png")
    (exact,) = read(path, "png", Limits(max_page_pixels=1_001_000))  # the limit itself is fine
    assert exact.image is not None and exact.image.shape == (1000, 1001)


# --- PDFs ----------------------------------------------------------------------------------


def test_pdf_pages_are_rendered_at_the_configured_resolution(tmp_path: Path) -> None:
    path = write(tmp_path, "two.pdf", new_pdf([(200, 100), (100, 150)]))
    found = read(path, "pdf", Limits(pdf_dpi=144))
    assert [p.number for p in found] == [1, 2] and all(p.error is None for p in found)
    assert [p.image.shape for p in found] == [(200, 400, 3), (300, 200, 3)]  # type: ignore[union-attr]
    assert all(p.image.dtype == np.uint8 and p.image.min() == 255 for p in found)  # type: ignore[union-attr]
    assert count_pages(path, "pdf") == 2


def test_a_pdf_of_a_scan_renders_the_scan(tmp_path: Path) -> None:
    scan = np.full((80, 100), 255, np.uint8)
    scan[20:60, 30:70] = 0
    path = write(tmp_path, "scan.pdf", encode(Image.fromarray(scan), "PDF", resolution=72))
    (only,) = read(path, "pdf")
    assert only.image is not None and only.image.shape == (80, 100, 3)
    assert only.image[40, 50].tolist() == [0, 0, 0] and only.image[5, 5].tolist() == [255, 255, 255]


def test_a_corrupt_pdf_is_refused(tmp_path: Path) -> None:
    data = b"%PDF-1.4\n" + np.random.default_rng(5).bytes(4000)
    assert sniff(data) == "pdf"
    with pytest.raises(UnreadableFile, match=r"^not a readable PDF \(damaged or not a PDF\)$"):
        read(write(tmp_path, "corrupt.pdf", data), "pdf")


def test_an_encrypted_pdf_is_called_encrypted(tmp_path: Path) -> None:
    # Standard security handler, RC4 40-bit: the user password is not empty, so nothing opens.
    encrypt = (b"<< /Filter /Standard /V 1 /R 2 /P -4 /O <" + b"11" * 32 + b"> /U <"
               + b"22" * 32 + b"> >>")
    data = hand_pdf([CATALOG, ONE_PAGE_TREE, PAGE, encrypt],
                    b"/Encrypt 4 0 R /ID [<" + b"33" * 16 + b"> <" + b"33" * 16 + b">] ")
    plain = hand_pdf([CATALOG, ONE_PAGE_TREE, PAGE])
    assert len(read(write(tmp_path, "plain.pdf", plain), "pdf")) == 1  # the same PDF, unlocked
    with pytest.raises(UnreadableFile, match=r"^the PDF is encrypted \(password protected\)$"):
        read(write(tmp_path, "locked.pdf", data), "pdf")


@pytest.mark.parametrize("data", [
    new_pdf([]),
    hand_pdf([CATALOG, b"<< /Type /Pages /Kids [] /Count 0 >>"]),
    hand_pdf([b"<< /Type /Catalog >>"]),  # no page tree at all
], ids=["pdfium", "empty-tree", "no-tree"])
def test_a_pdf_without_pages_is_called_so(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(UnreadableFile, match="^the PDF has no pages$"):
        read(write(tmp_path, "empty.pdf", data), "pdf")


def test_a_pdf_over_the_page_limit_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "long.pdf", new_pdf([(100, 100)] * 5))
    with pytest.raises(UnreadableFile, match="^5 pages, over the limit of 3 per document$"):
        read(path, "pdf", Limits(max_pages=3, pdf_dpi=72))
    assert len(read(path, "pdf", Limits(max_pages=5, pdf_dpi=72))) == 5


def test_a_pdf_page_too_large_at_the_resolution_fails_alone(tmp_path: Path) -> None:
    path = write(tmp_path, "poster.pdf", new_pdf([(100, 100), (5000, 4000), (120, 100)]))
    first, poster, last = read(path, "pdf", Limits(max_page_pixels=1_000_000, pdf_dpi=72))
    assert first.image is not None and first.image.shape == (100, 100, 3) and first.error is None
    assert last.image is not None and last.image.shape == (100, 120, 3) and last.error is None
    assert poster.number == 2 and poster.image is None
    assert poster.error == ("page 2 at 72 dpi is 5000×4000 = 20,000,000 pixels, over the limit of "
                            "1,000,000 pixels per page")


def test_a_broken_page_object_fails_alone(tmp_path: Path) -> None:
    data = hand_pdf([CATALOG, b"<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >>", PAGE, b"42"])
    good, bad = read(write(tmp_path, "half.pdf", data), "pdf")
    assert good.image is not None and good.image.shape == (100, 200, 3)
    assert bad.number == 2 and bad.image is None
    assert bad.error is not None and bad.error.startswith("page 2: cannot be rendered")


# --- TIFFs ---------------------------------------------------------------------------------


def test_a_one_bit_tiff_becomes_booleans(tmp_path: Path) -> None:
    bits = noise(40, 50) > 127
    path = write(tmp_path, "fax.tif", encode(Image.fromarray(bits), "TIFF", compression="group4"))
    (only,) = read(path, "tiff")
    assert only.image is not None and only.image.dtype == np.bool_
    np.testing.assert_array_equal(only.image, bits)


def test_a_sixteen_bit_tiff_keeps_its_depth(tmp_path: Path) -> None:
    deep = np.random.default_rng(2).integers(0, 65536, (30, 40), dtype=np.uint16)
    image = Image.fromarray(deep)
    assert image.mode == "I;16"
    (only,) = read(write(tmp_path, "deep.tif", encode(image, "TIFF")), "tiff")
    assert only.image is not None and only.image.dtype == np.uint16
    np.testing.assert_array_equal(only.image, deep)


def test_a_cmyk_tiff_becomes_rgb(tmp_path: Path) -> None:
    red = Image.new("CMYK", (40, 30), (0, 255, 255, 0))
    (only,) = read(write(tmp_path, "print.tif", encode(red, "TIFF")), "tiff")
    assert only.image is not None and only.image.dtype == np.uint8 and only.image.shape == (30, 40, 3)
    assert only.image[10, 10].tolist() == [255, 0, 0]


def test_every_page_of_a_multi_page_tiff(tmp_path: Path) -> None:
    frames = [noise(20 + n, 30, seed=n) for n in range(3)]
    path = write(tmp_path, "three.tif", multi_tiff(frames, compression="tiff_lzw"))
    found = read(path, "tiff")
    assert [p.number for p in found] == [1, 2, 3] and count_pages(path, "tiff") == 3
    for item, frame in zip(found, frames):
        assert item.error is None
        np.testing.assert_array_equal(item.image, frame)


def test_a_multi_page_tiff_cut_inside_its_last_page(tmp_path: Path) -> None:
    frames = [noise(20 + n, 30, seed=n) for n in range(3)]
    data = multi_tiff(frames)
    last = tiff_directories(data)[2]
    path = write(tmp_path, "cut.tif", data[: last + 200])  # the last page's pixels start after its directory
    first, second, third = read(path, "tiff")
    np.testing.assert_array_equal(first.image, frames[0])
    np.testing.assert_array_equal(second.image, frames[1])
    assert third.image is None and third.error == "page 3: the image data is truncated (incomplete file)"


def test_a_multi_page_tiff_with_a_damaged_last_directory(tmp_path: Path) -> None:
    frames = [noise(20 + n, 30, seed=n) for n in range(3)]
    data = multi_tiff(frames)
    last = tiff_directories(data)[2]
    path = write(tmp_path, "cut.tif", data[: last + 20])  # inside the last page's tags
    first, second, third = read(path, "tiff")
    np.testing.assert_array_equal(first.image, frames[0])
    np.testing.assert_array_equal(second.image, frames[1])
    assert third.number == 3 and third.image is None
    assert third.error is not None and third.error.startswith("page 3: the page directory is damaged")
    assert page(path, "tiff", 2, SMALL).shape == (21, 30)


def test_a_tiff_page_over_the_pixel_limit_fails_alone(tmp_path: Path) -> None:
    frames = [noise(20, 30), np.full((1000, 1001), 255, np.uint8), noise(25, 30, seed=1)]
    first, huge, last = read(write(tmp_path, "mixed.tif", multi_tiff(frames, compression="tiff_lzw")),
                             "tiff")
    np.testing.assert_array_equal(first.image, frames[0])
    np.testing.assert_array_equal(last.image, frames[2])
    assert huge.image is None
    assert huge.error == ("page 2 is 1001×1000 = 1,001,000 pixels, over the limit of 1,000,000 "
                          "pixels per page")


def test_a_tiff_over_the_page_limit_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "long.tif", multi_tiff([noise(10, 10, seed=n) for n in range(4)]))
    with pytest.raises(UnreadableFile, match="^more than 3 pages, over the limit of 3 per document$"):
        read(path, "tiff", Limits(max_pages=3))
    assert len(read(path, "tiff", Limits(max_pages=4))) == 4


def test_a_single_page_tiff_over_the_limit_is_refused_whole(tmp_path: Path) -> None:
    data = encode(Image.new("L", (1200, 1000), 255), "TIFF", compression="tiff_lzw")
    with pytest.raises(UnreadableFile, match="^page 1 is 1200×1000 = 1,200,000 pixels, over the limit"):
        read(write(tmp_path, "big.tif", data), "tiff")


# --- PNG and JPEG with more than one frame are one page ------------------------------------


def test_a_phone_jpeg_with_a_second_picture_is_one_page(tmp_path: Path) -> None:
    photo = Image.fromarray(noise(90, 120)).convert("RGB")
    preview = Image.new("RGB", (60, 45), "black")  # MPO: what phones add (preview, gain map)
    data = encode(photo, "MPO", save_all=True, append_images=[preview])
    assert sniff(data) == "jpeg"
    path = write(tmp_path, "photo.jpg", data)
    (only,) = read(path, "jpeg")
    assert only.image is not None and only.image.shape == (90, 120, 3)
    assert count_pages(path, "jpeg") == 1
    with pytest.raises(UnreadableFile, match="^there is no page 2$"):
        page(path, "jpeg", 2, SMALL)


def test_an_animated_png_is_one_page(tmp_path: Path) -> None:
    frames = [Image.fromarray(noise(30, 40, seed=n)) for n in range(3)]
    path = write(tmp_path, "anim.png", encode(frames[0], "PNG", save_all=True, append_images=frames[1:]))
    (only,) = read(path, "png")
    np.testing.assert_array_equal(only.image, np.asarray(frames[0]))
    assert count_pages(path, "png") == 1


# --- one page ------------------------------------------------------------------------------


def test_page_returns_the_requested_page_only(tmp_path: Path) -> None:
    frames = [noise(20 + n, 30, seed=n) for n in range(3)]
    tiff = write(tmp_path, "three.tif", multi_tiff(frames))
    np.testing.assert_array_equal(page(tiff, "tiff", 2, SMALL), frames[1])
    assert [p.number for p in pages(tiff, "tiff", SMALL, only=3)] == [3]
    pdf = write(tmp_path, "three.pdf", new_pdf([(100, 100), (200, 50), (30, 40)]))
    assert page(pdf, "pdf", 2, SMALL).shape == (50, 200, 3)
    assert [p.number for p in pages(pdf, "pdf", SMALL, only=2)] == [2]


@pytest.mark.parametrize("number", [0, 4, -1])
def test_a_missing_page_number_is_refused(tmp_path: Path, number: int) -> None:
    tiff = write(tmp_path, "three.tif", multi_tiff([noise(10, 10, seed=n) for n in range(3)]))
    pdf = write(tmp_path, "three.pdf", new_pdf([(100, 100)] * 3))
    png = write(tmp_path, "one.png", encode(Image.new("L", (10, 10)), "PNG"))
    for path, kind in ((tiff, "tiff"), (pdf, "pdf"), (png, "png")):
        with pytest.raises(UnreadableFile, match=f"^there is no page {number}$"):
            page(path, kind, number, SMALL)


def test_page_raises_the_error_of_a_bad_page(tmp_path: Path) -> None:
    path = write(tmp_path, "poster.pdf", new_pdf([(100, 100), (5000, 4000)]))
    with pytest.raises(UnreadableFile, match="^page 2 at 72 dpi is 5000×4000 = 20,000,000 pixels, over the"):
        page(path, "pdf", 2, SMALL)


# --- pixels --------------------------------------------------------------------------------


def test_palette_images_become_rgb_or_rgba() -> None:
    palette = Image.new("P", (4, 3))
    palette.putpalette([255, 0, 0] * 256)
    assert to_array(palette).shape == (3, 4, 3) and to_array(palette)[0, 0].tolist() == [255, 0, 0]
    palette.info["transparency"] = 0
    assert to_array(palette).shape == (3, 4, 4)


def test_reading_pages_leaves_the_callers_warning_filters_alone(tmp_path: Path) -> None:
    path = write(tmp_path, "three.tif", multi_tiff([noise(10, 10, seed=n) for n in range(3)]))
    before = list(warnings.filters)
    for item in pages(path, "tiff", SMALL):
        # The consumer (segmentation, the model) runs here: its warnings must not be silenced.
        assert warnings.filters == before, f"warnings silenced while page {item.number} is used"


def test_a_zip_inside_is_not_mistaken_for_an_image(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.png", encode(Image.new("L", (4, 4)), "PNG"))
    data = buffer.getvalue()
    assert sniff(data) == "zip"
    with pytest.raises(UnreadableFile, match="not a readable image"):
        read(write(tmp_path, "renamed.png", data), "png")


def test_8_bit_pngs_decode_to_the_same_pixels_as_pillow_gives(tmp_path: Path) -> None:
    grey = noise(40, 30)
    colour = np.stack([noise(40, 30, seed) for seed in (1, 2, 3)], axis=2)
    (got_grey,) = read(write(tmp_path, "g.png", encode(Image.fromarray(grey), "PNG")), "png")
    (got_colour,) = read(write(tmp_path, "c.png", encode(Image.fromarray(colour), "PNG")), "png")
    assert np.array_equal(got_grey.image, grey)
    assert np.array_equal(got_colour.image, colour)  # RGB, as reviewers are shown it


def test_a_pdf_page_too_costly_to_draw_fails_alone_within_its_budget(tmp_path: Path) -> None:
    """Nested forms (fan-out 10, depth 9: 10^9 drawings) are stopped at the page's time budget,
    the page gets an error of its own and the next page is read."""
    import time

    hostile = nested_forms_pdf(10, 9)
    assert len(hostile) < 5000
    path = write(tmp_path, "hostile.pdf", hostile)
    started = time.monotonic()
    (page,) = read(path, "pdf", Limits(page_timeout_s=3))
    assert time.monotonic() - started < 20
    assert page.image is None and "longer than 3 s" in page.error
    assert page.error.startswith("page 1: ")


def test_pages_are_counted_in_decoded_bytes_not_only_pixels(tmp_path: Path) -> None:
    """A 16-bit RGBA page takes 8 bytes a pixel: under the pixel limit, it can still be over
    the byte limit, and is refused before it is decoded."""
    rgba16 = np.full((300, 400, 4), 65535, np.uint16)
    path = write(tmp_path, "deep.png", encode(Image.fromarray(rgba16[..., 0]), "PNG"))  # 16-bit grey
    (grey,) = read(path, "png", Limits(max_page_bytes=300 * 400 * 2))
    assert grey.image is not None
    with pytest.raises(UnreadableFile, match=r"decodes to 0 MB \(400×300, 1 channels of 16 bits\), "
                                             r"over the limit of 0 MB per page \(MAX_PAGE_BYTES\)"):
        read(path, "png", Limits(max_page_bytes=300 * 400 * 2 - 1))


def test_the_worker_gets_each_page_grey_with_alpha_on_white(tmp_path: Path) -> None:
    """grey=True: the darkest channel, transparency composited on white paper, uint8."""
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2] = 200, 120, 40  # blue channel darkest
    rgba[:10, :, 3] = 255  # top half opaque
    rgba[10:, :, 3] = 0  # bottom half transparent: paper
    path = write(tmp_path, "alpha.png", encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    (page,) = pages(path, "png", Limits(), grey=True)
    assert page.image.dtype == np.uint8 and page.image.shape == (20, 30)
    assert (page.image[:10] == 40).all() and (page.image[10:] == 255).all()
