"""Improve from corrections: `python -m worker.improve` (also a Celery task, and POST /api/models/improve).

Each reader that can learn is trained further on the fields people reviewed (the values they
typed or confirmed): the string readers (CRNN) on the fields as the line readers are shown them
(field images whole; a page's open boxes as its segmentation cuts them, each to the CRNN that
reads its kind), mixed with synthetic fields by the training writers; the glyph classifier on
the reviewed fields' glyphs, mixed with MNIST's training digits, once there are MIN_GLYPHS of
them. Both so that a back office's hands are learnt without forgetting the others. Every
candidate starts from the shipped readers and all the corrections there are, so candidates do
not drift on each other. It is judged against the readers in use (worker.judging: held-out
reviewed fields, regression sets, MNIST's test set), registered with that comparison
(core.models_registry), and promoted only if better. PP-OCR's recogniser cannot be trained here
(it comes as an ONNX file in its wheel).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core import improve_runs as runs
from core import models_registry as registry
from core.db import session_scope
from core.settings import Settings
from worker import judging
from worker.export_corrections import Reviewed, reviewed_fields
from worker.export_corrections import export as export_glyphs
from worker.recognition import Reader, has_page_crnn, reader_of, version_page_lines

log = logging.getLogger(__name__)
HELD_OUT_EVERY = 4  # one reviewed field in four is kept out of training, to judge the candidate
# Fewer corrections than this cannot tell a better reader from a worse one (held out: 10).
MIN_TRAINING_FIELDS = 30
MIN_HELD_OUT = 10
# Training mix and schedule, from the trial on ORAND-CAR-A's first 300 fields (2026-12-02): 4000
# synthetic fields and each reviewed field 8 times an epoch, 3 epochs at 2e-4 took the CRNN
# alone from 78.75% to 83.75% on the other 160 in 2 minutes on 2 cores.
SYNTHETIC_FIELDS = 4000
REPEAT = 8
EPOCHS = 3
LEARNING_RATE = 2e-4
REGRESSION_FIELDS = 300
REGRESSION_PAGES = 20  # generated pages (some 250 fields) for the glyph classifier
# The glyph classifier is trained further only with this many reviewed glyphs (fewer teach it
# nothing MNIST's 60,000 do not), for GLYPH_EPOCHS over MNIST's training digits and them.
MIN_GLYPHS = 200
GLYPH_EPOCHS = 1
GLYPH_LEARNING_RATE = 2e-4

Progress = Callable[[str], None]


class NotEnough(ValueError):
    """Too few reviewed fields to train and judge a candidate."""


@dataclass(frozen=True)
class Options:
    synthetic: int = SYNTHETIC_FIELDS
    repeat: int = REPEAT
    epochs: int = EPOCHS
    learning_rate: float = LEARNING_RATE
    regression: int = REGRESSION_FIELDS
    regression_pages: int = REGRESSION_PAGES
    min_glyphs: int = MIN_GLYPHS
    glyph_limit: int | None = None  # MNIST training digits used (None: all; tests: a few)
    min_training: int = MIN_TRAINING_FIELDS
    min_held_out: int = MIN_HELD_OUT
    seed: int = 1
    promote: bool = True  # False: register the candidate only


@dataclass(frozen=True)
class Outcome:
    version_id: int
    promoted: bool
    metrics: dict


def split(fields: list[Reviewed]) -> tuple[list[Reviewed], list[Reviewed]]:
    """(training, held out): by field id, so a field stays on its side as corrections grow."""
    held = [f for f in fields if f.field_id % HELD_OUT_EVERY == 0]
    return [f for f in fields if f.field_id % HELD_OUT_EVERY != 0], held


def train_glyphs(settings: Settings, training: list[Reviewed], options: Options, folder: Path,
                 progress: Progress) -> Path | None:
    """The shipped glyph classifier trained further on MNIST and the glyphs of the reviewed
    fields of pages; None when there are too few of them. Returns its ONNX file."""
    from models import train
    from models.export_onnx import export
    from models.inference import WEIGHTS

    on_pages = [f.field_id for f in training if f.kind != "field"]
    glyphs, labels, counts = export_glyphs(settings, field_ids=on_pages)
    if len(labels) < options.min_glyphs:
        progress(f"{len(labels)} reviewed glyphs (of {counts['used']} fields): too few to train the "
                 f"glyph classifier on (at least {options.min_glyphs}); it is kept")
        return None
    extra = folder / "glyphs.npz"
    np.savez_compressed(extra, glyphs=glyphs, labels=labels)
    start = settings.model_path.with_suffix(".keras")
    start = start if start.is_file() else WEIGHTS / "digits.keras"
    progress(f"training the glyph classifier on MNIST and {len(labels)} reviewed glyphs")
    argv = ["--init-from", str(start), "--extra", str(extra), "--epochs", str(GLYPH_EPOCHS),
            "--learning-rate", str(GLYPH_LEARNING_RATE), "--pipeline-pages", "0",
            "--output", str(folder / "digits.keras"), "--results-dir", str(folder / "results"),
            "--mnist-dir", str(settings.mnist_dir), "--seed", str(options.seed)]
    if options.glyph_limit:
        argv += ["--limit", str(options.glyph_limit), "--validation-size", str(options.glyph_limit // 5),
                 "--test-limit", str(options.glyph_limit // 2)]
    train.main(argv)
    return export(folder / "digits.keras", folder / "digits.onnx")


def page_lines(settings: Settings, fields: Sequence[Reviewed]) -> list[tuple[np.ndarray, str]]:
    """What the line readers are shown of each reviewed field of a page, with its value: its page
    segmented again, turned as the service read it (a page on its side), and the field found
    there, its box lines erased (a comb cut to its written cells), as in service; a field not
    found again is left out."""
    from core.files import Limits, page
    from core.processing import KINDS
    from core.storage import Storage
    from segmentation.pipeline import segment_fields, turn_page, unturn_box
    from segmentation.structure import iou

    limits, storage = Limits.of(settings), Storage(settings.originals_dir)
    by_page: dict[tuple[tuple[str, str, int], int], list[Reviewed]] = {}
    for f in fields:
        by_page.setdefault((f.page, f.rotation), []).append(f)
    out = []
    for ((sha256, media_type, number), rotation), group in by_page.items():
        try:
            pixels = page(storage.path(sha256), KINDS[media_type], number, limits)
            height, width = pixels.shape[:2]
            found, _, _, _ = segment_fields(turn_page(pixels, rotation))  # as the service read it
        except Exception:  # noqa: BLE001 - an original gone or unreadable: its fields are left out
            continue
        boxes = [unturn_box(c.page_box, rotation, width, height) for c in found]
        for f in group:
            best = max(range(len(found)), key=lambda i: iou(boxes[i], f.box), default=None)
            if best is not None and iou(boxes[best], f.box) >= judging.MATCH_IOU:
                out.append((found[best].line_image()[0], f.value))
    return out


def _keras_of(onnx_path: Path, shipped: Path) -> Path:
    """The Keras file a reader was exported from (beside it), else the shipped one."""
    keras_path = onnx_path.with_suffix(".keras")
    return keras_path if keras_path.is_file() else shipped


def train_candidate(settings: Settings, training: list[Reviewed], options: Options, folder: Path,
                    progress: Progress) -> dict[str, Path]:
    """Each string reader trained further on the reviewed fields it reads, shown them as the
    service shows them; role -> ONNX file of each reader trained. With a CRNN of its own for a
    page's fields (PAGE_STRINGS_MODEL_PATH), field images train the field images' CRNN
    ("strings") and a page's open boxes that one ("strings_pages"); else one CRNN learns both.
    A reader with no reviewed field of its own is not trained (the candidate keeps it)."""
    from core.files import grey_of
    from models.export_onnx import export
    from models.strings_reader import DEFAULT_STRINGS_KERAS_PATH
    from models.train_strings import fine_tune, generate
    from reading.lines import line_input
    from segmentation.fieldread import as_read

    def shown(image: np.ndarray) -> np.ndarray:
        return (line_input(image) * 255).astype(np.uint8)

    images = [(shown(as_read(grey_of(f.image))), f.value) for f in training if f.kind == "field"]
    boxes = [(shown(image), value) for image, value in
             page_lines(settings, [f for f in training if f.kind == "box"])]
    start = _keras_of(settings.strings_model_path, DEFAULT_STRINGS_KERAS_PATH)
    if has_page_crnn(settings):
        plan = {"strings": (start, images),
                "strings_pages": (_keras_of(settings.page_strings_model_path, start), boxes)}
    else:
        plan = {"strings": (start, images + boxes)}
    plan = {role: job for role, job in plan.items() if job[1]}
    if not plan:
        return {}
    progress(f"making {options.synthetic} synthetic fields by the training writers")
    # In this process: forking one that has TensorFlow loaded (a second run) can hang.
    synthetic = generate(options.synthetic, options.seed, "train", 1, settings.mnist_dir)
    out = {}
    for role, (init, fields) in plan.items():
        progress(f"training {role} on {len(fields)} reviewed fields "
                 f"(each {options.repeat}× an epoch) and {len(synthetic)} synthetic ones")
        model = fine_tune(init, fields, synthetic, options.epochs, options.repeat,
                          options.learning_rate, seed=options.seed,
                          progress=lambda e, n, loss: progress(f"epoch {e}/{n}: loss {loss:.3f}"))
        keras_path = folder / f"{role}.keras"
        model.save(keras_path)
        out[role] = export(keras_path, folder / f"{role}.onnx")
    return out


def improve(settings: Settings, options: Options = Options(), progress: Progress = log.info) -> Outcome:
    """Train a candidate from the reviewed fields, judge it against the readers in use, register
    it with the comparison, and promote it if it is better."""
    if settings.mnist_dir is None:
        raise NotEnough("MNIST_DIR is needed: MNIST keeps the training mix and the comparison honest")
    started = time.time()
    progress("collecting the reviewed fields")
    training, held = split(reviewed_fields(settings))
    if len(training) < options.min_training or len(held) < options.min_held_out:
        raise NotEnough(f"{len(training)} reviewed fields to train on and {len(held)} held out; "
                        f"at least {options.min_training} and {options.min_held_out} are needed")
    with session_scope(settings) as session:
        active = registry.active_files(session, settings)
    current = reader_of(settings, active)
    with tempfile.TemporaryDirectory(prefix="improve-") as tmp:
        strings = train_candidate(settings, training, options, Path(tmp), progress)
        digits = train_glyphs(settings, training, options, Path(tmp), progress)
        if not strings and not digits:
            raise NotEnough("none of the reviewed fields can teach a reader: the string readers "
                            "learn from field images and open boxes, the glyph classifier from "
                            f"at least {options.min_glyphs} glyphs of a page's fields")
        combination = (active.path("combination") if active else None) or settings.combination_path
        files: dict[str, Path] = {"combination": Path(combination)}
        for role in ("digits", "strings", "strings_pages"):  # trained now, or the active version's
            kept = digits if role == "digits" else strings.get(role)
            if role == "strings_pages" and "strings" in strings and not has_page_crnn(settings):
                break  # one CRNN learnt a page's boxes too: it reads them, not an older page CRNN
            kept = kept or (active.path(role) if active else None)
            if kept:
                files[role] = Path(kept)
        candidate = _reader(settings, current, files)
        progress(f"judging the candidate on {len(held)} held-out reviewed fields, "
                 f"{options.regression} regression fields, {options.regression_pages} regression "
                 "pages and MNIST's test set")
        metrics = judging.compare(settings, current, candidate, held, options.regression,
                                  options.regression_pages)
        metrics.update(trained_on=len(training), glyph_classifier_trained=digits is not None,
                       seconds=round(time.time() - started, 1), readers_before=current.version)
        better = judging.promotable(metrics)
        metrics["decision"] = "promoted" if better and options.promote else (
            "better, not promoted (asked not to)" if better else "refused: not better")
        with session_scope(settings) as session:
            version = registry.register(session, settings, files, note="trained on reviewed fields",
                                        metrics=metrics)
            if better and options.promote:
                registry.promote(session, version.id)
            version_id = version.id
    progress(f"candidate {version_id}: {metrics['decision']}")
    return Outcome(version_id, better and options.promote, metrics)


def _reader(settings: Settings, current: Reader, files: dict[str, Path]) -> Reader:
    """The candidate's readers: its files by role (the new string readers, the glyph classifier),
    the rest as now."""
    from models.inference import Recognizer
    from models.strings_reader import CrnnReader
    from worker.recognition import load_calibration

    def with_crnn(readers: tuple, path: Path | None) -> list:  # type: ignore[type-arg]
        return [CrnnReader(path) if path and r.name == "crnn" else r for r in readers]

    lines = with_crnn(current.lines, files.get("strings"))
    page_lines = version_page_lines(settings, lines, files.get("strings"), files.get("strings_pages"))
    recognizer = Recognizer(files["digits"]) if "digits" in files else current.recognizer
    return Reader(recognizer, lines, load_calibration(files["combination"]), settings.max_page_pixels,
                  page_lines=page_lines)


def run_recorded(settings: Settings, options: Options = Options()) -> dict:
    """`improve`, one run at a time (runs.Busy otherwise), its progress and outcome recorded
    for GET /api/models/improve."""
    with runs.exclusive(settings):
        state: dict = {"state": "running", "started_at": time.time(), "log": []}

        def progress(line: str) -> None:
            log.info("improve: %s", line)
            state["log"] = [*state["log"], line][-runs.LOG_LINES:]
            runs.record(settings, state)

        runs.record(settings, state)
        try:
            outcome = improve(settings, options, progress)
        except Exception as exc:  # noqa: BLE001 - recorded for the API, then raised for the log
            state.update(state="failed", error=f"{type(exc).__name__}: {exc}", finished_at=time.time())
            runs.record(settings, state)
            raise
        state.update(state="done", finished_at=time.time(), version=outcome.version_id,
                     promoted=outcome.promoted, metrics=outcome.metrics)
        runs.record(settings, state)
        return state


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worker.improve", description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--synthetic", type=int, default=SYNTHETIC_FIELDS)
    parser.add_argument("--no-promote", action="store_true", help="register the candidate only")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    try:
        done = run_recorded(Settings.from_env(), Options(synthetic=args.synthetic, epochs=args.epochs,
                                                         promote=not args.no_promote))
    except (NotEnough, runs.Busy) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(done["metrics"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
