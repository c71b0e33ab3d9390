"""Reading the fields segmentation found: every glyph classified in one batch, touching digits
split by recognition, unsure digits read again; open boxes and fields with no drawn box also
read whole by the line readers; every reader's opinion of a field decided (`vote`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from reading import ctc
from reading.combine import Calibrations, CtcOpinion, LineReader, LineReaders, Opinion
from reading.rules import Rule
from segmentation import cut, ruled, split, strike, vote
from segmentation.cutfield import CutField
from segmentation.fields import cut_to_ink, field_structure, smoothed_if_bilevel, without_box_lines
from segmentation.results import Box, DigitResult, FieldResult
from segmentation.split import Classify
from segmentation.structure import Structure

NOT_A_DIGIT = 10
MAX_ALTERNATIVES = 3
# A field with no ink: read as empty. A faint digit lost to speck removal would make this
# wrong, which the evaluation has not seen; kept just under 1 so that it never outranks a
# certain reading.
EMPTY_FIELD_CONFIDENCE = 0.995
# ... but only when the field holds no more ink than this share of its inside (its lines
# erased, cut.WEAK_INK): on 120 pages of both eval styles, truly empty fields held at most
# 0.06%; three to five lines of small, thin handwriting in a box, 1.8-2.8%, every mark of
# it dropped as a speck (a NIST form's paragraph box had been reported empty at 0.995). The
# same holds where WRITING_MARKS marks or more were kept but none is as tall as a digit, none
# read as one (two lines of writing in a tall box, 3.4%, had been read as empty at 0.969);
# fewer marks are a dash or a blot in an empty field (a dash in a small box: 0.6%), trusted.
EMPTY_INK_SHARE = 0.005
WRITING_MARKS = 3  # ink components that make writing rather than a dash or a blot (above)
# Digits read less surely than this are read again, shifted a pixel each way (_reread_unsure).
# Measured on the eval pages (seeds 20261124 and 99): at 0.9, comb fields 96.45% -> 96.92% and
# 96.06% -> 96.31% right; 0.97 reads the same values and ranks the confidences better (89.2%
# -> 91.8% and 85.9% -> 86.5% of fields acceptable at <=0.5% errors), for ~4 more glyphs a page.
# Also tried, no better: diagonal shifts, ±10% scaling; and, judged on seeds 99 and 5 only,
# 2-pixel shifts, a thicker and a thinner pen, a blurred copy.
REREAD_BELOW = 0.97
REREAD_SHIFTS = ((0, 1), (0, -1), (1, 0), (-1, 0))
# Ink as tall as a digit (this share of the field's tallest piece, and of the box's inside
# height: a lone dot or dash in an empty box is no digit-sized ink) that the recogniser calls
# no digit is left out of the value, but the field is then right at most this often, whatever
# the recogniser's confidence: on the eval pages of seeds 20261124, 99 and 5, all 10 fields
# that left such a piece out were wrong (two digits run together and read as a blot; a digit
# with a stroke missing; pieces 0.51-0.73 of the inside height), two of them with confidences
# over 0.95. So they go to review.
DIGIT_SIZED = 0.5
DIGIT_OF_BOX = 0.4
UNREAD_INK_CONFIDENCE = vote.UNREAD_INK_CONFIDENCE
# An open box on a page whose cut reading is at least this sure is not read again whole by the
# line readers (fields with no drawn box always are: there the cut reading is weak). On 60
# pages of each eval style not used by `make eval` (seeds 7 and 8), line readers on every
# open box: ours 97.70% of fields exact and 86.5% straight through at <= 0.5% error, hard
# 90.05% / 31.7%; only on boxes read less surely than 0.95: 97.83% / 91.2% and 90.18% /
# 40.5%, reading 11% and 26% of the open boxes whole (PP-OCR and the CRNN had tripled a
# page's reading time). Bars of 0.9-0.99 did about as well; 0.999 and up tended to "all".
LINES_BELOW = 0.95
# Comb fields are read whole on the same terms, their dividers erased and the image cut to its
# ink (`fields.ink_extent`), when the calibration has a fit for combs (`Calibrations.fitted`:
# the glyph classifier alone is strong on combs, so the readers' votes are weighed only where
# fitted). On 60 hard-style pages by the test writers of seeds 7 and 8 (not `make eval`'s),
# fitted on one seed and read on the other: comb fields 84.7% -> 87.7% and 84.4% -> 89.1%
# exact; our own style 94.3% -> 95.1%. Cut to their ink the CRNN read 76% of hard combs
# alone, 66% read at the comb's whole width (its empty cells a long blank).
COMBS_BELOW = LINES_BELOW
# On a page where a line reader read words in a field (letter boxes: a name, a city), every
# box or comb the cut reading is sure of, holding at least this many glyphs, is also shown to a
# line reader that knows letters (PP-OCR's `are_words`): letters shaped like digits cut into
# glyphs the classifier is sure of ("Oslo" in a box read 0510 at 0.991, "ZOO" in a comb 200
# at 0.992: 9 of 60 word fields on drawn pages came out sure). A field that is words is then
# read whole, and words cap its confidence (`vote.settle`). Only on such pages: on every page
# it cost 60-90 ms a page (reading 1.6-1.9x the time of the code of 2026-11-25, where issue 12
# allows 1.5x). Two: `models.ppocr.WORD_LETTERS`, the fewest letters that make words.
WORD_CHECK_GLYPHS = 2


def undrawn_field(image: np.ndarray, box: Box) -> CutField:
    """The region `box` of the page (or the whole image) read as a field with no drawn box:
    what is read is the region as `as_read` shows it (a box's lines erased, cut to its ink, a
    bilevel one smoothed); the field's box stays the region."""
    x, y, w, h = box
    crop, x, y = _shown(image[y : y + h, x : x + w], x, y)
    s = field_structure(crop, (x, y))
    return CutField(s, cut.box_pieces(s), image=crop, box=box)


