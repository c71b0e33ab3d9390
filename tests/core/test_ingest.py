"""Uploads as they come: single files, ZIPs (nested, hostile, damaged) and odd names. Each
becomes a stored document or an entry saying what is wrong; nothing is ever written outside
the storage root. Every input is built here."""

from __future__ import annotations

import hashlib
import io
import shutil
import struct
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.ingest import MAX_NAME_CHARS, Incoming, ZipLimits, clean_name, ingest, member_name
from core.storage import Storage

LIMITS = ZipLimits()


@pytest.fixture()
def storage(tmp_path: Path) -> Storage:
    return Storage(tmp_path / "originals")


def png(seed: int = 0, size: tuple[int, int] = (24, 16)) -> bytes:
    """A small PNG of noise: each seed gives different bytes, hardly compressible."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0]), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def make_zip(members: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members:
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return buffer.getvalue()


def upload(storage: Storage, name: str, data: bytes, limits: ZipLimits = LIMITS,
           max_bytes: int | None = None) -> list[Incoming]:
    return ingest(name, io.BytesIO(data), storage, limits, max_bytes)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stored_files(storage: Storage) -> dict[str, bytes]:
    """Every original in storage by file name (temporary files left over would show too)."""
    return {p.name: p.read_bytes() for p in storage.root.rglob("*") if p.is_file()}


def central_entry(data: bytes, name: str) -> int:
    """Where a member's central directory record starts (its name is 46 bytes in)."""
    encoded = name.encode()
    start = 0
    while (found := data.find(b"PK\x01\x02", start)) >= 0:
        if data[found + 46: found + 46 + len(encoded)] == encoded:
            return found
        start = found + 1
    raise AssertionError(f"{name} is not in the ZIP's directory")


def member_data(data: bytes, name: str) -> int:
    """Where a member's compressed bytes start (after its local header)."""
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(name)
    start = info.header_offset
    name_length, extra_length = struct.unpack_from("<HH", data, start + 26)
    return start + 30 + name_length + extra_length


# --- single files --------------------------------------------------------------------------


def test_a_png_is_stored_by_content(storage: Storage) -> None:
    data = png()
    (item,) = upload(storage, "scan 1.png", data)
    assert item.error is None and item.name == "scan 1.png"
    assert item.kind == "png" and item.media_type == "image/png"
    assert item.stored is not None and item.stored.sha256 == sha(data) and item.stored.size == len(data)
    assert storage.path(sha(data)).read_bytes() == data
    assert stored_files(storage) == {sha(data): data}  # no temporary file left behind


@pytest.mark.parametrize("kind, data", [
    ("jpeg", b"\xff\xd8\xff\xe0" + b"\0" * 100),
    ("tiff", b"II*\x00" + b"\0" * 100),
    ("pdf", b"%PDF-1.7\n" + b"\0" * 100),
])
def test_the_type_comes_from_the_content_not_the_name(storage: Storage, kind: str, data: bytes) -> None:
    (item,) = upload(storage, "misnamed.png", data)
    assert item.kind == kind and item.error is None  # reading the pages will judge the rest


def test_an_empty_upload_is_called_empty(storage: Storage) -> None:
    (item,) = upload(storage, "nothing.png", b"")
    assert item.name == "nothing.png" and item.stored is None
    assert item.error == "the file is empty"


@pytest.mark.parametrize("data", [b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", b"Dear customer,\n",
                                  b"MZ\x90\x00\x03"])
def test_an_unsupported_type_is_refused(storage: Storage, data: bytes) -> None:
    (item,) = upload(storage, "x.png", data)
    assert item.stored is None and item.kind is None
    # core.batches answers 415 on this prefix
    assert item.error == ("not a PNG, JPEG, TIFF, PDF or ZIP file (its content is of another or "
                          "unknown type)")


def test_an_upload_over_the_limit_is_refused_and_not_kept(storage: Storage) -> None:
    (item,) = upload(storage, "big.png", png(), max_bytes=100)
    assert item.stored is None and item.error == "larger than the upload limit of 100 bytes"
    assert stored_files(storage) == {}
    (exact,) = upload(storage, "big.png", png(), max_bytes=len(png()))  # the limit itself is fine
    assert exact.error is None


