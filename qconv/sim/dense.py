"""Integer-exact numpy kernels of the dense family: Dense, MatMul.

The same arithmetic as the C++ kernels in templates/kernels/qconv_dense.h: products and sums are
exact in the accumulator type; the only rounding/overflow happens at the final cast into the output type.
"""

from __future__ import annotations

import numpy as np

from .arith import finish_accumulation, linear, matmul_activations, matmul_exact, product_drop
from .registry import kernel


def dense_plan(node, xts):
    """The float route of the layer (arith.Linear), or None for the int64 route."""
    b = node.consts.get("b")
    return linear(node, xts[0], node.consts["W"].values, None if b is None else b.values)


@kernel("Dense", plan=dense_plan, floats=True)
def dense(node, xs, xts, plan):
    if plan is not None:
        return plan(xs[0])
    drop = product_drop(node, xts[0])  # bits an accumulator narrower than the products drops
    x = np.asarray(xs[0], np.int64)
    return finish_accumulation(matmul_exact(x, node.consts["W"].values, xts[0], drop), node, xts[0])


@kernel("MatMul")
def matmul(node, xs, xts):
    """a @ b of two activations: exact sums in the lossless accumulator, one cast to the output."""
    return node.out.fixed.cast(matmul_activations(xs[0], xs[1], xts[0], xts[1]), node.attrs["accum"],
                               return_overflow=True)
