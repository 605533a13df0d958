"""Integer-exact numpy kernels of the basic ops: Dense, MatMul, Relu, Table, Cast, Reshape, Transpose.

The same arithmetic as the C++ kernels in templates/kernels: products and sums are exact in the
accumulator type; the only rounding/overflow happens at the final cast into the output type.
"""

from __future__ import annotations

import numpy as np

from .arith import finish_accumulation, matmul_activations, matmul_exact, product_drop
from .registry import kernel


@kernel("Dense")
def dense(node, xs, xts):
    drop = product_drop(node, xts[0])  # bits an accumulator narrower than the products drops
    return finish_accumulation(matmul_exact(xs[0], node.consts["W"].values, xts[0], drop), node, xts[0])


@kernel("MatMul")
def matmul(node, xs, xts):
    """a @ b of two activations: exact sums in the lossless accumulator, one cast to the output."""
    return node.out.fixed.cast(matmul_activations(xs[0], xs[1], xts[0], xts[1]), node.attrs["accum"],
                               return_overflow=True)


@kernel("Relu")
def relu(node, xs, xts):
    return node.out.fixed.cast(np.maximum(xs[0], 0), xts[0], return_overflow=True)


@kernel("Table")
def table(node, xs, xts):
    lo, hi = node.attrs["lo"], node.attrs["hi"]
    return node.consts["table"].values[np.clip(xs[0], lo, hi) - lo], None


@kernel("Cast")
def cast(node, xs, xts):
    return node.out.fixed.cast(xs[0], xts[0], return_overflow=True)


@kernel("Reshape")
def reshape(node, xs, xts):
    return xs[0].reshape((xs[0].shape[0],) + node.out.shape), None


@kernel("Transpose")
def transpose(node, xs, xts):
    perm = (0,) + tuple(p + 1 for p in node.attrs["perm"])
    return np.ascontiguousarray(xs[0].transpose(perm)), None


@kernel("Thresholds")
def thresholds(node, xs, xts):
    """levels[k, #{j : x >= thresholds[k, j]}] with channel k = (i // inner) % period: a
    nondecreasing step function of the input mantissa per channel (FINN's MultiThreshold)."""
    thr, levels = node.consts["thresholds"].values, node.consts["levels"].values  # (P, T), (P, T + 1)
    n = xs[0].shape[0]
    x = xs[0].reshape(n, -1)
    k = (np.arange(x.shape[1]) // node.attrs["inner"]) % node.attrs["period"]
    count = np.zeros(x.shape, np.int64)
    for j in range(thr.shape[1]):
        count += x >= thr[k, j][None, :]
    return levels[k[None, :], count].reshape((n, *node.out.shape)), None


@kernel("ArgMax")
def argmax(node, xs, xts):
    """The index of the first largest element (ONNX TopK's order for ties)."""
    n = xs[0].shape[0]
    return np.argmax(xs[0].reshape(n, -1), axis=1).astype(np.int64).reshape(n, 1), None
