"""The service the client tests talk to: the Flask app behind real HTTP servers (one without a
token, one with API_TOKEN set) over one database and one real Celery worker on the embedded
backend, and scans generated once for every test."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import pytest

from synth import documents
from synth.pages import make_page
from synth.scanner import random_style
from tests.client.running import SMALL_LIMIT, TOKEN, Served, http_server
from tests.services import start_service


@pytest.fixture(scope="package")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    from web import create_app

    with start_service(tmp_path_factory.mktemp("client")) as service:
        guarded = create_app(dataclasses.replace(service.settings, api_token=TOKEN))
        small = create_app(dataclasses.replace(service.settings, max_upload_bytes=SMALL_LIMIT))
        with http_server(service.app) as url, http_server(guarded) as token_url, \
                http_server(small) as small_url:
            yield Served(service, url, token_url, small_url)


@pytest.fixture(scope="package")
def cheques(digits) -> list[tuple[bytes, int]]:  # type: ignore[no-untyped-def]
    """Three clean cheques as PNG, each with its number of fields."""
    rng = np.random.default_rng(41)
    pages = [make_page(digits, rng, "cheque", random_style(rng, dpi=200, clean=True)) for _ in range(3)]
    return [(documents.png_bytes(page.image), len(page.fields)) for page in pages]

