"""Splitting touching digits in open boxes, by recognition.

A glyph that is wide, or that the recogniser does not read with confidence, may be two or
three digits run together. Cut paths are traced top to bottom through the least ink near the
thinnest columns; each way of cutting is read by the recogniser, and the reading whose pieces
are most confidently digits wins. The recogniser comes in as a callback, so this package
stays free of any machine-learning framework.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import cv2
import numpy as np

from segmentation.cut import Piece

# (N, 28, 28) float32 glyphs -> (N, C) probabilities; columns 0-9 the digits, 10 "not a digit".
Classify = Callable[[np.ndarray], np.ndarray]

# A glyph read as one digit this confidently is not cut, unless it is very wide. (0.97 and 0.9
# give the same readings on the eval pages of seeds 20261124 and 99; 0.9 tries fewer cuts.)
SURE = 0.9
MAX_SINGLE_ASPECT = 1.6  # wider (width / height) than most single digits: read whole only if SURE
MIN_PART_HEIGHT = 0.55  # a cut part lower than this share of the glyph is a stroke, not a digit
# The readings' scores are sums of calibrated log digit probabilities, but rival cuts are not
# exclusive hypotheses, so their softmax is far too soft: sharpened by this temperature,
# fitted (lowest log loss of open-box field confidences) on 100 pages of MNIST TRAINING
# digits, seed 4242: log loss 0.119 at 1.0, 0.088 at 0.4, 0.082 at 0.1, 0.081 at 0.05
# (`python -m evaluation.split_temperature`).
SPLIT_TEMPERATURE = 0.05
SPLIT_PRIOR = 0.5  # a cut must make the reading at least this much more likely to be taken
# A part of a cut is cut again only if at least as wide as tall: two digits run together are.
# (Against 0.75 before, the same readings on the eval pages of seeds 20261124 and 99, 6% fewer
# glyphs to read.)
DEEP_SPLIT_ASPECT = 1.0
MAX_DEPTH = 3  # cuts within cuts: up to 8 digits run together
DEEP_CUTS = 3  # ways of cutting tried for parts of parts
THREE_WAY_ASPECT = 1.5  # wider (width / height) than this may be three digits run together
THREE_WAY_CUTS = 4  # ways of cutting in three tried (thinnest columns, and even thirds)
TYPICAL_ASPECT = 0.65  # a digit's usual width / height, to cut without a recogniser
MAX_CUTS = 5  # candidate cut columns tried per glyph
DISTINCT_CUT = 0.08  # minima closer than this share of the width start the same cut
INK_COST = 12.0  # cost of cutting through an ink pixel, against 1 for each step of the path
DRIFT_COST = 0.3  # per pixel the cut wanders from its starting column
SLIVER_SHARE = 0.06  # bits of a cut piece smaller than this share of it are dropped
MIN_PIECE_SHARE = 0.12  # a cut leaving a piece narrower than this share of the glyph is no cut
CUT_REACH = 0.25  # a cut path wanders at most this share of the glyph's height from its start
#                   (a slanted join), and at least MIN_REACH_PX
MIN_REACH_PX = 2
CUT_MARGIN = 0.15  # cuts start no nearer either end than this share of the width: a cut
#                    there would only shave a stroke's end off
MIN_CUT_GAP = 0.2  # cut columns (and the ends) at least this share of the width apart: a
#                    narrower part is a stroke's end, not a digit


def cut_paths(mask: np.ndarray, starts: Sequence[int]) -> np.ndarray:
    """Column of each cut in every row, one row of the result per start: a top-to-bottom path
    through the least ink, moving at most one column per row, starting anywhere near its
    start (dynamic programming, all starts at once; ties go to the leftmost column above).

    The starts' windows lie side by side in one row, each followed by a column that costs
    infinity (no path crosses it), so that a row of the programme is three NumPy calls on one
    contiguous row (the cheapest of each pair of neighbours, then of each pair of pairs), and
    the moves are found walking back up the totals (~0.4 ms a call, against ~0.9 for the
    moves kept row by row as masks; the same paths)."""
    h, w = mask.shape
    reach = max(MIN_REACH_PX, int(CUT_REACH * h))
    first = np.asarray(starts, np.int64) - reach
    offsets = np.arange(2 * reach + 1)
    columns = first[:, None] + offsets[None, :]  # (starts, window)
    count, window = columns.shape
    step = window + 1  # a window and its wall of infinite cost
    cost = np.full((h, 1 + count * step), np.inf)  # a wall first, then each window and its wall
    inner = cost[:, 1:].reshape(h, count, step)[:, :, :window]  # (rows, starts, window)
    inner[:] = (mask[:, np.clip(columns, 0, w - 1)] * INK_COST + 1.0
                + DRIFT_COST * np.abs(offsets - reach)[None, None, :])
    inner[:, (columns < 0) | (columns >= w)] = np.inf
    total = np.empty_like(cost)  # each row's cheapest path from the top to every column
    total[:, 0] = total[:, -1] = np.inf
    total[0] = cost[0]
    pairs = np.empty(cost.shape[1] - 1)
    for r in range(1, h):  # (walls stay infinite: their cost is)
        above = total[r - 1]
        np.minimum(above[:-1], above[1:], out=pairs)
        row = total[r, 1:-1]
        np.minimum(pairs[:-1], pairs[1:], out=row)
        row += cost[r, 1:-1]
    ends = total[-1, 1:].reshape(count, step)[:, :window].argmin(axis=1) + 1 + step * np.arange(count)
    totals = total.tolist()  # a few thousand numbers, walked one by one
    paths = []
    for column in ends.tolist():
        path = [column]
        for above in reversed(totals[:-1]):  # from the cheapest of the three above; ties: leftmost
            left, middle, right = above[column - 1], above[column], above[column + 1]
            if left <= middle and left <= right:
                column -= 1
            elif right < middle:
                column += 1
            path.append(column)
        paths.append(path[::-1])
    walls = 1 + step * np.arange(count)  # where each window begins in the row
    return np.asarray(paths, np.int64).reshape(count, h) - walls[:, None] + first[:, None]


def _trim(piece: Piece, mask: np.ndarray) -> Piece | None:
    """The part of `piece` under `mask`, without slivers, cropped to its bounding box."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return None
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.flatnonzero(areas >= SLIVER_SHARE * areas.sum()) + 1
    wanted = np.zeros(count, bool)
    wanted[keep] = True
    clean = wanted[labels]  # a lookup table: faster than np.isin on a few labels
    rows, cols = np.flatnonzero(clean.any(axis=1)), np.flatnonzero(clean.any(axis=0))
    if rows.size == 0:
        return None
    return piece.part(clean[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1], int(cols[0]), int(rows[0]))