# --- ZIPs ----------------------------------------------------------------------------------


def test_a_zip_becomes_one_document_per_member_named_by_its_path(storage: Storage) -> None:
    members = [("scans/2024/a.png", png(1)), ("scans/b.png", png(2)), ("c.png", png(3))]
    found = upload(storage, "batch.zip", make_zip(members))
    assert [(i.name, i.kind, i.error) for i in found] == [
        ("scans/2024/a.png", "png", None), ("scans/b.png", "png", None), ("c.png", "png", None)]
    for item, (_, data) in zip(found, members):
        assert item.stored is not None and storage.path(item.stored.sha256).read_bytes() == data


def test_member_names_are_cleaned_and_keep_non_ascii(storage: Storage) -> None:
    members = [("Überweisung/北京 März.png", png(1)), ("scans\\windows.png", png(2)),
               ("./a/./b.png", png(3)), ("ctl\x07.png", png(4))]
    found = upload(storage, "u.zip", make_zip(members))
    assert [i.name for i in found] == ["Überweisung/北京 März.png", "scans/windows.png", "a/b.png",
                                       "ctl.png"]
    assert all(i.error is None for i in found)


def test_unsafe_member_paths_are_refused_and_nothing_lands_outside(
        storage: Storage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    workdir = tmp_path / "work" / "dir"
    workdir.mkdir(parents=True)
    monkeypatch.chdir(workdir)  # where a careless extraction of relative paths would write
    evil = {"../evil.png": png(10), "../../evil2.png": png(11), "/abs.png": png(12),
            "a/../../evil3.png": png(13), "..\\evil4.png": png(14), "C:/Windows/evil5.png": png(15),
            "//server/share/evil6.png": png(16)}
    good = {"fine.png": png(1), "sub/fine2.png": png(2)}
    found = upload(storage, "evil.zip", make_zip([*evil.items(), *good.items()]))

    refused = {i.name: i.error for i in found if i.error}
    assert sorted(refused) == sorted(["evil.png", "evil2.png", "abs.png", "evil3.png", "evil4.png",
                                      "evil5.png", "evil6.png"])
    assert set(refused.values()) == {"unsafe path in the ZIP (absolute or with '..'): skipped"}
    assert [(i.name, i.kind) for i in found if not i.error] == [("fine.png", "png"), ("sub/fine2.png", "png")]

    # The file system: only content-addressed originals under the storage root, none of the
    # refused members' bytes anywhere, nothing in the working directory or next to the root.
    everything = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert all(p.is_relative_to(storage.root) for p in everything)
    assert all(p.name == sha(p.read_bytes()) and p == storage.path(p.name) for p in everything)
    assert not any(storage.exists(sha(data)) for data in evil.values())
    assert {p.name for p in everything} == {sha(make_zip([*evil.items(), *good.items()])),
                                            *(sha(d) for d in good.values())}
    assert list(workdir.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["originals", "work"]
    assert not list(Path("/").glob("abs.png")) and not list(tmp_path.parent.glob("evil*.png"))


def test_a_zip_nested_once_is_opened(storage: Storage) -> None:
    inner = make_zip([("i.png", png(1)), ("d/j.png", png(2))])
    found = upload(storage, "outer.zip", make_zip([("in/inner.zip", inner), ("o.png", png(3))]))
    assert [(i.name, i.kind, i.error) for i in found] == [
        ("in/inner.zip/i.png", "png", None), ("in/inner.zip/d/j.png", "png", None), ("o.png", "png", None)]


def test_a_zip_nested_deeper_is_not_opened(storage: Storage) -> None:
    deepest = make_zip([("x.png", png(1))])
    middle = make_zip([("deep.zip", deepest), ("m.png", png(2))])
    found = upload(storage, "outer.zip", make_zip([("middle.zip", middle)]))
    assert [(i.name, i.error) for i in found] == [
        ("middle.zip/deep.zip", "a ZIP nested more than 2 deep is not opened"),
        ("middle.zip/m.png", None)]
    assert not storage.exists(sha(png(1)))
    (flat,) = upload(storage, "outer.zip", make_zip([("middle.zip", middle)]), ZipLimits(max_depth=1))
    assert flat.name == "middle.zip" and flat.error == "a ZIP nested more than 1 deep is not opened"


def test_a_zip_bomb_member_is_refused_by_its_ratio(storage: Storage) -> None:
    zeros = b"\0" * 5_000_000  # deflates about 1000:1
    data = make_zip([("zeros.png", zeros), ("real.png", png(1))])
    bomb, real = upload(storage, "bomb.zip", data)
    assert bomb.name == "zeros.png" and bomb.stored is None
    assert bomb.error is not None
    assert bomb.error.startswith("compressed ") and bomb.error.endswith(
        ":1, beyond the limit of 200:1 (a ZIP bomb?)")
    assert int(bomb.error.split()[1].split(":")[0]) > 900
    assert real.error is None and real.kind == "png"
    assert not storage.exists(sha(zeros))
    assert max(len(d) for d in stored_files(storage).values()) == len(data)  # the ZIP itself is the largest


def test_a_member_that_expands_past_its_declared_size_is_cut_off(storage: Storage) -> None:
    payload = png(1) + b"\0" * 50_000
    data = bytearray(make_zip([("liar.png", payload)]))
    struct.pack_into("<I", data, central_entry(bytes(data), "liar.png") + 24, 100)  # declared: 100 bytes
    (item,) = upload(storage, "liar.zip", bytes(data))
    assert item.stored is None and item.error is not None
    assert item.error.startswith("damaged inside the ZIP (") and "CRC" in item.error
    assert all(len(d) <= len(data) for d in stored_files(storage).values())


def test_a_zip_declaring_too_much_in_total_is_refused(storage: Storage) -> None:
    members = [(f"{n}.png", png(n)) for n in range(3)]
    total = sum(len(d) for _, d in members)
    (item,) = upload(storage, "big.zip", make_zip(members), ZipLimits(max_uncompressed_bytes=total - 1))
    assert item.name == "big.zip" and item.stored is None
    assert item.error == f"the ZIP would expand to more than {total - 1} bytes (a ZIP bomb?)"
    assert len(upload(storage, "big.zip", make_zip(members), ZipLimits(max_uncompressed_bytes=total))) == 3


def test_nested_zips_share_one_budget(storage: Storage) -> None:
    first = make_zip([("a.png", png(1))])
    second = make_zip([("b.png", png(2))])
    outer = make_zip([("first.zip", first), ("second.zip", second)])
    # The outer ZIP's members, then each inner one's: the second inner ZIP goes over the budget.
    budget = len(first) + len(second) + len(png(1)) + len(png(2)) - 1
    found = upload(storage, "outer.zip", outer, ZipLimits(max_uncompressed_bytes=budget))
    assert [(i.name, i.error) for i in found] == [
        ("first.zip/a.png", None),
        ("second.zip", f"the ZIP would expand to more than {budget} bytes (a ZIP bomb?)")]


def test_a_zip_with_too_many_members_is_refused(storage: Storage) -> None:
    members = [(f"{n}.png", png(n)) for n in range(4)]
    (item,) = upload(storage, "many.zip", make_zip(members), ZipLimits(max_members=3))
    assert item.name == "many.zip" and item.error == "the ZIP holds more than 3 files"
    assert not any(storage.exists(sha(d)) for _, d in members)
    assert len(upload(storage, "many.zip", make_zip(members), ZipLimits(max_members=4))) == 4


def test_an_encrypted_member_is_refused_by_its_flag(storage: Storage) -> None:
    data = bytearray(make_zip([("locked.png", png(1)), ("open.png", png(2))]))
    entry = central_entry(bytes(data), "locked.png")
    data[entry + 8] |= 0x01  # general purpose flag bit 0: encrypted
    locked, unlocked = upload(storage, "mixed.zip", bytes(data))
    assert locked.name == "locked.png" and locked.stored is None
    assert locked.error == "encrypted inside the ZIP: cannot be read"
    assert unlocked.error is None and unlocked.kind == "png"


def test_a_zip_made_with_a_password_is_refused(storage: Storage, tmp_path: Path) -> None:
    zip_command = shutil.which("zip")
    if zip_command is None:
        pytest.skip("the `zip` command is not installed (needed to write a password-protected ZIP)")
    source = tmp_path / "source"
    source.mkdir()
    (source / "secret.png").write_bytes(png(1))
    subprocess.run([zip_command, "-q", "-P", "hunter2", "locked.zip", "secret.png"], cwd=source,
                   check=True)
    (item,) = upload(storage, "locked.zip", (source / "locked.zip").read_bytes())
    assert item.name == "secret.png" and item.error == "encrypted inside the ZIP: cannot be read"
    assert not storage.exists(sha(png(1)))


def test_archiver_litter_is_skipped(storage: Storage) -> None:
    members = [("__MACOSX/._a.png", b"\0\5\26\7"), ("__MACOSX/scans/._b.png", b"\0\5\26\7"),
               (".DS_Store", b"Bud1"), ("scans/.DS_Store", b"Bud1"), ("scans/Thumbs.db", b"\xd0\xcf"),
               ("scans/._b.png", b"\0\5\26\7"), ("scans/", b""), ("scans/b.png", png(1))]
    (item,) = upload(storage, "mac.zip", make_zip(members))
    assert item.name == "scans/b.png" and item.kind == "png" and item.error is None
    (empty,) = upload(storage, "litter.zip", make_zip(members[:-1]))
    assert empty.name == "litter.zip" and empty.error == "the ZIP archive holds no files"


def test_an_empty_zip_holds_no_files(storage: Storage) -> None:
    (item,) = upload(storage, "empty.zip", make_zip([]))
    assert item.error == "the ZIP archive holds no files"


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_a_truncated_zip_is_refused(storage: Storage, cut: float) -> None:
    data = make_zip([("a.png", png(1)), ("b.png", png(2))])
    (item,) = upload(storage, "cut.zip", data[: int(len(data) * cut)])
    assert item.name == "cut.zip" and item.stored is None
    assert item.error == "not a readable ZIP archive (File is not a zip file)"


def test_a_member_with_damaged_deflate_data_is_refused(storage: Storage) -> None:
    data = bytearray(make_zip([("bad.png", png(1)), ("good.png", png(2))]))
    data[member_data(bytes(data), "bad.png")] = 0xFF  # final block of reserved type 3: invalid
    bad, good = upload(storage, "damaged.zip", bytes(data))
    assert bad.name == "bad.png" and bad.stored is None
    assert bad.error is not None and bad.error.startswith("damaged inside the ZIP (Error -3 ")
    assert "invalid block type" in bad.error
    assert good.error is None


def test_a_member_with_damaged_lzma_data_is_refused(storage: Storage) -> None:
    data = bytearray(make_zip([("bad.png", png(1))], zipfile.ZIP_LZMA))
    start = member_data(bytes(data), "bad.png")
    data[start + 4: start + 9] = b"\xff" * 5  # the LZMA properties after zipfile's 4-byte header
    (bad,) = upload(storage, "damaged.zip", bytes(data))
    assert bad.stored is None and bad.error is not None
    assert bad.error.startswith("damaged inside the ZIP (") and "options" in bad.error


def test_a_zip_with_a_name_that_is_not_utf8_is_refused(storage: Storage) -> None:
    data = bytearray(make_zip([("abc.png", png(1))]))
    entry = central_entry(bytes(data), "abc.png")
    data[entry + 9] |= 0x08  # flag bit 11: names are UTF-8...
    data[entry + 46] = 0xFF  # ...but this one is not
    (item,) = upload(storage, "names.zip", bytes(data))
    assert item.name == "names.zip" and item.stored is None
    assert item.error is not None and item.error.startswith("not a readable ZIP archive (")
    assert "utf-8" in item.error


def test_a_zip_needing_an_unknown_version_is_refused(storage: Storage) -> None:
    data = bytearray(make_zip([("a.png", png(1))]))
    data[central_entry(bytes(data), "a.png") + 6] = 250  # "version needed to extract": 25.0
    (item,) = upload(storage, "future.zip", bytes(data))
    assert item.error == "not a readable ZIP archive (zip file version 25.0)"


# --- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize("raw, clean", [
    ("C:\\Users\\x\\scan.png", "scan.png"),
    ("/home/x/scans/scan.png", "scan.png"),
    ("..\\..\\scan.png", "scan.png"),
    ("Straße – 北京.pdf", "Straße – 北京.pdf"),
    ("e\u0301te\u0301.png", "été.png"),  # NFC: one code point per letter
    ("invoice\u202egnp.exe", "invoicegnp.exe"),  # no bidi override to disguise the extension
    ("\ttab\x00nul\x1b.png ", "tabnul.png"),
    ("", "upload"), (None, "upload"), (".", "upload"), ("..", "upload"), ("scans/", "upload"),
    ("\x00\x01", "upload"),
])
def test_clean_name(raw: str | None, clean: str) -> None:
    assert clean_name(raw) == clean


