"""Exact integer arithmetic shared by the kernels: matrix products and accumulator finishing.

Stateless: a result (including the count of wrapped accumulator sums) is returned, never kept
here; `sim.run` collects the counts per node."""

from __future__ import annotations

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
