"""CTC decoding of digit strings: exact value probabilities, n-best, alignment, folding."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from reading import ctc


def _brute_force(folded: np.ndarray, value: str) -> float:
    """P(value) by enumerating every path (tiny matrices only)."""
    total = 0.0
    for path in itertools.product(range(folded.shape[1]), repeat=len(folded)):
        out, previous = [], -1
        for k in path:
            if k != previous and k != ctc.FILLER:
                out.append(str(k))
            previous = k
        if "".join(out) == value:
            total += float(np.prod([folded[t, k] for t, k in enumerate(path)]))
    return total


def _sparse(rng: np.random.Generator, frames: int, used: tuple[int, ...]) -> np.ndarray:
    """A random (frames, 11) matrix whose mass sits on the classes `used`."""
    folded = np.zeros((frames, 11))
    folded[:, list(used)] = rng.dirichlet(np.ones(len(used)) * 0.5, size=frames)
    return folded


@pytest.mark.parametrize("seed", range(4))
def test_value_probability_is_the_sum_over_every_alignment(seed: int) -> None:
    folded = _sparse(np.random.default_rng(seed), 4, (0, 1, ctc.FILLER))
    for value in ("", "0", "1", "00", "01", "10", "011", "0101", "1111"):
        assert math.exp(ctc.log_prob(folded, value)) == pytest.approx(_brute_force(folded, value), abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_values_scored_together_score_as_each_alone(seed: int) -> None:
    """`log_probs` (one pass for several values, the shorter ones padded) gives `log_prob`'s
    very numbers: values of every length, repeats and the empty value mixed, on frames
    that make some of them impossible."""
    rng = np.random.default_rng(seed)
    folded = _sparse(rng, 12, (0, 3, 7, ctc.FILLER))
    values = ["", "3", "33", "307", "7", "0000000", "3737", "1", "70370370", "3"]
    values += ["".join(rng.choice(list("0379"), size=int(rng.integers(1, 9)))) for _ in range(30)]
    assert ctc.log_probs(folded, values) == [ctc.log_prob(folded, v) for v in values]
    assert ctc.log_probs(folded, []) == []
    nothing = np.zeros((0, 11))
    assert ctc.log_probs(nothing, ["", "5"]) == [ctc.log_prob(nothing, v) for v in ("", "5")]


def test_a_repeated_digit_needs_a_filler_between() -> None:
    frames = [5, 5, ctc.FILLER, 5, ctc.FILLER]
    folded = np.full((len(frames), 11), 1e-6)
    folded[np.arange(len(frames)), frames] = 1.0
    folded /= folded.sum(axis=1, keepdims=True)
    assert ctc.best_path(folded) == "55"
    assert ctc.log_prob(folded, "55") > math.log(0.99)
    assert ctc.log_prob(folded, "5") < math.log(1e-4)


def test_nbest_ranks_values_by_their_probability() -> None:
    for seed in range(3):
        folded = _sparse(np.random.default_rng(10 + seed), 5, (2, 7, ctc.FILLER))
        ranked = ctc.nbest(folded, 5)
        exact = [ctc.log_prob(folded, v) for v, _ in ranked]
        assert [round(e, 9) for e in exact] == [round(p, 9) for _, p in ranked]
        assert exact == sorted(exact, reverse=True)
        everything = {"".join(p) for n in range(0, 6) for p in itertools.product("27", repeat=n)}
        best = max(everything, key=lambda v: ctc.log_prob(folded, v))
        assert ranked[0][0] == best


def test_fold_keeps_digits_and_merges_every_other_symbol_into_the_filler() -> None:
    # alphabet: blank, 0-9, ".", "-": a "." between two 3s separates them, as blank does
    probs = np.zeros((3, 13))
    probs[0, 4] = probs[1, 11] = probs[2, 4] = 1.0
    folded = ctc.fold(probs, range(1, 11))
    assert folded.shape == (3, 11)
    assert ctc.best_path(folded) == "33"


def test_alignment_places_each_digit_on_its_frames() -> None:
    frames = [ctc.FILLER, 3, 3, ctc.FILLER, ctc.FILLER, 5, 5, 5, ctc.FILLER, 5, ctc.FILLER]
    folded = np.full((len(frames), 11), 1e-3)
    folded[np.arange(len(frames)), frames] = 1.0
    folded /= folded.sum(axis=1, keepdims=True)
    assert ctc.align(folded, "355") == [(1, 2), (5, 7), (9, 9)]
    assert ctc.align(folded, "") == []
    assert ctc.align(folded[:2], "355") == []  # fewer frames than digits