def split(piece: Piece, cuts: Sequence[int]) -> list[Piece] | None:
    """The piece cut along paths started at `cuts` (ascending columns); None if a part is empty."""
    return _split_along(piece, cut_paths(piece.mask, cuts))


def _split_along(piece: Piece, paths: np.ndarray) -> list[Piece] | None:
    mask = piece.mask
    cols = np.arange(mask.shape[1])[None, :]
    parts = []
    previous = np.full((mask.shape[0], 1), -1)
    for boundary in [*(path[:, None] for path in paths), np.full((mask.shape[0], 1), mask.shape[1])]:
        part = _trim(piece, mask & (cols > previous) & (cols <= boundary))
        if (part is None or part.width < MIN_PIECE_SHARE * piece.width
                or part.height < MIN_PART_HEIGHT * piece.height):
            return None
        parts.append(part)
        previous = boundary
    return parts


def cut_candidates(piece: Piece, parts: int, limit: int = MAX_CUTS) -> list[tuple[int, ...]]:
    """Up to `limit` sets of starting columns for `parts - 1` cuts: the thinnest columns of
    the ink (distinct ones, not neighbours of one another), and always even spacing."""
    w = piece.width
    profile = np.convolve(piece.mask.sum(axis=0).astype(np.float64), np.ones(3) / 3, mode="same")
    inner = np.arange(int(CUT_MARGIN * w), int((1 - CUT_MARGIN) * w) + 1)
    if inner.size == 0:
        return []
    minima = [int(c) for c in inner
              if profile[c] <= profile[max(c - 1, 0)] and profile[c] <= profile[min(c + 1, w - 1)]]
    minima.sort(key=lambda c: profile[c])
    distinct: list[int] = []
    for c in minima:
        if all(abs(c - d) >= max(2, DISTINCT_CUT * w) for d in distinct):
            distinct.append(c)
    even = tuple(round(w * k / parts) for k in range(1, parts))
    candidates = []
    for combo in itertools.combinations(sorted(distinct[:MAX_CUTS]), parts - 1):
        gaps = np.diff([0, *combo, w])
        if gaps.min() >= MIN_CUT_GAP * w:
            candidates.append(tuple(combo))
    candidates = [c for c in dict.fromkeys(candidates) if c != even][: limit - 1]
    return [*candidates, even]


def two_way(piece: Piece, limit: int = MAX_CUTS) -> list[tuple[Piece, Piece]]:
    """Ways of cutting `piece` in two, at its thinnest columns (and the middle)."""
    found: dict[tuple[int, ...], tuple[Piece, Piece]] = {}
    starts = [cuts[0] for cuts in cut_candidates(piece, 2, limit)]
    if not starts:
        return []
    for path in cut_paths(piece.mask, starts):
        parts = _split_along(piece, path[None, :])
        if parts is not None:  # cut paths from nearby starts often meet: keep distinct cuts only
            left, right = parts
            key = (left.x0, left.y0, *left.mask.shape, right.x0, right.y0, *right.mask.shape)
            found.setdefault(key, (left, right))
    return list(found.values())


