"""Which inputs of an exact requantizer a float32 reference may round the other way.

fuse_requantizer turns float arithmetic ending in a quantizer into thresholds evaluated with the
reference's own float32 arithmetic, so they equal the reference on every input, with one
exception. When the requantizer's input is the integer sum of a Dense/Conv whose input or weights
carry float (non-power-of-two) scales, the reference evaluated that layer in float32 on rounded
values (x = fl(q * s), w likewise, float32 products and sums, in an order of its own), so its sum
is only within a rounding error of the exact one that qconv computes. An accumulator value that
close to a rounding boundary of the quantizer (an exact tie, or nearly) may round either way in a
float32 evaluation; qconv rounds the exact sum. This module bounds that error per output channel,
counts such accumulator values (only codes near a threshold can be affected, so only those are
evaluated) and words the warning that `qconv build`/`sim` print and `qconv conform` records.
"""

from __future__ import annotations

import math

import numpy as np

from .. import ops
from ..ir import Graph, Node

FLOAT32_UNIT = 2.0**-24
MAX_REACH = 1 << 12  # codes examined on each side of a threshold (beyond: the count is a lower bound)
MAX_CODES = 1 << 24  # codes examined per requantizer, all channels (beyond: the count is a lower bound)
BATCH = 1 << 20      # codes evaluated at once


def scaled_layer(graph: Graph, src: Node) -> tuple[Node | None, bool]:
    """(the Dense/Conv/MatMul whose float32-evaluated sums reach `src` unchanged in value, through Relu,
    max pooling and data movement; whether channel positions are kept on the way), or None."""
    keeps_channels = True
    while not ops.has(src.op, ops.MAC):
        if src.op == "Pool" and src.attrs.get("mode") == "max":
            pass  # channels-last windows: the channel index is kept
        elif ops.has(src.op, ops.LAYOUT):  # values kept, positions moved
            keeps_channels = False
        elif not ops.has(src.op, ops.SELECTS):  # Relu: channel index and value (or 0) kept
            return None, False
        src = graph.producers(src)[0]
    return src, keeps_channels


def layer_error(graph: Graph, layer: Node) -> np.ndarray:
    """Per output channel of a Dense/Conv, a bound on |float32 evaluation - exact sum|, in the
    units of the exact sum: (n + 5) u max|x| sum_i |w_i|, u = 2^-24, n the fan-in. First order:
    n + 2 roundings in the reference (x, w, the product, n - 1 additions) plus up to 3 in the
    threshold chain's own float32 evaluation (the input and two scale multiplies). A MatMul of
    two activations: one bound for all outputs, k max|a| max|b| in place of max|x| sum|w|."""
    if layer.op == "MatMul":
        a, b = (p.out.fixed for p in graph.producers(layer))
        k = layer.attrs["k"]
        return np.array([(k + 5) * FLOAT32_UNIT * k * _max_abs(a) * _max_abs(b)])
    w = layer.consts["W"]
    values = np.abs(w.fixed.to_float(w.values))
    colsum = values.sum(axis=0) if layer.op == "Dense" else values.reshape(values.shape[0], -1).sum(axis=1)
    fan_in = values.shape[0] if layer.op == "Dense" else int(np.prod(values.shape[1:]))
    return (fan_in + 5) * FLOAT32_UNIT * _max_abs(graph.producers(layer)[0].out.fixed) * colsum


def _max_abs(t) -> float:
    return max(abs(t.to_float(t.min_mantissa)), abs(t.to_float(t.max_mantissa)))


