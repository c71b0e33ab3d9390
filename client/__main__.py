"""`python -m client`: upload scans to a Digits service, wait for them, export the results.

Exit status: 0 every batch done; 1 a batch partial or failed, or a file not sent or refused;
2 a usage error, or the service unreachable or refusing the request (401, …): the message
names the URL and the problem.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from client import files
from client.api import Client, UploadResult
from client.http import ClientError, HttpError
from client.progress import Progress

EXIT_DONE = 0  # every batch done (without --wait: every file accepted)
EXIT_INCOMPLETE = 1  # a batch partial or failed, or a file skipped or refused
EXIT_ERROR = 2  # usage error, service unreachable, or the request refused (401, 403, 5xx, …)
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT
URL_VARIABLE = "DIGITS_URL"  # the service's URL when --url is not given
DEFAULT_URL = "http://127.0.0.1:8000"  # `make run`'s address
TOKEN_VARIABLE = "API_TOKEN"  # the service's token, sent as Authorization: Bearer
LAYOUTS = ("page", "field")  # the upload's layouts (DESIGN.md, POST /api/batches)
EXIT_HELP = ("exit status: 0 every batch done (without --wait: every file accepted); 1 a batch partial or\n"
             "failed, or a file not sent or refused; 2 usage error, or the service unreachable or refusing")
PARTIAL_SUFFIX = ".part"  # an export is written under this name until it is complete
UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}  # --max-batch-bytes suffixes, binary


def size(text: str) -> int:
    """A byte count, optionally with a binary suffix: 1048576, 1024k, 1M, 1MiB."""
    found = re.fullmatch(r"\s*(\d+)\s*([kmg]?)(?:i?b)?\s*", text.lower())
    if not found or int(found.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size in bytes (e.g. 268435456, 256M)")
    return int(found.group(1)) * UNITS[found.group(2)]


def threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number within 0..1")
    return value


def positive(text: str) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=os.environ.get(URL_VARIABLE) or DEFAULT_URL,
                        help=f"the service (default: ${URL_VARIABLE}, else {DEFAULT_URL}); "
                             f"the token is taken from ${TOKEN_VARIABLE}")
    common.add_argument("--wait", action="store_true", help="wait until every batch is finished")
    common.add_argument("--csv", metavar="OUT.csv",
                        help="write every batch's fields as one CSV (implies --wait)")
    common.add_argument("--json", metavar="OUT.json",
                        help="write a list of the batches' statuses with their fields (implies --wait)")
    common.add_argument("--quiet", "-q", action="store_true", help="no progress, only notes and errors")
    common.add_argument("--timeout", type=float, default=60.0, metavar="S",
                        help="seconds a network read or write may wait (default 60)")
    top = argparse.ArgumentParser(prog="python -m client", description="Upload scans to a Digits service, "
                                  "wait for them, export the results.", epilog=EXIT_HELP,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    upload = commands.add_parser("upload", parents=[common], help="send files and folders as batches",
                                 epilog=EXIT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 description="Send files and folders (walked recursively; only PNG, JPEG,\n"
                                             "TIFF, PDF and ZIP files are taken from folders) in as many\n"
                                             "batches as the upload limits need.")
    upload.add_argument("paths", nargs="+", metavar="FILE_OR_DIR")
    upload.add_argument("--template", help="the form template every page follows")
    upload.add_argument("--layout", choices=LAYOUTS, help="page (find the fields; the default) or field "
                                                          "(each image is one whole field)")
    upload.add_argument("--threshold", type=threshold, metavar="X",
                        help="review threshold within 0..1 (default: the service's)")
    upload.add_argument("--callback-url", metavar="URL", help="where the service POSTs when a batch ends")
    upload.add_argument("--max-batch-bytes", type=size, default=files.DEFAULT_MAX_BATCH_BYTES, metavar="N",
                        help="largest request (default 256M: the service's default MAX_UPLOAD_BYTES)")
    upload.add_argument("--max-batch-files", type=positive, default=files.DEFAULT_MAX_BATCH_FILES,
                        metavar="N", help="files per batch, ZIPs opened (default 1000: MAX_FILES_PER_BATCH)")
    status = commands.add_parser("status", parents=[common], help="show (or wait for, or export) batches",
                                 epilog=EXIT_HELP + "\n(status: 0 when every batch is done, 1 otherwise)",
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    status.add_argument("ids", nargs="+", metavar="BATCH_ID")
    return top


def describe(status: dict) -> str:
    """One line on a batch for people: state, documents, fields."""
    docs, fields = status["documents"], status["fields"]
    return (f"batch {status['id']}: {status['status']}, {docs['done']}/{docs['total']} document(s) read"
            + (f", {docs['failed']} failed" if docs["failed"] else "")
            + f", {fields['total']} field(s), {fields['needs_review']} to review")


def finish(client: Client, ids: list[str], args: argparse.Namespace, progress: Progress,
           problems: list[str], waited: bool) -> int:
    """Show the batches (waiting for them when `waited`), export them when asked; the exit
    status for these batches and the problems so far."""
    statuses = (client.wait(ids, progress) if waited else [client.status(i) for i in ids]) if ids else []
    for status in statuses:
        progress.note(describe(status))
        for error in status.get("errors", []):
            progress.note(f"  {error['error']}")
        print(f"{status['id']} {status['status']}")
    if args.csv and ids:
        with written(args.csv) as out:
            client.export_csv(ids, out)
    if args.json and ids:
        exported = client.export_json(ids)
        with written(args.json) as out:
            out.write(json.dumps(exported, indent=2, ensure_ascii=False).encode("utf-8") + b"\n")
    if (args.csv or args.json) and not ids:
        progress.note("no batch was made: nothing exported")
    complete = bool(statuses) and all(s["status"] == "done" for s in statuses)
    return EXIT_DONE if complete and not problems else EXIT_INCOMPLETE


@contextmanager
def written(path: str) -> Iterator[BinaryIO]:
    """A file written whole or not at all: into PATH.part, renamed to PATH once complete (an
    export cut off half way leaves no CSV that looks finished)."""
    partial = Path(path + PARTIAL_SUFFIX)
    try:
        with partial.open("wb") as out:
            yield out
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def outputs_writable(args: argparse.Namespace) -> str | None:
    """Why --csv or --json cannot be written, found before anything is sent (None: they can)."""
    for option, path in (("--csv", args.csv), ("--json", args.json)):
        if path and not Path(path).resolve().parent.is_dir():
            return f"{option} {path}: no such folder"
        if path and Path(path).is_dir():
            return f"{option} {path}: is a folder"
    return None


def waits(args: argparse.Namespace) -> bool:
    """--csv and --json wait: they export finished batches."""
    return bool(args.wait or args.csv or args.json)


def upload(client: Client, args: argparse.Namespace, progress: Progress) -> int:
    known = client.templates()  # before any byte is sent: the service answers, and takes the token
    if args.template and args.template not in known:
        progress.note(f"{client.base_url}: no form template {args.template!r} "
                      f"(the service has: {', '.join(known) or 'none'})")
        return EXIT_ERROR
    try:
        sent: UploadResult = client.upload(args.paths, args.template, args.layout, args.threshold,
                                           args.callback_url, progress)
    except FileNotFoundError as exc:
        progress.note(str(exc.args[0] if exc.args else exc))
        return EXIT_ERROR
    if not sent.created and not sent.problems:
        progress.note("nothing to send: no PNG, JPEG, TIFF, PDF or ZIP file in " + ", ".join(args.paths))
        return EXIT_ERROR
    problems = list(sent.problems)
    if waits(args):
        return finish(client, sent.ids, args, progress, problems, waited=True)
    for answer in sent.created:  # files refused at upload (with --wait: in the batch's errors)
        for error in answer.get("errors", []):
            progress.note(f"  {error['error']}")
            problems.append(error["error"])
        print(f"{answer['id']} {answer['status']}")
    return EXIT_INCOMPLETE if problems else EXIT_DONE


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)  # exits with 2 on a usage error
    progress = Progress(quiet=args.quiet)
    unwritable = outputs_writable(args)
    if unwritable:
        progress.note(unwritable)
        return EXIT_ERROR
    try:
        client = Client(args.url, os.environ.get(TOKEN_VARIABLE) or None, args.timeout,
                        getattr(args, "max_batch_bytes", files.DEFAULT_MAX_BATCH_BYTES),
                        getattr(args, "max_batch_files", files.DEFAULT_MAX_BATCH_FILES))
    except ValueError as exc:
        progress.note(f"--url: {exc}")
        return EXIT_ERROR
    try:
        if args.command == "upload":
            return upload(client, args, progress)
        return finish(client, list(args.ids), args, progress, [], waited=waits(args))
    except HttpError as exc:
        hint = f" (set {TOKEN_VARIABLE} to the service's token)" if exc.status == 401 else ""
        progress.note(f"{exc}{hint}")
        return EXIT_ERROR
    except ClientError as exc:
        progress.note(str(exc))
        return EXIT_ERROR
    except OSError as exc:  # a file that cannot be read, or an output that cannot be written
        progress.note(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))
        return EXIT_ERROR
    except KeyboardInterrupt:
        progress.note("interrupted")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