def three_way(piece: Piece) -> list[tuple[Piece, ...]]:
    """Ways of cutting a glyph wide enough for three digits in three at once: three run
    together are read more surely so than by cutting one off and then the other two."""
    if piece.width / max(1, piece.height) < THREE_WAY_ASPECT:
        return []
    candidates = cut_candidates(piece, 3, THREE_WAY_CUTS)
    # A start's path is the same traced alone or with others: all of them in one programme.
    starts = sorted({c for cuts in candidates for c in cuts})
    paths = dict(zip(starts, cut_paths(piece.mask, starts))) if starts else {}
    found = []
    for cuts in candidates:
        parts = _split_along(piece, np.stack([paths[c] for c in cuts]))
        if parts is not None:
            found.append(tuple(parts))
    return found


def should_try(piece: Piece, best_digit_probability: float, depth: int = 0) -> bool:
    """Worth cutting: not read confidently as one digit (only the glyphs as found: parts of
    cuts must also be wide), or too wide for any single digit."""
    if _too_wide(piece):
        return True
    unsure = best_digit_probability < SURE
    return unsure and (depth == 0 or piece.width / max(1, piece.height) >= DEEP_SPLIT_ASPECT)


def read_best(pieces: list[Piece], classify: Classify,
              probs: dict[int, np.ndarray]) -> list[tuple[list[Piece], float]]:
    """For each piece (already classified in `probs`, keyed by id), the best way to read it:
    as it is, or cut in two (or three, if wide enough), each part read the best way in turn
    (to MAX_DEPTH cuts deep).
    Each reading scores the sum of its parts' log digit probabilities, plus log SPLIT_PRIOR
    per cut. Returns the chosen parts and how sure that choice is: its score against the best
    reading of every other digit string (different cuts giving the same digits are one
    hypothesis, not rivals), sharpened by SPLIT_TEMPERATURE. All pieces of one depth are read
    in one call to `classify`."""
    options: dict[int, list[tuple[Piece, ...]]] = {}
    frontier = [p for p in pieces if should_try(p, _best(probs[id(p)]))]
    known: dict[tuple, Piece] = {}  # different cuts often give the same part: read it once

    def once(part: Piece) -> Piece:
        return known.setdefault((part.x0, part.y0, part.mask.shape, part.mask.tobytes()), part)

    for depth in range(MAX_DEPTH):
        fresh: list[Piece] = []
        for piece in frontier:
            ways = two_way(piece, MAX_CUTS if depth == 0 else DEEP_CUTS)
            if depth == 0:
                ways += three_way(piece)
            options[id(piece)] = [tuple(once(part) for part in way) for way in ways]
            fresh.extend(part for way in options[id(piece)] for part in way if id(part) not in probs)
        fresh = list({id(p): p for p in fresh}.values())
        if not fresh:
            break
        glyphs = np.stack([p.glyph() for p in fresh])
        for part, row in zip(fresh, classify(glyphs)):
            probs[id(part)] = np.asarray(row, np.float64)
        frontier = [p for p in fresh if should_try(p, _best(probs[id(p)]), depth + 1)]

    memo: dict[int, tuple[float, list[Piece], float]] = {}

    def digits_of(parts: list[Piece]) -> str:
        return "".join(str(int(np.argmax(probs[id(q)][:10]))) for q in parts)

    def best(piece: Piece) -> tuple[float, list[Piece], float]:
        if id(piece) in memo:
            return memo[id(piece)]
        readings = []
        whole = _best(probs[id(piece)])
        if not (options.get(id(piece)) and _too_wide(piece) and whole < SURE):
            readings.append((math.log(max(whole, 1e-9)), [piece]))
        for way in options.get(id(piece), []):
            read = [best(part) for part in way]
            readings.append((sum(r[0] for r in read) + (len(way) - 1) * math.log(SPLIT_PRIOR),
                             [q for r in read for q in r[1]]))
        by_string: dict[str, tuple[float, list[Piece]]] = {}
        for score, parts in readings:
            key = digits_of(parts)
            if key not in by_string or score > by_string[key][0]:
                by_string[key] = (score, parts)
        scores = np.array([v[0] for v in by_string.values()])
        top = int(scores.argmax())
        chosen = (float(scores[top]), list(by_string.values())[top][1],
                  float(np.exp(scores[top] / SPLIT_TEMPERATURE
                               - np.logaddexp.reduce(scores / SPLIT_TEMPERATURE))))
        memo[id(piece)] = chosen
        return chosen

    return [(best(p)[1], best(p)[2]) for p in pieces]


def _too_wide(piece: Piece) -> bool:
    return piece.width / max(1, piece.height) >= MAX_SINGLE_ASPECT


def _best(probabilities: np.ndarray) -> float:
    return float(probabilities[:10].max())


def split_without_recogniser(piece: Piece) -> list[Piece]:
    """Cut by width alone: as many digits as the glyph is wide (used when no model is given)."""
    parts = int(np.clip(round(piece.width / max(1, piece.height) / TYPICAL_ASPECT), 1, 3))
    if parts == 1:
        return [piece]
    return split(piece, [round(piece.width * k / parts) for k in range(1, parts)]) or [piece]