def count_ambiguous(graph: Graph, node: Node, t_in, thresholds: list, outputs) -> None:
    """Record on the thresholds node how many input codes (mantissas of `t_in`) change output
    within the error bound of the layer before: `outputs(codes, k, shift)` evaluates channel k's
    chain on the codes' values + shift. Sets attrs ambiguous = (count, total, lower_bound)."""
    layer, keeps_channels = scaled_layer(graph, graph.producers(node)[0])
    error = layer_error(graph, layer)
    a = node.attrs
    per_channel = keeps_channels and a["inner"] == 1 and error.size == a["period"]
    lo, hi = t_in.min_mantissa, t_in.max_mantissa
    count, capped, budget = 0, False, MAX_CODES
    for k, steps in enumerate(thresholds):
        e = float(error[k] if per_channel else error.max())
        reach = math.ceil(e / t_in.lsb)
        capped |= reach > MAX_REACH
        for first, last in zip(*_near_intervals(steps, min(reach, MAX_REACH), lo, hi)):
            for start in range(int(first), int(last) + 1, BATCH):
                if budget <= 0:
                    capped = True
                    break
                end = min(int(last) + 1, start + BATCH)
                if budget < end - start:  # the budget ends inside this batch: the codes past it go unexamined
                    capped, end = True, start + budget
                codes = np.arange(start, end)
                budget -= codes.size
                count += int(np.count_nonzero(outputs(codes, k, -e) != outputs(codes, k, e)))
    a["ambiguous"] = (count, (hi - lo + 1) * len(thresholds), capped)
    a["ambiguous_layer"] = layer.describe()


def _near_intervals(steps: list, reach: int, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """The codes t - reach - 1 .. t + reach around every threshold t, within lo..hi, as disjoint
    sorted intervals (first, last), inclusive. Neighbouring windows overlap: an array of every
    window's codes, made unique, held 4 GiB and took 95 s for a 16-bit output's 65,535
    thresholds. No thresholds: the one code lo."""
    if not steps:
        return np.array([lo]), np.array([lo])
    t = np.sort(np.asarray(steps, np.int64))
    first, last = np.maximum(t - reach - 1, lo), np.minimum(t + reach, hi)
    first, last = first[first <= last], last[first <= last]
    if not first.size:
        return first, last
    reach_end = np.maximum.accumulate(last)
    opens = np.flatnonzero(np.r_[True, first[1:] > reach_end[:-1] + 1])
    return first[opens], np.r_[reach_end[opens[1:] - 1], reach_end[-1:]]


def warnings(graph: Graph) -> list[str]:
    """One line per requantizer with ambiguous accumulator values (see module doc)."""
    lines = []
    for node in graph.topo():
        count, total, capped = node.attrs.get("ambiguous", (0, 0, False))
        if count or capped:  # a capped 0 is "not known", not "none"
            lines.append(f"{node.describe()}: {'at least ' if capped else ''}{count} of {total} accumulator values "
                         f"of {node.attrs['ambiguous_layer']} (float-scaled inputs or weights) lie within float32 "
                         "rounding error of a rounding boundary of this quantizer; qconv rounds the exact sum there, "
                         "a float32 evaluation of the model (PyTorch, qonnx) may round either way")
    return lines


def near_codes(graph: Graph, trace: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per requantizer with ambiguous accumulator values (count_ambiguous), which elements of a traced
    simulation (`sim.run(..., trace=True).trace`) read a code within its layer's float32 error bound
    of one of its thresholds: where a float32 reference may differ from qconv (a superset: a code
    near a threshold may still round the same way). Node name -> bool array (samples, elements)."""
    out = {}
    for node in graph.topo():
        if not node.attrs.get("ambiguous", (0,))[0]:
            continue
        src = graph.producers(node)[0]
        codes = np.asarray(trace[src.name]).reshape(len(trace[src.name]), -1)
        layer, keeps_channels = scaled_layer(graph, src)
        error = layer_error(graph, layer)
        a, thr = node.attrs, node.consts["thresholds"].values
        channel = (np.arange(codes.shape[1]) // a["inner"]) % a["period"]
        per_channel = keeps_channels and a["inner"] == 1 and error.size == a["period"]
        reach = np.ceil((error[channel] if per_channel else np.full(channel.size, error.max())) / src.out.fixed.lsb) + 1
        near = np.zeros(codes.shape, bool)
        for j in range(thr.shape[1]):
            near |= np.abs(codes - thr[channel, j][None, :]) <= reach[None, :]
        out[node.name] = near
    return out


def near_boundary(graph: Graph, trace: dict[str, np.ndarray]) -> np.ndarray:
    """Per sample, whether any element is `near_codes`: the samples a float32 reference may differ on."""
    flagged = np.zeros(len(next(iter(trace.values()))), bool)
    for near in near_codes(graph, trace).values():
        flagged |= near.any(axis=1)
    return flagged
