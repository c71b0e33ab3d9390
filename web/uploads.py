"""Uploads read part by part as they arrive, each file straight into the store of originals.

Werkzeug's form parsing reads the whole body before the handler runs, so reading began only
after the last byte of an upload. Here the body is decoded as it is read (`parts`): every
form field and every file is handed to the caller the moment its last byte has arrived, and
the caller (core.receiving) queues the file's documents while the rest is still on its way.

A file is written into the store's temporary folder, hashed as it arrives, so storing it is a
rename (core.storage.Spool); one the request does not store is deleted when it is closed. The
body is read from the server 1 MiB at a time: a server that reads ahead (gunicorn reads up to
1 MiB per recv) would otherwise copy what it holds on every 64 KiB read.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from flask import Request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from core.batches import Created
from core.receiving import Receiver
from core.storage import Spool, Storage

READ_SIZE = 1 << 20  # the body is read from the server 1 MiB at a time
# ... and decoded 64 KiB at a time, as Werkzeug's own parser does: the decoder refuses a piece
# larger than the form's memory limit (MAX_FORM_MEMORY_SIZE, 500 kB by default).
DECODE_SIZE = 64 << 10


@dataclass
class FormField:
    name: str
    value: str


@dataclass
class FormFile:
    """A complete file part; its spool is the caller's to store or close."""

    name: str
    filename: str | None
    spool: Spool


def parts(request: Request, storage: Storage) -> Iterator[FormField | FormFile]:
    """The parts of a multipart/form-data request, in order, each as soon as it is complete.
    Raises BadRequest for a body that is not such a form (ClientDisconnected when it ends
    early) and RequestEntityTooLarge past the request's form limits."""
    boundary = request.mimetype_params.get("boundary", "")
    if request.mimetype != "multipart/form-data" or not boundary:
        raise BadRequest("send the files as multipart/form-data (a form with one or more 'files')")
    decoder = MultipartDecoder(boundary.encode("latin-1"), request.max_form_memory_size,
                               max_parts=request.max_form_parts)
    stream: IO[bytes] = request.stream
    if isinstance(stream, io.RawIOBase):  # werkzeug's LimitedStream over the WSGI input
        stream = io.BufferedReader(stream, buffer_size=READ_SIZE)
    # read1: what has arrived, up to DECODE_SIZE (read would wait for all of it, and so hold
    # back a file that is complete)
    read = getattr(stream, "read1", stream.read)
    part: Field | File | None = None
    text: list[bytes] = []
    spool: Spool | None = None
    try:
        while True:
            data = read(DECODE_SIZE)
            try:
                decoder.receive_data(data or None)
                event = decoder.next_event()
                while not isinstance(event, (NeedData, Epilogue)):
                    if isinstance(event, (Field, File)):
                        part, text = event, []
                        if isinstance(event, File):
                            spool = storage.spool()
                    elif isinstance(event, Data):
                        if isinstance(part, File) and spool is not None:
                            spool.write(event.data)
                        else:
                            text.append(event.data)
                            if (request.max_form_memory_size is not None
                                    and sum(map(len, text)) > request.max_form_memory_size):
                                raise RequestEntityTooLarge()
                        if not event.more_data:
                            if isinstance(part, File) and spool is not None:
                                spool.seek(0)
                                done, spool = FormFile(part.name, part.filename, spool), None
                                yield done
                            elif part is not None:
                                yield FormField(part.name, b"".join(text).decode("utf-8", "replace"))
                    event = decoder.next_event()
            except ValueError as exc:  # the decoder's word for a malformed body
                raise BadRequest(f"the multipart body is malformed ({exc})") from None
            if isinstance(event, Epilogue) or not data:
                if not isinstance(event, Epilogue):
                    raise BadRequest("the multipart body ended before its closing boundary")
                return
    finally:
        if spool is not None:
            spool.close()  # a file cut off half way: deleted


def receive(request: Request, receiver: Receiver) -> Created:
    """Feed an upload's parts to `receiver` as they arrive: files named 'files' are stored and
    queued, other files are dropped, form fields may set the batch's options."""
    for part in parts(request, receiver.storage):
        if isinstance(part, FormFile):
            with part.spool:
                if part.name == "files":
                    receiver.file(part.filename, part.spool)
        else:
            receiver.option(part.name, part.value)
    return receiver.finish()
