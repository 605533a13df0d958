"""Precompute the lookup tables of `Table` activations (Sigmoid, ...), once, in Python.

For an input type with mantissas m and output type T, entry(m) = T(f(m * 2^-F)) with T's
rounding and overflow. The functions are monotone, so the rounded output is constant below
some mantissa `lo` and above some `hi`: the table covers exactly [lo, hi] and inputs outside are
clamped to it, which changes no result (every input bit is honoured). The C++ kernel and the
simulator read the same entries, so they agree by construction.

When that range is wide (over STEP_TABLE mantissas) but the function takes few distinct
values (up to FEW_LEVELS, or up to MAX_LEVELS where a table would exceed MAX_TABLE) (a po2, binary, ternary or low-bit activation quantizer), the node becomes `Thresholds`:
the input mantissas where the output changes, found by bisection, and the output levels;
output = levels[number of thresholds <= x] (the FINN MultiThreshold form), just as exact.
"""

from __future__ import annotations

import functools

import numpy as np

from ..analysis import activations
from ..analysis.activations import FUNCTIONS
from ..analysis.steps import monotone_steps
from ..errors import TypeOverflowError
from ..fixed import FixedType
from ..ir import Const, Graph
from .options import Options
from . import fuse_requantizer

MAX_TABLE = 1 << 16
EXHAUSTIVE_TABLE = 1 << 22  # input types with up to this many mantissas are evaluated exhaustively
STEP_TABLE = 1 << 12  # wider than this: a step function becomes thresholds (if few levels)
MAX_LEVELS = 1024     # more levels than this: never thresholds
FEW_LEVELS = 64       # up to this many levels, thresholds beat a table wider than STEP_TABLE


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


def _changing_range(fn, t_in, t_out) -> tuple[int, int]:
    """The smallest [lo, hi] outside which the rounded output is constant (below lo equal to
    f(min), above hi equal to f(max)), from every input mantissa: exact for any function."""
    codes = np.arange(t_in.min_mantissa, t_in.max_mantissa + 1)
    m = _entries(fn, t_in, t_out, codes)
    first = np.nonzero(m != m[0])[0]
    last = np.nonzero(m != m[-1])[0]
    lo = codes[first[0] - 1] if first.size else codes[0]
    hi = codes[last[-1] + 1] if last.size else codes[0]
    return int(lo), int(max(hi, lo))


def _steps(fn, t_in, t_out, lo: int, hi: int):
    """(thresholds, levels) of a step function of the mantissa on lo..hi; None if over
    MAX_LEVELS levels or not nondecreasing."""
    ends = _entries(fn, t_in, t_out, [lo, hi])
    if ends[0] > ends[1]:
        return None
    return monotone_steps(lambda c: _entries(fn, t_in, t_out, c), lo, hi, max_levels=MAX_LEVELS)


def _mantissa_thresholds(node, t_in: FixedType) -> None:
    """x >= thr  <=>  mantissa >= ceil(thr * 2^F): float thresholds (FINN MultiThreshold,
    bipolar sign) as exact integer comparisons, clamped just outside the input's range."""
    thr = np.asarray(node.attrs.pop("float_thresholds"), np.float64)
    mant = np.ceil(np.ldexp(thr, t_in.frac))
    mant = np.clip(mant, t_in.min_mantissa, t_in.max_mantissa + 1).astype(np.int64)
    node.consts["thresholds"] = Const(mant, t_in)


def _quantizer_function(node, t_in: FixedType):
    """x -> q(x) in float32, as QKeras computes it: exact only if every input is a float32."""
    if t_in.width > 24:
        raise TypeOverflowError(f"{node.describe()}: input type {t_in.to_cpp()} has more than 24 bits, so "
                                f"its values are not all float32 numbers; quantize the input to <= 24 bits")
    q = node.attrs["quantizer"]
    return lambda x: np.asarray(q(np.asarray(x, np.float32)), np.float64)


def apply(graph: Graph, options: Options) -> Graph:
    for node in graph.topo():
        if node.op == "Thresholds" and "chain" in node.attrs:
            fuse_requantizer.resolve(node, graph)
        elif node.op == "Thresholds" and "float_thresholds" in node.attrs:
            _mantissa_thresholds(node, graph.producers(node)[0].out.fixed)
        if node.op == "Softmax":
            activations.softmax_tables(node, graph.producers(node)[0].out.fixed)
        if node.op != "Table":
            continue
        (src,) = graph.producers(node)
        t_in, t_out = src.out.fixed, node.out.fixed
        if node.attrs["fn"] == "quantizer":  # a config's activation quantizer (QKeras float32 semantics)
            fn = _quantizer_function(node, t_in)
        else:
            fn = functools.partial(FUNCTIONS[node.attrs["fn"]], **node.attrs.get("params", {}))
        if t_in.max_mantissa - t_in.min_mantissa < EXHAUSTIVE_TABLE:
            lo, hi = _changing_range(fn, t_in, t_out)  # any function: every mantissa evaluated
        elif node.attrs.get("monotone", True):
            lo = _edge(fn, t_in, t_out, t_in.min_mantissa, t_in.max_mantissa)
            hi = _edge(fn, t_in, t_out, t_in.max_mantissa, lo)
        else:  # the whole input range
            lo, hi = t_in.min_mantissa, t_in.max_mantissa
        if hi - lo + 1 > STEP_TABLE and node.attrs.get("monotone", True):
            steps = _steps(fn, t_in, t_out, lo, hi)
            few = steps is not None and (len(steps[1]) <= FEW_LEVELS or hi - lo + 1 > MAX_TABLE)
            if few:  # few output levels over a wide input: compare with thresholds
                thresholds, levels = steps
                node.op = "Thresholds"
                node.consts["thresholds"] = Const(np.array([thresholds], np.int64), t_in)
                node.consts["levels"] = Const(np.array([levels], np.int64), t_out)
                node.attrs.update(inner=1, period=1)
                continue
        if hi - lo + 1 > MAX_TABLE:
            raise TypeOverflowError(
                f"{node.describe()}: a {node.attrs['fn']} table for input {t_in.to_cpp()} would need "
                f"{hi - lo + 1} entries (limit {MAX_TABLE}); quantize the input to fewer fractional bits")
        node.attrs.update(lo=lo, hi=hi)
        node.consts["table"] = Const(_entries(fn, t_in, t_out, np.arange(lo, hi + 1)), t_out)
    return graph