def test_a_long_name_keeps_its_extension() -> None:
    name = clean_name("a" * 300 + ".pdf")
    assert len(name) == MAX_NAME_CHARS and name == "a" * 250 + "….pdf"
    wide = clean_name("北京" * 200 + ".tiff")  # characters, not bytes
    assert len(wide) == MAX_NAME_CHARS and wide.endswith("….tiff") and wide.startswith("北京北京")


def test_a_long_name_without_extension_is_cut() -> None:
    assert clean_name("b" * 300) == "b" * 254 + "…"
    assert clean_name("x" * 255) == "x" * 255  # at the limit: untouched


def test_text_after_a_dot_in_a_long_name_is_not_taken_for_an_extension() -> None:
    raw = "Scan 2024.03.15 " + "invoice for the northern district " * 10
    name = clean_name(raw)
    assert len(name) == MAX_NAME_CHARS and name == raw[:254] + "…"
    assert clean_name("." + "c" * 300) == ("." + "c" * 300)[:254] + "…"


def test_an_uploaded_windows_path_names_the_document(storage: Storage) -> None:
    (item,) = upload(storage, clean_name("C:\\Users\\x\\scan.png"), png())
    assert item.name == "scan.png" and item.kind == "png"


@pytest.mark.parametrize("raw, name", [
    ("a/b.png", "a/b.png"), ("./x/./y.png", "x/y.png"), ("x\\y.png", "x/y.png"),
    ("a/..../b.png", "a/..../b.png"),
    ("../b.png", None), ("a/../b.png", None), ("/b.png", None), ("\\b.png", None),
    ("C:b.png", None), ("c:/b.png", None), ("", None), ("./", None),
])
def test_member_name(raw: str, name: str | None) -> None:
    assert member_name(raw) == name


