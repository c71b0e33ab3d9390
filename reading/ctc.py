"""Digit strings from a CTC reader's per-frame probabilities: best paths, n-best, exact scores.

A sequence recogniser trained with CTC gives, for each frame (a few pixels of the field's
width), a probability for every symbol of its alphabet and for "blank". Only digits make a
field's value: blank and every other symbol it can read (separators, dashes, letters) are
folded into one FILLER class that can sit anywhere, so a separator is read past, never
forced into a 1 or a 7. On the folded (T, 11) matrix:
- `best_path` is the usual greedy decode;
- `log_prob(probs, value)` is the exact probability that the digits read are `value`,
  summed over every alignment (the CTC forward algorithm): what lets two readers be
  compared on the same candidate strings (`log_probs`: of several values at once);
- `nbest` is a prefix beam search for the most probable values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

FILLER = 10  # column of the folded matrix: blank and every symbol that is not a digit
LOG_ZERO = -1e30
BEAM = 16  # prefixes kept per frame by `nbest`; enough for the top few values of a field
UNLIKELY = math.log(1e-5)  # a digit this improbable on a frame starts no new prefix there


def fold(probs: np.ndarray, digit_columns: Sequence[int]) -> np.ndarray:
    """(T, C) probabilities over a reader's alphabet → (T, 11): the ten digits (in order 0-9,
    taken from `digit_columns`) and FILLER = everything else."""
    probs = np.asarray(probs, np.float64)
    digits = probs[:, list(digit_columns)]
    total = probs.sum(axis=1, keepdims=True)
    filler = np.maximum(total - digits.sum(axis=1, keepdims=True), 0.0)
    out = np.concatenate([digits, filler], axis=1)
    return out / np.maximum(out.sum(axis=1, keepdims=True), 1e-30)


def best_path(folded: np.ndarray) -> str:
    """Greedy decode: the most probable symbol per frame, repeats merged, filler dropped."""
    out, previous = [], -1
    for k in np.argmax(folded, axis=1).tolist():
        if k != previous and k != FILLER:
            out.append(str(k))
        previous = k
    return "".join(out)


def log_prob(folded: np.ndarray, value: str) -> float:
    """log P(the digits read are exactly `value`), summed over all alignments (the forward
    algorithm of `log_probs`, for one value)."""
    return log_probs(folded, [value])[0]


def log_probs(folded: np.ndarray, values: Sequence[str]) -> list[float]:
    """log P(the digits read are exactly v) for each v of `values`, summed over all alignments
    (the CTC forward algorithm), all values in one pass: a frame's step is a few NumPy calls on
    (values, states) arrays, not on each value's states in turn (~0.14 ms a value). A shorter
    value's states are followed by fillers of no account: a state is reached only from itself
    and the two before it. A digit state may be entered from two back (skipping a filler)
    unless it repeats the digit before it: "00" needs a filler between, or it is one 0."""
    if not values:
        return []
    if len(folded) == 0:
        return [0.0 if not value else LOG_ZERO for value in values]
    logp = np.log(np.maximum(folded, 1e-30))
    sizes = [2 * len(value) + 1 for value in values]  # each value's states
    n = max(sizes)
    states = np.full((len(values), n), FILLER)
    skip = np.zeros((len(values), n), bool)
    for v, value in enumerate(values):
        states[v, 1 : sizes[v] : 2] = [int(c) for c in value]
        for s in range(3, sizes[v], 2):
            skip[v, s] = states[v, s] != states[v, s - 2]
    emit = logp[:, states]  # (T, values, n)
    alpha = np.full((len(values), n), LOG_ZERO)
    alpha[:, 0] = emit[0, :, 0]
    if n > 1:
        alpha[:, 1] = emit[0, :, 1]
    step = np.full(alpha.shape, LOG_ZERO)
    jump = np.full(alpha.shape, LOG_ZERO)
    for t in range(1, len(folded)):
        step[:, 1:] = alpha[:, :-1]
        jump[:, 2:] = alpha[:, :-2]
        alpha = np.logaddexp(np.logaddexp(alpha, step), np.where(skip, jump, LOG_ZERO)) + emit[t]
    out = []
    for v, size in enumerate(sizes):
        end = alpha[v, 0] if size == 1 else np.logaddexp(alpha[v, size - 1], alpha[v, size - 2])
        out.append(float(max(end, LOG_ZERO)))
    return out


def _add(a: float, b: float) -> float:
    """log(exp(a) + exp(b)) on plain floats (NumPy's scalar call costs ten times this)."""
    if a < b:
        a, b = b, a
    return a if b <= LOG_ZERO else a + math.log1p(math.exp(b - a))


def nbest(folded: np.ndarray, count: int = 5, beam: int = BEAM) -> list[tuple[str, float]]:
    """The `count` most probable values by prefix beam search, each with its log probability
    as the search estimates it (re-score with `log_prob` for the exact figure)."""
    # Each prefix keeps two log probabilities, ending in filler and ending in its last digit,
    # and their sum (`_add`, written out in the loop: ~60 calls a frame, on plain floats), by
    # which the beam is ranked and which the next frame starts from.
    log1p, exp = math.log1p, math.exp
    beams: list[tuple[str, int, float, float, float]] = [("", -1, 0.0, LOG_ZERO, 0.0)]
    logp = np.log(np.maximum(folded, 1e-30))
    likely_rows = np.argsort(-logp, axis=1)[:, :4].tolist()
    for row, candidates in zip(logp.tolist(), likely_rows):
        filler = row[FILLER]
        likely = [k for k in candidates if k != FILLER and row[k] > UNLIKELY]
        grown: dict[str, list] = {}  # prefix: [p_filler, p_digit, last digit]
        for prefix, last, p_filler, p_digit, total in beams:
            x = total + filler
            entry = grown.get(prefix)
            if entry is None:
                grown[prefix] = entry = [x if x > LOG_ZERO else LOG_ZERO, LOG_ZERO, last]
            else:
                a, b = (entry[0], x) if entry[0] >= x else (x, entry[0])
                entry[0] = a if b <= LOG_ZERO else a + log1p(exp(b - a))
            if last >= 0:  # the last digit goes on over this frame
                x = p_digit + row[last]
                a, b = (entry[1], x) if entry[1] >= x else (x, entry[1])
                entry[1] = a if b <= LOG_ZERO else a + log1p(exp(b - a))
            for k in likely:
                # the same digit again needs a filler between
                x = (p_filler if k == last else total) + row[k]
                longer = prefix + _DIGITS[k]
                entry = grown.get(longer)
                if entry is None:
                    grown[longer] = [LOG_ZERO, x if x > LOG_ZERO else LOG_ZERO, k]
                else:
                    a, b = (entry[1], x) if entry[1] >= x else (x, entry[1])
                    entry[1] = a if b <= LOG_ZERO else a + log1p(exp(b - a))
        scored = [(prefix, last, f, d, _add(f, d)) for prefix, (f, d, last) in grown.items()]
        scored.sort(key=lambda entry: -entry[4])
        beams = scored[:beam]
    return [(prefix, total) for prefix, _, _, _, total in beams[:count]]


_DIGITS = [str(k) for k in range(10)]


def probability(log_value: float) -> float:
    return math.exp(max(log_value, -700.0))


def align(folded: np.ndarray, value: str) -> list[tuple[int, int]]:
    """The frames (first, last) where each digit of `value` is read, on the single most
    probable alignment (Viterbi); [] when `value` cannot be aligned."""
    labels = [int(c) for c in value]
    if not labels:
        return []
    states = [FILLER]
    for label in labels:
        states += [label, FILLER]
    n, frames = len(states), len(folded)
    if frames < len(labels):
        return []
    logp = np.log(np.maximum(folded, 1e-30))[:, states]
    score = np.full(n, LOG_ZERO)
    score[0], score[1] = logp[0, 0], logp[0, 1]
    back = np.zeros((frames, n), np.int64)
    index = np.arange(n)
    for t in range(1, frames):
        options = np.stack([score, np.concatenate([[LOG_ZERO], score[:-1]]),
                            np.concatenate([[LOG_ZERO, LOG_ZERO], score[:-2]])])
        for s in range(3, n, 2):
            if states[s] == states[s - 2]:
                options[2, s] = LOG_ZERO
        options[2, ::2] = LOG_ZERO  # filler states are never entered by skipping
        choice = np.argmax(options, axis=0)
        score = options[choice, index] + logp[t]
        back[t] = index - choice
    state = n - 1 if score[n - 1] >= score[n - 2] else n - 2
    if score[state] <= LOG_ZERO / 2:
        return []
    path = [state]
    for t in range(frames - 1, 0, -1):
        state = int(back[t, state])
        path.append(state)
    path.reverse()
    spans: dict[int, list[int]] = {}
    for t, state in enumerate(path):
        if state % 2 == 1:
            spans.setdefault(state // 2, []).append(t)
    return [(min(spans[k]), max(spans[k])) for k in range(len(labels))] if len(spans) == len(labels) else []
