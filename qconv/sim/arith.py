"""Exact integer arithmetic shared by the kernels: matrix products and accumulator finishing.

Stateless: a result (including the count of wrapped accumulator sums) is returned, never kept
here; `sim.run` collects the counts per node."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..fixed import FixedType

FLOAT_EXACT = 2.0**53


def product_drop(node, x_type: FixedType) -> int:
    """Fraction bits of the exact products x*w that the node's accumulator does not keep (>= 0).
    A tight accumulator only drops bits that are zero in every weight; a user cap
    (--accumulator fixed:...) or qtools' rule may drop real bits: each product is then
    truncated (AP_TRN) on its own, as ``acc += x * w`` does in C++."""
    return max(0, x_type.frac + node.consts["W"].fixed.frac - node.attrs["accum"].frac)


def matmul_exact(x: np.ndarray, w: np.ndarray, x_type: FixedType, drop: int = 0) -> np.ndarray:
    """x @ w on int64 mantissas, exactly: float64 BLAS while every partial sum provably stays
    below 2^53 (max column sum of |w| times the largest input mantissa), int64 otherwise.
    With `drop` > 0: sum_i floor(x_i * w_ij / 2^drop), each product truncated on its own."""
    if drop > 0:
        nz = np.abs(w[w != 0]).astype(np.int64)
        if nz.size == 0:
            return np.zeros((x.shape[0], w.shape[1]), np.int64)
        if int(np.bitwise_and(nz, -nz).min()) >= (1 << drop):  # the dropped bits are zero
            w = w >> drop
        else:
            acc = np.zeros((x.shape[0], w.shape[1]), np.int64)
            x64, w64 = x.astype(np.int64), w.astype(np.int64)
            for k in range(w.shape[0]):
                acc += (x64[:, k:k + 1] * w64[k:k + 1, :]) >> drop
            return acc
    w64, column_bound = _prepared(w)
    if column_bound * 2.0 ** max(x_type.width, 1) < FLOAT_EXACT:
        return (x.astype(np.float64) @ w64).astype(np.int64)  # every sum is an exact integer
    return x.astype(np.int64) @ w.astype(np.int64)


def matmul_activations(a: np.ndarray, b: np.ndarray, ta: FixedType, tb: FixedType) -> np.ndarray:
    """a @ b of two mantissa tensors (batched over leading axes), exactly: float64 while every
    sum provably stays below 2^53, int64 otherwise. The result has frac ta.frac + tb.frac."""
    k = a.shape[-1]
    bound = float(max(abs(ta.min_mantissa), ta.max_mantissa)) * max(abs(tb.min_mantissa), tb.max_mantissa) * k
    if bound < FLOAT_EXACT:
        return np.matmul(a.astype(np.float64), b.astype(np.float64)).astype(np.int64)
    return np.matmul(a.astype(np.int64), b.astype(np.int64))


def _prepared(w: np.ndarray) -> tuple[np.ndarray, float]:
    """w as float64 and its largest column sum of |w| (cheap next to the product itself)."""
    w64 = w.astype(np.float64)
    return w64, float(np.abs(w64).sum(axis=0).max(initial=0))


FLOAT32_EXACT = 2.0**23   # |partial sums| below these stay exact with room for the +-1/2 of rounding
FLOAT64_EXACT = 2.0**51


LONG_ROW = 8192  # a row added to every row of a matrix: numpy's loop is up to 2x faster when it is this long


def long_row(b: np.ndarray) -> np.ndarray:
    """b repeated (whole copies) to at least LONG_ROW values: what `add_row` adds."""
    return np.tile(b, max(1, -(-LONG_ROW // max(b.size, 1))))  # (np.resize does the same 10x slower)


def add_row(v: np.ndarray, row: np.ndarray, long: np.ndarray) -> None:
    """v (N, M) += row (M,) in place, mostly as whole blocks of `long` (= long_row(row)) so that
    numpy's inner loop is long; the rows left over get `row` itself."""
    assert v.flags.c_contiguous, "add_row adds through a reshaped view"
    m = row.size
    reps = long.size // m
    main = v.shape[0] - v.shape[0] % reps
    if main:
        flat = v[:main].reshape(-1, long.size)  # a view: v is a fresh contiguous product
        flat += long
    if main < v.shape[0]:
        v[main:] += row


