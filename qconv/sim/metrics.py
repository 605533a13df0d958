"""Model quality over a dataset, accumulated a chunk at a time in bounded memory (qconv eval,
issue 17): accuracy, per-class ROC AUC, agreement and error between two models' outputs.

ROC AUC from histograms. AUC is the probability that a random positive scores above a random
negative, ties counting one half (the Mann-Whitney statistic). Scores are binned by an order-
preserving integer key: for a fixed-point output the key is the mantissa itself, so every bin is
one value and the AUC is exact; a float32 score's key is its bit pattern made monotone, cut to
its top 20 bits (bins of 2^12 neighbouring float32 values: 12 significant bits). Within a
bin the order of a positive and a negative is unknown, so the AUC of a binned score lies within
+-1/2 * sum(pos_b * neg_b) / (P * N) of the value computed: `bound`, 0 when the bins are values.
Memory: 2^20 bins per class and model (16 MiB), whatever the number of samples; fewer when many
classes would take more than a quarter of the memory budget (`key_bits`: a wider bound, printed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ModelError

KEY_BITS = 20  # the most bins per class: 2^KEY_BITS (two int64 arrays of 8 MiB per class and model)
BIN_BYTES = 16  # a bin's positive and negative counts (int64 each)


def key_bits(classes: int, models: int, budget: int) -> int:
    """How many bits the ROC histograms' keys keep: KEY_BITS, fewer when `models` x `classes`
    histograms of 2^KEY_BITS bins would take more than a quarter of `budget` bytes."""
    bins = budget // (4 * models * max(classes, 1) * BIN_BYTES)
    return max(1, min(KEY_BITS, bins.bit_length() - 1))


def histogram_bytes(classes: int, models: int, bits: int) -> int:
    return models * max(classes, 1) * BIN_BYTES << bits


def float_keys(scores: np.ndarray, bits: int = KEY_BITS) -> np.ndarray:
    """Bins of float32 scores, in score order: the IEEE bits made monotone, the top `bits` kept."""
    plus_zero = np.add(scores, np.float32(0), dtype=np.float32)  # -0.0 + 0 = +0.0: the same value, the same bin
    ieee = np.ascontiguousarray(plus_zero).view(np.uint32).astype(np.uint64)
    negative = ieee >> 31 == 1
    monotone = np.where(negative, 0xFFFFFFFF - ieee, ieee | 0x80000000)
    return (monotone >> (32 - bits)).astype(np.int64)


def fixed_keys(mantissas: np.ndarray, width: int, min_mantissa: int, bits: int = KEY_BITS) -> np.ndarray:
    """Bins of fixed-point scores: the mantissa's offset from the type's minimum, one value per
    bin up to `bits` bits of width (else its top `bits` bits)."""
    shift = max(0, width - bits)
    return (np.asarray(mantissas, np.int64) - min_mantissa) >> shift


@dataclass
class RocHistogram:
    """Positive and negative counts per score bin of one class; `exact` when a bin is one value
    (its pairs are true ties, counted one half by definition)."""
    exact: bool
    bits: int = KEY_BITS
    pos: np.ndarray = field(init=False)
    neg: np.ndarray = field(init=False)

    def __post_init__(self):
        self.pos, self.neg = np.zeros(1 << self.bits, np.int64), np.zeros(1 << self.bits, np.int64)

    def add(self, keys: np.ndarray, positive: np.ndarray) -> None:
        self.pos += np.bincount(keys[positive], minlength=self.pos.size)
        self.neg += np.bincount(keys[~positive], minlength=self.neg.size)

    def auc(self) -> tuple[float | None, float]:
        """(AUC, bound): pairs won by the positive plus half the pairs in one bin, over all pairs;
        None when there is no pair (no positive or no negative sample: undefined)."""
        p, n = int(self.pos.sum()), int(self.neg.sum())
        if not p or not n:
            return None, 0.0
        below = np.cumsum(self.neg) - self.neg  # negatives in lower bins
        same = _dot(self.pos, self.neg)
        won2 = 2 * _dot(self.pos, below) + same  # twice the pairs won, in integers
        return won2 / (2 * p * n), 0.0 if self.exact else same / (2 * p * n)


def _dot(a: np.ndarray, b: np.ndarray) -> int:
    """The exact integer dot product of two count arrays (int64 while it cannot overflow)."""
    if int(a.sum()) * int(b.sum()) < 1 << 62:
        return int(np.dot(a, b))
    return sum(int(x) * int(y) for x, y in zip(a[a > 0].tolist(), b[a > 0].tolist()))


@dataclass
class ExactSum:
    """A sum of float64 values that is exact, so it does not depend on the order or the chunks
    they come in: each value is an integer m (53 bits) times 2^e; per exponent the integers are
    summed in int64 as two 27-bit halves, and the total is one Python integer in units of
    2^-OFFSET (below the smallest subnormal's last bit)."""
    OFFSET = 1126  # 1074 (smallest subnormal 2^-1074) + 52: frexp's mantissa bits below it
    total: int = 0

    def add(self, values: np.ndarray) -> None:
        m, e = np.frexp(np.asarray(values, np.float64).ravel())
        mant = (m * 2.0 ** 53).astype(np.int64)  # exact: |m| < 1 has 53 significant bits
        for exp in np.unique(e).tolist():
            sel = mant[e == exp]
            hi, lo = int((sel >> 27).sum()), int((sel & ((1 << 27) - 1)).sum())
            self.total += ((hi << 27) + lo) << (exp - 53 + self.OFFSET)

    def mean(self, count: int) -> float:
        """The sum over `count`, correctly rounded to float64."""
        return self.total / (count << self.OFFSET) if count else float("nan")


def class_labels(labels: np.ndarray, classes: int, what: str = "labels", first: int = 0,
                 shape: tuple | None = None) -> np.ndarray:
    """Labels as class indices (N,): given as indices, or one-hot (N, classes); for a one-score
    output, 0/1 or one-hot (N, 2). Errors name the labels (`what`), the sample (`first` is the
    first row's number) and the whole file's `shape` rather than this chunk's."""
    y = np.asarray(labels)
    shape = tuple(y.shape if shape is None else shape)
    classes = max(classes, 2)
    if y.ndim == 2 and y.shape[1] == classes:
        top = y.max(axis=1, keepdims=True)
        unclear = ~((top[:, 0] > 0) & (np.count_nonzero(y == top, axis=1) == 1))  # also NaN rows
        if unclear.any():
            i = int(np.argmax(unclear))
            raise ModelError(f"{what}: sample {first + i} ({np.array2string(y[i], threshold=12)}) names no single "
                             "class: one-hot rows need one largest, positive entry (or give class indices (N,))")
        return np.argmax(y, axis=1)
    y = y.reshape(len(y), -1)
    if y.shape[1] != 1:
        raise ModelError(f"{what}: shape {shape} is neither class indices (N,) nor one-hot (N, {classes})")
    y = y[:, 0]
    bad = ~np.isin(y, np.arange(classes))  # NaN, fractions and values out of range
    if bad.any():
        i = int(np.argmax(bad))
        raise ModelError(f"{what}: sample {first + i} is {y[i]}, not a class index 0..{classes - 1}")
    return y.astype(np.int64)


@dataclass
class Quality:
    """One model output's scores against the labels: accuracy (argmax, or score > threshold for a
    one-score output) and per-class ROC AUC."""
    classes: int
    exact: bool  # scores binned one value per bin (fixed_keys of at most `bits` bits)
    bits: int = KEY_BITS  # of the bins' keys
    threshold: float = 0.5
    correct: int = 0
    samples: int = 0
    roc: list[RocHistogram] = field(default_factory=list)

    def __post_init__(self):
        self.roc = [RocHistogram(self.exact, self.bits) for _ in range(self.classes)]

    def predict(self, scores: np.ndarray) -> np.ndarray:
        return (scores[:, 0] > self.threshold).astype(np.int64) if self.classes == 1 else np.argmax(scores, axis=1)

    def add(self, scores: np.ndarray, keys: np.ndarray, labels: np.ndarray) -> None:
        """scores (N, classes) as values, keys their bins (float_keys/fixed_keys), labels indices."""
        self.correct += int(np.count_nonzero(self.predict(scores) == labels))
        self.samples += len(labels)
        for c, roc in enumerate(self.roc):
            roc.add(keys[:, c], labels == (1 if self.classes == 1 else c))

    def summary(self) -> dict:
        aucs = [roc.auc() for roc in self.roc]
        return {"accuracy": self.correct / self.samples if self.samples else float("nan"),
                "auc": [a for a, _ in aucs], "auc_bound": [b for _, b in aucs]}


@dataclass
class Agreement:
    """Two models' outputs on the same samples: same predictions, and the error of the first
    against the second (max, mean absolute, root mean square)."""
    classes: int
    threshold: float = 0.5
    same: int = 0
    samples: int = 0
    values: int = 0
    max_abs: float = 0.0
    sum_abs: ExactSum = field(default_factory=ExactSum)
    sum_sq: ExactSum = field(default_factory=ExactSum)

    def add(self, a: np.ndarray, b: np.ndarray) -> None:
        if self.classes == 1:
            self.same += int(np.count_nonzero((a[:, 0] > self.threshold) == (b[:, 0] > self.threshold)))
        else:
            self.same += int(np.count_nonzero(np.argmax(a, axis=1) == np.argmax(b, axis=1)))
        err = np.abs(a.astype(np.float64) - b.astype(np.float64))
        self.samples += len(a)
        self.values += err.size
        self.max_abs = max(self.max_abs, float(err.max(initial=0.0)))
        self.sum_abs.add(err)
        self.sum_sq.add(np.square(err))

    def summary(self) -> dict:
        return {"agreement": self.same / self.samples if self.samples else float("nan"),
                "max_abs_error": self.max_abs, "mean_abs_error": self.sum_abs.mean(self.values),
                "rms_error": float(np.sqrt(self.sum_sq.mean(self.values)))}
