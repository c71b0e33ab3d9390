"""Training batches mixing plain MNIST, scan-like glyphs and "not a digit" examples.

Each batch is made fresh from a seed derived from (seed, epoch, batch index), so a run is
reproducible and every epoch sees new distortions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
import numpy as np

from models.augment import hand_glyph, mild, scan_like
from models.negatives import NOT_A_DIGIT, not_a_digit
from segmentation.glyph import GLYPH_SIZE


@dataclass(frozen=True)
class Mix:
    """Shares of a training batch: glyphs as the service cuts them (harvested and simulated),
    MNIST itself (kept sharp), and the "not a digit" output."""

    mild: float = 0.30
    scan_like: float = 0.25
    pipeline: float = 0.35  # glyphs cut by the service's segmentation (models.harvest)
    negative: float = 0.10
    hands: float = 0.0  # digits of other writer sets (synth.hands), taken from mild's share


class TrainingBatches(keras.utils.PyDataset):
    """Augmented batches over `images` (N, 28, 28) uint8 with `labels` (N,)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, batch_size: int, seed: int,
                 extra: tuple[np.ndarray, np.ndarray] | None = None,
                 pipeline: tuple[np.ndarray, np.ndarray] | None = None, mix: Mix = Mix(),
                 hands: object | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.hands = hands  # a synth.hands.Mixture of training writers, or None
        self.images, self.labels = images, labels.astype(np.int64)
        self.pipeline = pipeline if pipeline is not None and len(pipeline[0]) else None
        self.batch_size, self.seed, self.mix = batch_size, seed, mix
        # Reviewed glyphs from the service (28×28 floats), each batch carrying its share of them.
        self.extra = extra
        self.epoch = 0
        self._order = self._shuffled()

    def _shuffled(self) -> np.ndarray:
        return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.images))

    def __len__(self) -> int:
        return math.ceil(len(self.images) / self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        picks = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        if len(picks) < self.batch_size:  # fill the last batch: every batch has the same size
            picks = np.concatenate([picks, rng.integers(len(self.images), size=self.batch_size - len(picks))])
        x = np.empty((self.batch_size, GLYPH_SIZE, GLYPH_SIZE), np.float32)
        y = self.labels[picks].copy()
        draws = rng.random(self.batch_size)
        mix = self.mix
        harvested = mix.pipeline if self.pipeline is not None else 0.0
        other = mix.hands if self.hands is not None else 0.0
        for i, (pick, draw) in enumerate(zip(picks, draws)):
            if draw < mix.negative:
                x[i], y[i] = not_a_digit(self.images, rng), NOT_A_DIGIT
            elif draw < mix.negative + harvested:
                k = int(rng.integers(len(self.pipeline[0])))
                x[i], y[i] = self.pipeline[0][k], self.pipeline[1][k]
            elif draw < mix.negative + harvested + mix.scan_like:
                x[i] = scan_like(self.images[pick], rng)
            elif draw < mix.negative + harvested + mix.scan_like + other:
                x[i] = hand_glyph(self.hands, int(y[i]), rng)
            else:
                x[i] = mild(self.images[pick], rng)
        if self.extra is not None:
            self._mix_in_extra(x, y, index, rng)
        return x[..., None], y

    def _mix_in_extra(self, x: np.ndarray, y: np.ndarray, index: int,
                      rng: np.random.Generator) -> None:
        glyphs, labels = self.extra
        share = len(glyphs) / (len(glyphs) + len(self.images))
        count = min(len(glyphs), max(1, round(self.batch_size * share)))
        slots = rng.choice(self.batch_size, size=count, replace=False)
        chosen = rng.choice(len(glyphs), size=count, replace=False)
        for slot, k in zip(slots, chosen):
            x[slot] = mild((glyphs[k] * 255).astype(np.uint8), rng)
            y[slot] = labels[k]

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self._order = self._shuffled()


def validation_set(images: np.ndarray, labels: np.ndarray, seed: int, negatives_from: np.ndarray,
                   pipeline: tuple[np.ndarray, np.ndarray] | None = None,
                   hands: object | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A fixed held-out set in the service's domain: each digit plain and scan-like, glyphs cut
    by the pipeline from pages written with these digits, digits of held-out writers of the
    other sets (`hands`: the calibration writers), and "not a digit" examples (a tenth).
    Used to watch training and to fit the temperature."""
    rng = np.random.default_rng([seed, 7919])
    parts = [images.astype(np.float32) / 255.0, np.stack([scan_like(d, rng) for d in images])]
    targets = [labels, labels]
    if hands is not None:
        parts.append(np.stack([hand_glyph(hands, int(d), rng) for d in labels]))
        targets.append(labels)
    if pipeline is not None and len(pipeline[0]):
        parts.append(pipeline[0])
        targets.append(pipeline[1])
    count = sum(len(t) for t in targets) // 9
    parts.append(np.stack([not_a_digit(negatives_from, rng) for _ in range(count)]))
    targets.append(np.full(count, NOT_A_DIGIT))
    return np.concatenate(parts)[..., None], np.concatenate(targets).astype(np.int64)