def as_read(image: np.ndarray) -> np.ndarray:
    """A field with no drawn box as its readers are shown it: cut to its ink with
    `fields.INK_MARGIN` around (`undrawn_field`), so that how loosely a capture step framed it
    does not change its reading. Measured on 2026-12-07 (`make eval-real`'s loose rows): real
    cheque amounts with paper of their own grey added around them (0.25 and 0.5 of their height
    above and below, twice that beside) had read 86.3% and 70.9% exactly against 90.0% as
    cropped, held-out writers' numbers framed loosely (`synth.strings.LOOSE_FRAMING`) 71.0%
    against 88.2%; cut to their ink, 89.8% both and 82.3%, and as cropped 89.8% and 88.5%.
    A box's lines left in it are erased first (`without_box_lines`), and a bilevel
    image is smoothed (`smoothed_if_bilevel`)."""
    return _shown(image, 0, 0)[0]


def _shown(image: np.ndarray, x: int, y: int) -> tuple[np.ndarray, int, int]:
    """`as_read` of an image lying at (x, y) on its page, and where what is shown lies."""
    crop, x, y = cut_to_ink(without_box_lines(image), x, y, EMPTY_INK_SHARE)
    return smoothed_if_bilevel(crop), x, y


def _glyphs(pieces: list[cut.Piece]) -> np.ndarray:
    if not pieces:
        return np.zeros((0, 28, 28), np.float32)
    return np.stack([p.glyph() for p in pieces])


def _best_digit(probabilities: np.ndarray) -> float:
    return float(probabilities[:10].max())


def _resolve_touching(fields: list[CutField], classify: Classify, probs: dict[int, np.ndarray]) -> None:
    """Split open-box glyphs that may be several digits, keeping the reading the recogniser
    likes best; record how sure that choice is."""
    boxes = [f for f in fields if f.structure.kind == "box"]
    pieces = [p for f in boxes for p in f.pieces]
    if not pieces:
        return
    chosen = iter(split.read_best(pieces, classify, probs))
    for f in boxes:
        parts: list[cut.Piece] = []
        for _ in f.pieces:
            reading, certainty = next(chosen)
            parts.extend(reading)
            f.split = f.split or len(reading) > 1
            f.segmentation_confidence *= certainty
        f.pieces = parts


