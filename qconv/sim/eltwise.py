"""Element-wise kernels: Add/Sub/Mul of two tensors or with a constant broadcast along memory
axes (c[(i // inner) % period]), multiply-add (BatchNorm), Concat, and Gather (transposes,
pads, nearest resizes); the layout ops Reshape, Transpose and ArgMax."""

from __future__ import annotations

import numpy as np

from ..fixed import product_type
from .arith import align
from .registry import kernel


def broadcast_const(node, key: str, n_elems: int) -> np.ndarray:
    """The node's constant `key` laid out over the flat per-sample memory (i // inner) % period."""
    c = node.consts[key].values.reshape(-1)
    i = np.arange(n_elems)
    return c[(i // node.attrs["inner"]) % node.attrs["period"]]


def combine(fn: str, a, ta, b, tb, exact):
    """a OP b on mantissas, exactly, as mantissas of the `exact` result type."""
    if fn == "mul":
        return a * b
    a, b = align(a, ta, exact.frac), align(b, tb, exact.frac)
    return {"add": a + b, "sub": a - b, "rsub": b - a}[fn]


@kernel("Eltwise")
def eltwise(node, xs, xts):
    exact, fn = node.attrs["exact"], node.attrs["fn"]
    n = xs[0].shape[0]
    a = xs[0].reshape(n, -1)
    if len(xs) > 1:
        y = combine(fn, a, xts[0], xs[1].reshape(n, -1), xts[1], exact)
    elif fn == "muladd":
        s, t = node.consts["c"], node.consts["t"]
        prod = a * broadcast_const(node, "c", a.shape[1])[None, :]
        y = combine("add", prod, product_type(xts[0], s.fixed), broadcast_const(node, "t", a.shape[1])[None, :],
                    t.fixed, exact)
    else:
        c = broadcast_const(node, "c", a.shape[1])[None, :]
        y = combine(fn, a, xts[0], c, node.consts["c"].fixed, exact)
    y, ovf = node.out.fixed.cast(y, exact, return_overflow=True)
    return y.reshape((n, *node.out.shape)), ovf


@kernel("Concat")
def concat(node, xs, xts):
    axis = 1 + node.attrs["axis"]
    parts = [node.out.fixed.cast(x, t, return_overflow=True) for x, t in zip(xs, xts)]
    return (np.concatenate([y for y, _ in parts], axis=axis),
            np.concatenate([np.broadcast_to(o, y.shape) for y, o in parts], axis=axis))


@kernel("Gather")
def gather(node, xs, xts):
    n = xs[0].shape[0]
    idx = node.consts["idx"].values
    flat = xs[0].reshape(n, -1)
    y = np.where(idx[None, :] < 0, 0, flat[:, np.maximum(idx, 0)])
    return node.out.fixed.cast(y, xts[0]).reshape((n, *node.out.shape)), None


@kernel("Reshape", floats=True)
def reshape(node, xs, xts):
    return xs[0].reshape((xs[0].shape[0],) + node.out.shape), None


@kernel("Transpose")
def transpose(node, xs, xts):
    perm = (0,) + tuple(p + 1 for p in node.attrs["perm"])
    return np.ascontiguousarray(xs[0].transpose(perm)), None


@kernel("ArgMax")
def argmax(node, xs, xts):
    """The index of the first largest element (ONNX TopK's order for ties)."""
    n = xs[0].shape[0]
    return np.argmax(xs[0].reshape(n, -1), axis=1).astype(np.int64).reshape(n, 1), None
