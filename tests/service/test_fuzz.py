"""Property-based: random bytes and mangled images thrown at the upload endpoint and at the page
pipeline. Never a 500, never a dead worker, never an exception other than a clear PageError."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from segmentation.pipeline import read_page
from segmentation.prepare import PageError
from tests.services import start_service

pytestmark = pytest.mark.slow


def _seed_files() -> list[bytes]:
    """Valid files of every kind, to be mangled."""
    from PIL import Image

    rng = np.random.default_rng(0)
    image = Image.fromarray((rng.random((120, 160)) * 255).astype(np.uint8))
    out = []
    for kind, options in (("PNG", {}), ("JPEG", {"quality": 80}), ("TIFF", {}), ("PDF", {})):
        buffer = io.BytesIO()
        image.save(buffer, kind, **options)
        out.append(buffer.getvalue())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.png", out[0])
        archive.writestr("b/c.tif", out[2])
    out.append(buffer.getvalue())
    return out


SEEDS = _seed_files()


@st.composite
def mangled(draw: st.DrawFn) -> bytes:
    """A valid file cut short, with bytes overwritten, or with junk spliced in; or pure noise."""
    how = draw(st.sampled_from(["noise", "truncate", "flip", "splice", "header"]))
    if how == "noise":
        return draw(st.binary(min_size=0, max_size=4096))
    data = bytearray(draw(st.sampled_from(SEEDS)))
    if how == "truncate":
        return bytes(data[: draw(st.integers(0, len(data)))])
    if how == "flip":
        for _ in range(draw(st.integers(1, 20))):
            position = draw(st.integers(0, len(data) - 1))
            data[position] = draw(st.integers(0, 255))
        return bytes(data)
    if how == "splice":
        position = draw(st.integers(0, len(data)))
        return bytes(data[:position] + draw(st.binary(min_size=1, max_size=512)) + data[position:])
    # header: keep the magic bytes, garble what follows
    return bytes(data[:8]) + draw(st.binary(min_size=0, max_size=2048))


NAMES = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=300)


@pytest.fixture(scope="module")
def fuzz_service(tmp_path_factory):  # type: ignore[no-untyped-def]
    with start_service(tmp_path_factory.mktemp("fuzz"), max_page_pixels=4_000_000,
                       max_pages_per_document=20) as service:
        yield service


def test_the_upload_endpoint_never_fails_and_the_worker_never_dies(fuzz_service) -> None:  # type: ignore[no-untyped-def]
    created: list[str] = []

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(files=st.lists(st.tuples(NAMES, mangled()), min_size=1, max_size=4))
    def upload(files: list[tuple[str, bytes]]) -> None:
        response = fuzz_service.upload(files)
        assert response.status_code in (202, 400, 413, 415), response.get_data(as_text=True)[:500]
        body = response.get_json()
        assert isinstance(body, dict)
        if response.status_code == 202:
            created.append(body["id"])
        else:
            assert body["error"]

    upload()
    assert created, "no upload was accepted: the strategy lost its valid files"
    for batch_id in created:
        status = fuzz_service.wait(batch_id, timeout=180)
        assert status["status"] in ("done", "partial", "failed")
        for error in status["errors"]:
            assert error["error"].startswith(error["document"] + ": ") or error["document"] in error["error"]
    assert fuzz_service.worker.process.poll() is None, fuzz_service.worker.tail()
    assert fuzz_service.worker.pool_pids(), "the worker's pool is gone"
    log = fuzz_service.worker.log.read_text()
    assert "WorkerLostError" not in log and "exited prematurely" not in log  # no pool process died
    assert "Unrecoverable error" not in log


DTYPES = st.sampled_from([np.uint8, np.uint16, np.float32, np.float64, np.bool_, np.int32])
SHAPES = st.one_of(
    hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=400),
    st.tuples(st.integers(1, 300), st.integers(1, 300), st.sampled_from([1, 2, 3, 4])),
)


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(page=hnp.arrays(DTYPES, SHAPES, elements=None))
def test_the_page_pipeline_never_crashes(page: np.ndarray, classify) -> None:  # type: ignore[no-untyped-def]
    try:
        result = read_page(page, classify)
    except PageError:
        return
    assert result.width == page.shape[1] and result.height == page.shape[0]
    for field in result.fields:
        assert 0.0 <= field.confidence <= 1.0 and field.value.isdigit() or field.value == ""


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_mangled_real_pages_never_crash_the_pipeline(data, digits, classify) -> None:  # type: ignore[no-untyped-def]
    from synth.pages import make_page
    from synth.scanner import random_style

    rng = np.random.default_rng(data.draw(st.integers(0, 10_000)))
    page = make_page(digits, rng, data.draw(st.sampled_from(["form", "cheque", "order"])),
                     random_style(rng, dpi=150)).image.copy()
    for _ in range(data.draw(st.integers(1, 6))):
        y0 = data.draw(st.integers(0, page.shape[0] - 1))
        x0 = data.draw(st.integers(0, page.shape[1] - 1))
        h, w = data.draw(st.integers(1, 400)), data.draw(st.integers(1, 400))
        page[y0 : y0 + h, x0 : x0 + w] = data.draw(st.integers(0, 255))
    result = read_page(page, classify)
    assert all(0.0 <= f.confidence <= 1.0 for f in result.fields)
