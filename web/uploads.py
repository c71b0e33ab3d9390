"""Uploads read part by part as they arrive, each file straight into the store of originals.

Werkzeug's form parsing reads the whole body before the handler runs, so reading began only
after the last byte of an upload. Here the body is decoded as it is read (`parts`): every
form field and every file is handed to the caller the moment its last byte has arrived, and
the caller (core.receiving) queues the file's documents while the rest is still on its way.

A file is written into the store's temporary folder, hashed as it arrives, so storing it is a
rename (core.storage.Spool); one the request does not store is deleted when it is closed. The
body is read from the server up to 1 MiB at a time, and decoded 64 KiB at a time: asked for
64 KiB, gunicorn copies all it holds (up to 1 MiB) on every read, which took half the web's
CPU time of a large upload. gunicorn answers a read once it has the size asked for or the body
has ended, so a file is handed over once the 1 MiB after its last byte has arrived (at once,
from a client that sends without pausing).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from flask import Request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from core.batches import Created
from core.receiving import Receiver
from core.storage import Spool, Storage

READ_SIZE = 1 << 20  # the body is read from the server up to 1 MiB at a time
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
    state = _State(storage, request.max_form_memory_size)
    try:
        while True:
            # One read from the server: what has arrived, up to READ_SIZE (werkzeug's stream
            # makes one read per call); decoded DECODE_SIZE at a time.
            received = request.stream.read(READ_SIZE)
            pieces = [received[i : i + DECODE_SIZE] for i in range(0, len(received), DECODE_SIZE)]
            for piece in pieces or [None]:
                try:
                    decoder.receive_data(piece)
                    event = decoder.next_event()
                    while not isinstance(event, (NeedData, Epilogue)):
                        done = state.take(event)
                        if done is not None:
                            yield done
                        event = decoder.next_event()
                except ValueError as exc:  # the decoder's word for a malformed body
                    raise BadRequest(f"the multipart body is malformed ({exc})") from None
                if isinstance(event, Epilogue):
                    return
            if not received:
                raise BadRequest("the multipart body ended before its closing boundary")
    finally:
        if state.spool is not None:
            state.spool.close()  # a file cut off half way: deleted


class _State:
    """The part being received: a form field's text so far, or a file's spool."""

    def __init__(self, storage: Storage, max_field_bytes: int | None) -> None:
        self.storage, self.max_field_bytes = storage, max_field_bytes
        self.part: Field | File | None = None
        self.text: list[bytes] = []
        self.spool: Spool | None = None

    def take(self, event: object) -> FormField | FormFile | None:
        """Take one decoder event; a part when this event completed it."""
        if isinstance(event, (Field, File)):
            self.part, self.text = event, []
            self.spool = self.storage.spool() if isinstance(event, File) else None
            return None
        if not isinstance(event, Data) or self.part is None:
            return None
        if self.spool is not None:
            self.spool.write(event.data)
        else:
            self.text.append(event.data)
            if self.max_field_bytes is not None and sum(map(len, self.text)) > self.max_field_bytes:
                raise RequestEntityTooLarge()
        if event.more_data:
            return None
        if self.spool is not None:
            self.spool.seek(0)
            done: FormField | FormFile = FormFile(self.part.name, self.part.filename, self.spool)
            self.spool = None
            return done
        return FormField(self.part.name, b"".join(self.text).decode("utf-8", "replace"))


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
