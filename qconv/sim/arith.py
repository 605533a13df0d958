"""Exact integer arithmetic shared by the kernels: matrix products and accumulator finishing."""

from __future__ import annotations

import numpy as np

from ..fixed import FixedType

FLOAT_EXACT = 2.0**53


def matmul_exact(x: np.ndarray, w: np.ndarray, x_type: FixedType) -> np.ndarray:
    """x @ w on int64 mantissas, exactly: float64 BLAS while every partial sum provably stays
    below 2^53 (max column sum of |w| times the largest input mantissa), int64 otherwise."""
    bound = float(np.abs(w).sum(axis=0).max(initial=0)) * 2.0 ** max(x_type.width, 1)
    if bound < FLOAT_EXACT:
        return np.rint(x.astype(np.float64) @ w.astype(np.float64)).astype(np.int64)
    return x.astype(np.int64) @ w.astype(np.int64)


def finish_accumulation(acc: np.ndarray, node, x_type: FixedType):
    """Products of x and W (mantissas at frac Fx+Fw) plus the node's bias, aligned into the
    accumulator type, then cast into the output type. Returns (mantissas, overflow mask)."""
    acc_t: FixedType = node.attrs["accum"]
    acc = acc << (acc_t.frac - x_type.frac - node.consts["W"].fixed.frac)
    if "b" in node.consts:
        b = node.consts["b"]
        acc = acc + (b.values << (acc_t.frac - b.fixed.frac))
    return node.out.fixed.cast(acc, acc_t, return_overflow=True)


def align(mant: np.ndarray, t: FixedType, frac: int) -> np.ndarray:
    """Mantissas of type t re-expressed with `frac` >= t.frac fraction bits (exact)."""
    return mant << (frac - t.frac)