@dataclass(frozen=True)
class Linear:
    """One Dense/Conv layer's ``x @ W + b`` cast into its output type, in float: `w` and `b` are
    the weight and bias mantissas scaled by the powers of two the C++ shifts by (products to the
    accumulator's fraction bits, the accumulator to the output's), so ``x @ w + b`` is each output
    value in units of the output lsb, exactly (see `linear` for the proof obligations), and
    `FixedType.from_exact` rounds and saturates it as the cast does. Made once per `sim.run`."""
    w: np.ndarray          # (K, M) float32 or float64
    b: np.ndarray          # (M,) same dtype
    out: FixedType
    may_overflow: bool     # False: every value provably fits the output type
    integral: bool         # the output has as many fraction bits as the accumulator or more: no rounding
    b_long: np.ndarray     # long_row(b)
    fits_below: float      # every output provably fits when every input mantissa has |x| <= this (< 0: never)

    def __call__(self, x: np.ndarray):
        """(output mantissas, overflow mask, 0 wrapped sums) for x (N, K) mantissas."""
        check = self.may_check(x, self.w.shape[1])
        return self.finish(x.astype(self.w.dtype, copy=False) @ self.w, self.b, self.b_long, check)

    def may_check(self, x: np.ndarray, outputs: int) -> bool:
        """Whether the outputs of inputs x (N, ...) must be checked for overflow: `may_overflow`,
        unless x (when it holds fewer values than the `outputs` per sample: the cheaper test)
        stays within `fits_below`."""
        if not self.may_overflow or x.size >= outputs * x.shape[0] or x.size == 0:
            return self.may_overflow
        return max(float(x.max()), -float(x.min())) > self.fits_below

    def finish(self, v: np.ndarray, bias: np.ndarray, bias_long: np.ndarray, check: bool):
        """`__call__` from the product v = x @ w (float, contiguous (N, M)): bias (self.b, or
        self.b tiled when M holds several output positions' columns, with its `long_row`),
        rounding, overflow (compared only if `check`, see `may_check`). The mantissas stay in v's
        float array when the overflow mode allows (sim/registry.py)."""
        add_row(v, bias, bias_long)
        y, ovf = self.out.from_exact(v, check, self.integral, as_float=True)
        return y, ovf, 0


