"""Element-wise arithmetic kernels: Add, Sub, Mul of two tensors or of a tensor and a constant
broadcast along memory axes (c[(i // inner) % period]), and Gather (pads, resizes)."""

from __future__ import annotations

import numpy as np

from .arith import align
from .registry import kernel


def _combine(fn, a, ta, b, tb, exact):
    if fn == "mul":
        return a * b
    frac = exact.frac
    a, b = align(a, ta, frac), align(b, tb, frac)
    return a + b if fn == "add" else a - b


def broadcast_const(node, n_elems: int) -> np.ndarray:
    """The node's constant `c` laid out over the flat per-sample memory (i // inner) % period."""
    c = node.consts["c"].values.reshape(-1)
    i = np.arange(n_elems)
    return c[(i // node.attrs["inner"]) % node.attrs["period"]]


@kernel("Eltwise")
def eltwise(node, xs, xts):
    exact = node.attrs["exact"]
    n = xs[0].shape[0]
    a = xs[0].reshape(n, -1)
    if len(xs) > 1:
        b, tb = xs[1].reshape(n, -1), xts[1]
    else:
        b, tb = broadcast_const(node, a.shape[1])[None, :], node.consts["c"].fixed
    y, ovf = node.out.fixed.cast(_combine(node.attrs["fn"], a, xts[0], b, tb, exact), exact, return_overflow=True)
    return y.reshape((n, *node.out.shape)), ovf


@kernel("Gather")
def gather(node, xs, xts):
    n = xs[0].shape[0]
    idx = node.consts["idx"].values
    flat = xs[0].reshape(n, -1)
    y = np.where(idx[None, :] < 0, 0, flat[:, np.maximum(idx, 0)])
    return node.out.fixed.cast(y, xts[0], return_overflow=True)[0].reshape((n, *node.out.shape)), None
