"""Integer-exact numpy kernels, one per IR op. Each takes the node, its input mantissas and
their types, and returns (output mantissas of `node.out.fixed`, overflow mask or None).

The same arithmetic as the C++ kernels in templates/kernels: products and sums are exact in the
accumulator type; the only rounding/overflow happens at the final cast into the output type.
"""

from __future__ import annotations

import numpy as np

from ..fixed import FixedType

FLOAT_EXACT = 2.0**53


def dense(node, xs, xts):
    (x,), (xt,) = xs, xts
    w = node.consts["W"]
    acc_t: FixedType = node.attrs["accum"]
    # float64 BLAS is exact while every partial sum stays below 2^53 in magnitude
    bound = float(np.abs(w.values).sum(axis=0).max(initial=0)) * 2.0 ** max(xt.width, 1)
    if bound < FLOAT_EXACT:
        acc = np.rint(x.astype(np.float64) @ w.values.astype(np.float64)).astype(np.int64)
    else:
        acc = x.astype(np.int64) @ w.values.astype(np.int64)
    acc = acc << (acc_t.frac - xt.frac - w.fixed.frac)
    if "b" in node.consts:
        b = node.consts["b"]
        acc = acc + (b.values << (acc_t.frac - b.fixed.frac))
    return node.out.fixed.cast(acc, acc_t, return_overflow=True)


def relu(node, xs, xts):
    return node.out.fixed.cast(np.maximum(xs[0], 0), xts[0], return_overflow=True)


def table(node, xs, xts):
    lo, hi = node.attrs["lo"], node.attrs["hi"]
    return node.consts["table"].values[np.clip(xs[0], lo, hi) - lo], None


def cast(node, xs, xts):
    return node.out.fixed.cast(xs[0], xts[0], return_overflow=True)


def reshape(node, xs, xts):
    return xs[0].reshape((xs[0].shape[0],) + node.out.shape), None


KERNELS = {"Dense": dense, "Relu": relu, "Cast": cast, "Reshape": reshape, "Table": table}
