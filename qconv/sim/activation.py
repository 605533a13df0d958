"""Integer-exact numpy kernels of the activation family: Relu, Table, Cast, and the arithmetic
activations PRelu (LeakyRelu), HardSigmoid, Clip, Softmax. The same arithmetic as templates/kernels/qconv_activation.h; the types and
constants are chosen in qconv/analysis/activations.py (its docstring has the semantics); the
PRelu and HardSigmoid arithmetic is qconv/numeric.py's, shared with those type rules."""

from __future__ import annotations

import numpy as np

from ..numeric import hard_sigmoid_exact, prelu_negative
from .registry import kernel


@kernel("Relu", floats=True)
def relu(node, xs, xts):
    x = xs[0]
    # max(x, 0); on float mantissas as clip(x, 0, inf), which runs numpy's vectorised loop (2x faster
    # in float64 and 3x in float32 than maximum against a scalar, numpy 2.4); ints: no faster
    y = np.clip(x, 0.0, np.inf) if x.dtype.kind == "f" else np.maximum(x, 0)
    return node.out.fixed.cast(y, xts[0], return_overflow=True, as_float=True)


@kernel("Table")
def table(node, xs, xts):
    lo, hi = node.attrs["lo"], node.attrs["hi"]
    return node.consts["table"].values[np.clip(xs[0], lo, hi) - lo], None


@kernel("Cast")
def cast(node, xs, xts):
    return node.out.fixed.cast(xs[0], xts[0], return_overflow=True)


@kernel("PRelu")
def prelu(node, xs, xts):
    n = xs[0].shape[0]
    x = xs[0].reshape(n, -1)
    out = node.out.fixed
    pos, pos_ovf = out.cast(x, xts[0], return_overflow=True)
    a, slope = node.attrs, node.consts.get("slope")
    if a.get("shift") is not None:
        neg, neg_ovf = prelu_negative(x, xts[0], out, a["shift"])
    else:
        neg, neg_ovf = prelu_negative(x, xts[0], out, None, slope.values, slope.fixed, a["inner"], a["period"])
    y = np.where(x < 0, neg, pos)
    ovf = np.where(x < 0, neg_ovf, pos_ovf)
    return y.reshape((n, *node.out.shape)), ovf


@kernel("HardSigmoid")
def hard_sigmoid(node, xs, xts):
    alpha, beta = node.consts["alpha"], node.consts["beta"]
    t, acc = hard_sigmoid_exact(xs[0], xts[0], alpha.values, alpha.fixed, beta.values, beta.fixed)
    return node.out.fixed.cast(t, acc, return_overflow=True)


@kernel("Clip")
def clip(node, xs, xts):
    clamp = node.attrs["clamp"]
    t = xs[0] << (clamp.frac - xts[0].frac)
    if "lo" in node.consts:
        t = np.maximum(t, node.consts["lo"].values[0])
    if "hi" in node.consts:
        t = np.minimum(t, node.consts["hi"].values[0])
    return node.out.fixed.cast(t, clamp, return_overflow=True)


def softmax_mantissas(x: np.ndarray, node) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Softmax over axis 2 of x (N, outer, n, inner) int64 mantissas: (output mantissas, overflow
    mask, mask of the elements the argmax guard lowered by one lsb), each (N, outer, n, inner).
    Computed classes first: a copy of x as (n, N, outer, inner) makes the max and the sum over
    the n classes elementwise passes over whole slabs (numpy reduces a short last axis of 10
    values about 10x slower per value); the arithmetic is the same per element."""
    a = node.attrs
    table = node.consts["exp"].values
    x = np.ascontiguousarray(np.moveaxis(x, 2, 0))                          # (n, N, outer, inner)
    d = x.max(axis=0) - x                                                   # exact, >= 0
    e = table[np.minimum(d, table.size - 1)]                                # frac FE
    s = e.sum(axis=0)                                                       # exact, >= 2^FE
    r = (np.int64(1) << (a["exp_frac"] + a["recip_frac"])) // s             # floor(2^(FE+FR) / S)
    out = node.out.fixed
    p, ovf = out.cast(e * r, a["prod_t"], return_overflow=True)
    top = p.max(axis=0)
    demote = (d > 0) & (p == top) & (top > 0)                               # argmax guard
    y = p - demote.astype(np.int64)
    return np.moveaxis(y, 0, 2), np.moveaxis(ovf, 0, 2), np.moveaxis(demote, 0, 2)  # (N, outer, n, inner) views


@kernel("Softmax")
def softmax(node, xs, xts):
    a = node.attrs
    n = xs[0].shape[0]
    x = xs[0].reshape(n, a["outer"], a["n"], a["inner"])
    p, ovf, _ = softmax_mantissas(x, node)
    return p.reshape((n, *node.out.shape)), ovf.reshape((n, *node.out.shape))