def linear(node, x_type: FixedType, w: np.ndarray, b: np.ndarray | None) -> Linear | None:
    """The `Linear` of a layer with input type `x_type`, weight mantissas w (K, M) of
    node.consts["W"].fixed and bias mantissas b (M,) of node.consts["b"].fixed (or None), when
    the float route is exact; None when the int64 route (`matmul_exact` + `finish_accumulation`)
    must run. The float route needs: (1) no product loses bits (an accumulator narrower than the
    products only drops bits that are zero in every weight), (2) the accumulator cannot wrap:
    the interval of every output's sum over the whole input range lies inside the accumulator
    type, (3) every partial sum, scaled to the output lsb, is below 2^23 (float32) or 2^51
    (float64) in magnitude, so BLAS adds exactly in any order."""
    acc_t, out = node.attrs["accum"], node.out.fixed
    if out.width == 64 and not out.signed:
        return None  # the int64 route refuses it with its error
    drop = product_drop(node, x_type)
    if drop:
        nz = np.abs(w[w != 0])
        if nz.size and int(np.bitwise_and(nz, -nz).min()) < (1 << drop):
            return None  # products really are truncated: sum of floor(x * w / 2^drop)
        w = w >> drop
    up = acc_t.frac - x_type.frac - node.consts["W"].fixed.frac + drop   # products -> accumulator lsb (>= 0)
    if b is None:
        b_acc = np.zeros(w.shape[1], np.int64)
    else:
        shift = acc_t.frac - node.consts["b"].fixed.frac
        b_acc = b << shift if shift >= 0 else b >> -shift                  # truncated, as the C++ assigns it
    wf = w.astype(np.float64)
    xlo, xhi = float(x_type.min_mantissa), float(x_type.max_mantissa)  # xlo <= 0 <= xhi
    pos, neg = np.maximum(wf, 0).sum(axis=0) * 2.0**up, np.minimum(wf, 0).sum(axis=0) * 2.0**up
    lo = pos * xlo + neg * xhi + b_acc                                      # each output's sum, in acc lsb
    hi = pos * xhi + neg * xlo + b_acc
    mag = (pos - neg) * max(-xlo, xhi) + np.abs(b_acc)
    if lo.size == 0 or lo.min() < acc_t.min_mantissa or hi.max() > acc_t.max_mantissa:
        return None  # the accumulator may wrap: the int64 route counts the wraps
    s = acc_t.frac - out.frac                                               # accumulator -> output lsb
    bound = float(mag.max()) * 2.0**max(0, -s)
    if bound < FLOAT32_EXACT and max(abs(up - s), abs(s)) < 100:  # powers of two well inside float32
        dtype = np.float32
    elif bound < FLOAT64_EXACT and max(abs(up - s), abs(s)) < 1000:  # ... and float64
        dtype = np.float64
    else:
        return None
    may_overflow = lo.min() * 2.0**-s - 1 < out.min_mantissa or hi.max() * 2.0**-s + 1 > out.max_mantissa
    b_out = (b_acc * 2.0**-s).astype(dtype)
    return Linear((wf * 2.0**(up - s)).astype(dtype), b_out, out, bool(may_overflow), s <= 0, long_row(b_out),
                  _fits_below(pos - neg, b_acc, out, s))


def _fits_below(per: np.ndarray, b_acc: np.ndarray, out: FixedType, s: int) -> float:
    """The largest input magnitude X (an integer, -1 if none) for which every output provably fits
    `out`: with |x| <= X each sum lies in b_acc +- per * X (acc lsb; per = sum of |w| * 2^up), and
    like `linear`'s interval test it allows one lsb for the rounding. Exact in float64 for what
    `linear` passes (every value below 2^51 output lsb); not a general-purpose bound beyond that."""
    room = np.minimum((out.max_mantissa - 1) * 2.0**s - b_acc, b_acc - (out.min_mantissa + 1) * 2.0**s)
    if room.size == 0 or room.min() < 0:
        return -1.0
    with np.errstate(divide="ignore"):
        x = np.where(per > 0, room / np.where(per > 0, per, 1.0), np.inf).min()
    return float(math.floor(x)) - 1 if np.isfinite(x) else math.inf


def finish_accumulation(acc: np.ndarray, node, x_type: FixedType):
    """Products of x and W (mantissas at frac Fx+Fw-drop, see `product_drop`) plus the node's
    bias, in the accumulator type exactly as the C++ does it (bias and products truncated to its
    fraction bits, the sum wrapped to its width; wraps are logged as accumulator overflow), then
    cast into the output type. Returns (mantissas, output overflow mask, number of wrapped sums)."""
    acc_t: FixedType = node.attrs["accum"]
    acc = acc << (acc_t.frac - x_type.frac - node.consts["W"].fixed.frac + product_drop(node, x_type))
    if "b" in node.consts:
        b = node.consts["b"]
        up = acc_t.frac - b.fixed.frac
        acc = acc + (b.values << up if up >= 0 else b.values >> -up)
    wrapped = acc_t.with_modes("TRN", "WRAP")._wrap(np.asarray(acc, np.int64).view(np.uint64))
    y, ovf = node.out.fixed.cast(wrapped, acc_t, return_overflow=True)
    return y, ovf, int(np.count_nonzero(wrapped != acc))


def align(mant: np.ndarray, t: FixedType, frac: int) -> np.ndarray:
    """Mantissas of type t re-expressed with `frac` >= t.frac fraction bits (exact)."""
    return mant << (frac - t.frac)