# --- storage -------------------------------------------------------------------------------


def test_the_same_content_is_stored_once(storage: Storage) -> None:
    data = png(5)
    (first,) = upload(storage, "a.png", data)
    (second,) = upload(storage, "copy of a.png", data)
    (zipped,) = upload(storage, "a.zip", make_zip([("inside/a.png", data)]))
    assert first.stored == second.stored == zipped.stored
    assert first.stored is not None and first.stored.sha256 == sha(data)
    originals = stored_files(storage)
    assert list(originals.values()).count(data) == 1
    assert len(originals) == 2  # the PNG once, and the ZIP


def test_originals_are_laid_out_by_hash(storage: Storage) -> None:
    (item,) = upload(storage, "a.png", png(6))
    assert item.stored is not None
    digest = item.stored.sha256
    assert storage.path(digest) == storage.root / digest[:2] / digest[2:4] / digest
    assert storage.path(digest).is_file() and storage.exists(digest)
    assert not storage.exists("0" * 64)


@pytest.mark.parametrize("address", [
    "../../etc/passwd", "", "a" * 63, "a" * 65, "A" * 64, "g" * 64, "../" + "a" * 61,
    "/" + "a" * 63, "a" * 32 + "/" + "a" * 31])
def test_storage_refuses_anything_but_a_hash(storage: Storage, address: str) -> None:
    with pytest.raises(ValueError, match="not a SHA-256 content address"):
        storage.path(address)
