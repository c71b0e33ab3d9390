"""Requests whose uploaded files go straight into the store of originals.

Werkzeug spools each file of a multipart upload to a temporary file, which the API then copied
into the content-addressed store: every byte written twice and hashed on a second read. Here
the parser writes each file into the store's own temporary folder, hashed as it arrives, and
storing it is a rename (core.storage.Spool). A file the request never stores is deleted when
the request ends.

The body is also read in large pieces: the parser asks for 64 KiB at a time, and a server that
reads ahead (gunicorn reads up to 1 MiB per recv) copies what it holds on every such read.
"""

from __future__ import annotations

import io
from typing import IO

from flask import Request, current_app

from core.storage import Storage

READ_SIZE = 1 << 20  # the body is read from the server 1 MiB at a time


class UploadRequest(Request):
    def _get_stream_for_parsing(self) -> IO[bytes]:
        stream = super()._get_stream_for_parsing()
        if isinstance(stream, io.RawIOBase):  # werkzeug's LimitedStream over the WSGI input
            return io.BufferedReader(stream, buffer_size=READ_SIZE)
        return stream

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None, content_length: int | None = None) -> IO[bytes]:
        return Storage(current_app.config["SETTINGS"].originals_dir).spool()
