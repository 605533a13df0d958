"""Precompute the lookup tables of `Table` activations (Sigmoid, ...), once, in Python.

For an input type with mantissas m and output type T, entry(m) = T(f(m * 2^-F)) with T's
rounding and overflow. The functions are monotone, so the rounded output is constant below
some mantissa `lo` and above some `hi`: the table covers exactly [lo, hi] and inputs outside are
clamped to it, which changes no result (every input bit is honoured). The C++ kernel and the
simulator read the same entries, so they agree by construction.
"""

from __future__ import annotations

import functools

import numpy as np

from . import activations
from ..errors import TypeOverflowError
from ..fixed import FixedType
from ..ir import Const, Graph

MAX_TABLE = 1 << 16
FUNCTIONS = {
    "sigmoid": lambda x: 0.5 * (1.0 + np.tanh(0.5 * x)),  # = 1/(1+exp(-x)), no overflow warnings
    "tanh": np.tanh,
    # ONNX Elu/Selu (attrs params: alpha, gamma); monotone unless alpha < 0 (attrs monotone)
    "elu": lambda x, alpha=1.0: np.where(x >= 0, x, alpha * np.expm1(np.minimum(x, 0.0))),
    "selu": lambda x, alpha=1.67326319217681884765625, gamma=1.05070102214813232421875:
        gamma * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0))),
}


def _entries(fn, t_in: FixedType, t_out: FixedType, codes) -> np.ndarray:
    return t_out.from_float(fn(t_in.to_float(np.asarray(codes, np.int64))))


def _edge(fn, t_in, t_out, start: int, stop: int) -> int:
    """The last mantissa c, walking from `start` towards `stop`, whose entry equals start's
    (binary search; the function is monotone)."""
    target = _entries(fn, t_in, t_out, [start])[0]
    good, bad = start, stop
    if _entries(fn, t_in, t_out, [stop])[0] == target:
        return stop
    while abs(bad - good) > 1:
        mid = (good + bad) // 2
        if _entries(fn, t_in, t_out, [mid])[0] == target:
            good = mid
        else:
            bad = mid
    return good


def apply(graph: Graph, options=None) -> Graph:
    for node in graph.topo():
        if node.op == "Softmax":
            activations.softmax_tables(node, graph.producers(node)[0].out.fixed)
        if node.op != "Table":
            continue
        (src,) = graph.producers(node)
        t_in, t_out = src.out.fixed, node.out.fixed
        fn = functools.partial(FUNCTIONS[node.attrs["fn"]], **node.attrs.get("params", {}))
        if node.attrs.get("monotone", True):
            lo = _edge(fn, t_in, t_out, t_in.min_mantissa, t_in.max_mantissa)
            hi = _edge(fn, t_in, t_out, t_in.max_mantissa, lo)
        else:  # the whole input range
            lo, hi = t_in.min_mantissa, t_in.max_mantissa
        if hi - lo + 1 > MAX_TABLE:
            raise TypeOverflowError(
                f"{node.describe()}: a {node.attrs['fn']} table for input {t_in.to_cpp()} would need "
                f"{hi - lo + 1} entries (limit {MAX_TABLE}); quantize the input to fewer fractional bits")
        node.attrs.update(lo=lo, hi=hi)
        node.consts["table"] = Const(_entries(fn, t_in, t_out, np.arange(lo, hi + 1)), t_out)
    return graph