def _shifted(glyphs: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """The glyphs moved by (dy, dx) pixels, paper coming in at the edge."""
    out = np.zeros_like(glyphs)
    h, w = glyphs.shape[1:]
    out[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = \
        glyphs[:, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)]
    return out


def _reread_unsure(fields: list[CutField], classify: Classify, probs: dict[int, np.ndarray]) -> None:
    """Digits the recogniser is unsure of are read again moved by a pixel each way, and the
    readings averaged (test-time augmentation): centring by centre of mass puts a glyph on a
    whole pixel, and a hesitant reading often hangs on that pixel. Only the final digits are
    reread, and only the unsure ones: a few per page."""
    pieces = [p for f in fields for p in f.pieces if _best_digit(probs[id(p)]) < REREAD_BELOW]
    if not pieces:
        return
    glyphs = _glyphs(pieces)
    views = [_shifted(glyphs, dy, dx) for dy, dx in REREAD_SHIFTS]
    moved = np.asarray(classify(np.concatenate(views)), np.float64).reshape(len(views), len(pieces), -1)
    for i, piece in enumerate(pieces):
        probs[id(piece)] = (probs[id(piece)] + moved[:, i].sum(axis=0)) / (1 + len(views))


def _digit(piece: cut.Piece, probabilities: np.ndarray, structure: Structure,
           glyph: np.ndarray) -> DigitResult:
    order = np.argsort(-probabilities)
    digit = int(np.argmax(probabilities[:10]))
    alternatives = tuple(("?" if k == NOT_A_DIGIT else str(k), float(probabilities[k]))
                         for k in order if k != digit)[:MAX_ALTERNATIVES]
    box = structure.frame.box_to_page(piece.x0, piece.y0, piece.x1, piece.y1)
    return DigitResult(str(digit), float(probabilities[digit]), box, alternatives, glyph)


def _cut_reading(f: CutField, probs: dict[int, np.ndarray]) -> vote.CutReading:
    """The cut-and-classify reading of a field: its digits, and how sure it is of them."""
    s = f.structure
    digits: list[DigitResult] = []
    rows: list[np.ndarray] = []
    confidence = f.segmentation_confidence
    glyphs = _glyphs(f.pieces)
    digit_sized = max(DIGIT_SIZED * max((piece.height for piece in f.pieces), default=0),
                      DIGIT_OF_BOX * s.inside_height)
    unread = False
    optional: list[tuple[int, np.ndarray, float]] = []
    for piece, glyph in zip(f.pieces, glyphs):
        p = probs[id(piece)]
        not_digit = float(p[NOT_A_DIGIT]) if p.size > NOT_A_DIGIT else 0.0
        if not_digit > _best_digit(p):
            confidence *= not_digit  # read as a mark that is no digit: left out of the value
            if piece.height >= digit_sized:  # ... but it may be one: other readers may say
                unread = True
                digit_mass = max(float(p[:10].sum()), 1e-12)
                optional.append((len(digits), p[:10] / digit_mass, min(digit_mass, 1.0)))
            continue
        digit = _digit(piece, p, s, glyph)
        digits.append(digit)
        rows.append(p[:10] / max(float(p[:10].sum()), 1e-12))
        confidence *= digit.confidence
    # ink as tall as a digit; or more ink than an empty field holds, where nothing but specks
    # was cut or the field holds several marks (ink components, before any split): writing
    # too small to be digits
    inked = any(piece.height >= DIGIT_OF_BOX * s.inside_height for piece in f.pieces) or (
        (not f.pieces or len(cut.ink_components(s)[1]) >= WRITING_MARKS)
        and cut.ink_share(s) > EMPTY_INK_SHARE)
    if not f.pieces:  # nothing to read: sure it is empty, unless ink was left unread
        confidence = EMPTY_FIELD_CONFIDENCE
        unread = inked
    if unread or (inked and not digits):  # read as empty, yet it holds writing
        confidence = min(confidence, UNREAD_INK_CONFIDENCE)
    return vote.CutReading(tuple(digits), np.array(rows).reshape(-1, 10), float(confidence),
                           f.segmentation_confidence, unread, inked, tuple(optional))


@dataclass(frozen=True)
class Opinions:
    """Everything read of one field: the cut reading and, when line readers read it whole,
    every reader's opinion (the cut reader's first) and where their image lies."""

    cut: vote.CutReading
    opinions: tuple[Opinion, ...] = ()
    place: vote.Placement | None = None


def field_opinions(fields: list[CutField], classify: Classify | None,
                   lines: Sequence[LineReader] | LineReaders,
                   timings: dict[str, float] | None = None,
                   calibration: Calibrations | None = None) -> list[Opinions]:
    """Every field read: glyphs by the classifier (in one batch); undrawn fields, and open
    boxes and combs whose cut reading is unsure (LINES_BELOW, COMBS_BELOW; combs only when
    `calibration` fits them, always without a calibration: read for fitting one), or sure only
    after a split that the first line reader disputes (`_disputed`), also whole
    by the line readers of their kind (`LineReaders`; each reader in one batch); where they read
    words, the sure ones too if they are words (WORD_CHECK_GLYPHS). Where the calibration gives
    the glyph classifier no weight for a kind read whole, its glyphs are not read at all (on
    cheque amounts its split search cost ~150 ms a field for nothing)."""
    timings = {} if timings is None else timings
    unheard = {kind for kind in ("box", "field") if lines and calibration is not None
               and calibration.for_kind(kind).weights.get(vote.CUT_READER, 1.0) == 0.0}
    heard = [f for f in fields if f.kind not in unheard]
    started = time.perf_counter()
    probs = _recognise(heard, classify)
    cuts = [_cut_reading(f, probs) if f.kind not in unheard else _uncut(f) for f in fields]
    timings["recognise"] = time.perf_counter() - started
    out = [Opinions(c) for c in cuts]
    combs = calibration is None or calibration.fitted("comb")
    whole = [i for i, f in enumerate(fields)
             if f.kind == "field" or (f.kind == "box" and cuts[i].confidence < LINES_BELOW)
             or (f.kind == "comb" and combs and cuts[i].confidence < COMBS_BELOW)] if lines else []
    readers = LineReaders.of(lines)
    started = time.perf_counter()
    unsure = set(whole)  # and sure boxes cut by a split, where the first line reader disputes them
    split = [i for i, f in enumerate(fields) if lines and f.kind == "box" and f.split and i not in unsure]
    whole = sorted(whole + _disputed(fields, split, cuts, readers))
    _read_whole(fields, whole, cuts, readers, unheard, out)
    if any(o.words for r in out for o in r.opinions if isinstance(o, CtcOpinion)):
        already = set(whole)
        sure = [i for i, f in enumerate(fields) if i not in already and (f.kind == "box" or
                (f.kind == "comb" and combs)) and len(cuts[i].digits) >= WORD_CHECK_GLYPHS]
        _read_whole(fields, _words(fields, sure, readers), cuts, readers, unheard, out)
    if whole or split:  # the split boxes' check is line reading too, disputed or not
        timings["read_lines"] = time.perf_counter() - started
    return out


def _read_whole(fields: list[CutField], whole: list[int], cuts: list[vote.CutReading],
                readers: LineReaders, unheard: set[str], out: list[Opinions]) -> None:
    """The fields of `whole` read by the line readers of their kind, each reader reading its
    fields in one call; their opinions (the cut reader's first, unless unheard) into `out`."""
    groups: dict[tuple[int, ...], tuple[tuple[LineReader, ...], list[int]]] = {}
    for i in whole:
        kind_readers = readers.for_kind(fields[i].kind)
        groups.setdefault(tuple(map(id, kind_readers)), (kind_readers, []))[1].append(i)
    for group_readers, group in groups.values():
        seen = [fields[i].line_image() for i in group]
        said = vote.line_opinions(group_readers, [image for image, _ in seen])
        for i, (_, place), opinion in zip(group, seen, said):
            cut = () if fields[i].kind in unheard else (vote.cut_opinion(cuts[i]),)
            out[i] = Opinions(cuts[i], (*cut, *opinion), place)


Pick = Callable[[tuple[LineReader, ...]], LineReader | None]


def _by_reader(fields: list[CutField], indices: list[int], readers: LineReaders,
               pick: Pick) -> list[tuple[LineReader, list[int]]]:
    """`indices` grouped by the line reader `pick` chooses among their kind's (None: none), so
    that each reader reads its fields in one call."""
    groups: dict[int, tuple[LineReader, list[int]]] = {}
    for i in indices:
        reader = pick(readers.for_kind(fields[i].kind))
        if reader is not None:
            groups.setdefault(id(reader), (reader, []))[1].append(i)
    return list(groups.values())


def _words(fields: list[CutField], indices: list[int], readers: LineReaders) -> list[int]:
    """Those of `indices` whose field a line reader of its kind that knows letters reads as
    words (WORD_CHECK_GLYPHS)."""
    flagged: list[int] = []
    for reader, group in _by_reader(fields, indices, readers,
                                    lambda rs: next((r for r in rs if hasattr(r, "are_words")), None)):
        words = reader.are_words([fields[i].line_image()[0] for i in group])  # type: ignore[attr-defined]
        flagged.extend(i for i, w in zip(group, words) if w)
    return flagged


def _disputed(fields: list[CutField], indices: list[int], cuts: list[vote.CutReading],
              readers: LineReaders) -> list[int]:
    """Those of `indices` (sure open boxes cut by a split) whose value the first line reader of
    their kind (the page CRNN) reads otherwise: they are then read whole by every reader. A
    split of touching digits is a guess the glyph classifier cannot check, and a wrong one comes
    out as sure as a right one (on hard pages of seed 8, three of the five surest wrong fields,
    at 0.98-0.995: a slashed 0 cut into a 2, a slanted 1 lost in its neighbour). On pages not
    used by `make eval` (ours seeds 7 and 9, 150 pages each; hard seeds 8 and 10, 100 each),
    straight through at <= 0.5% errors 85.3 -> 90.6%, 92.4 -> 95.1%, 60.2 -> 63.8%, 59.8 ->
    71.7%; exact 98.12 -> 98.23%, 97.80 -> 97.90%, 95.04 -> 95.28%, 94.39 -> 94.47%; reading
    6.5% (ours) and 4% (hard) slower. Reading all such boxes whole by every reader did no
    better (89.5%, 94.7%, 62.5%, 70.5%) at 17% and 13% more time."""
    out: list[int] = []
    for reader, group in _by_reader(fields, indices, readers, lambda rs: rs[0] if rs else None):
        folded = reader.read([fields[i].line_image()[0] for i in group])
        out.extend(i for i, f in zip(group, folded) if ctc.best_path(f) != cuts[i].value)
    return out


def _uncut(f: CutField) -> vote.CutReading:
    """A field whose glyphs are not read: nothing but whether it holds ink."""
    inked = cut.ink_share(f.structure) > EMPTY_INK_SHARE
    return vote.CutReading((), np.zeros((0, 10)), 0.0, 1.0, False, inked)


def field_result(f: CutField, read: Opinions, name: str, calibration: Calibrations,
                 rule: Rule | None = None) -> FieldResult:
    """One field decided from what was read of it; with a `rule`, the most probable reading
    that keeps it (`ruled`), or the reason none does."""
    s = f.structure
    reading = read.cut
    value, confidence, digits, readings = reading.value, reading.confidence, reading.digits, ()
    rule_error = None
    whole = bool(read.opinions) and read.place is not None
    if whole and rule is not None:
        value, confidence, digits, readings, rule_error = ruled.line_decision(
            s, reading, read.opinions, read.place, calibration.for_kind(f.kind), rule)
    elif whole:
        value, confidence, digits, readings = vote.decide(s, reading, read.opinions, read.place,
                                                          calibration.for_kind(f.kind))
    elif rule is not None:
        value, confidence, digits, readings, rule_error = ruled.cut_decision(reading, rule)
    cells = tuple(s.frame.box_to_page(*c) for c in s.cells()) if s.kind == "comb" else ()
    # a drawn box whose writing a pen line was struck through: cancelled, whatever it reads
    struck = f.kind != "field" and bool(reading.digits or reading.inked) and strike.struck_through(s)
    if struck:
        confidence = min(confidence, strike.STRUCK_CONFIDENCE)
    return FieldResult(name, f.kind, f.page_box, cells, value, float(confidence), digits, readings,
                       rule_error, struck)


def read_fields(fields: list[CutField], classify: Classify | None, names: list[str],
             lines: Sequence[LineReader] | LineReaders, calibration: Calibrations,
             timings: dict[str, float], rules: Sequence[Rule | None] = ()) -> list[FieldResult]:
    """The fields read and decided; `names` (and `rules`, each field's rule or None) in the
    order of `fields`."""
    read = field_opinions(fields, classify, lines, timings, calibration)
    rules = list(rules) or [None] * len(fields)
    return [field_result(f, r, name, calibration, rule)
            for f, r, name, rule in zip(fields, read, names, rules)]


def _recognise(fields: list[CutField], classify: Classify | None) -> dict[int, np.ndarray]:
    """Every glyph of the fields read in one batch, touching digits split, unsure ones reread;
    the probabilities by piece."""
    probs: dict[int, np.ndarray] = {}
    pieces = [p for f in fields for p in f.pieces]
    if classify is not None and pieces:
        for piece, row in zip(pieces, classify(_glyphs(pieces))):
            probs[id(piece)] = np.asarray(row, np.float64)
        _resolve_touching(fields, classify, probs)
        _reread_unsure(fields, classify, probs)
    else:
        for f in fields:
            if f.structure.kind == "box":
                f.pieces = [q for p in f.pieces for q in split.split_without_recogniser(p)]
        for p in (p for f in fields for p in f.pieces):
            probs[id(p)] = np.full(11, 1 / 11)  # no recogniser: every reading equally likely
    return probs
