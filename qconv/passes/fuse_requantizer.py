"""Fuse float arithmetic that ends in a quantizer into one exact threshold layer (FINN's way).

Between an exact fixed-point tensor (an accumulator) and a quantizer, exported models often
compute in float: BatchNorm, Mul/Add/Sub/Div by float constants, Relu, monotone table
activations (Sigmoid, Tanh, ... after a float scale, as onnxruntime's QLinearSigmoid and
DQ -> Sigmoid -> Q are) (e.g. the TFC models: MatMul -> BatchNorm -> Quant). Such a chain followed by its quantizer is a function of the input
mantissa alone, per channel: here it becomes a `Thresholds` node whose thresholds and levels
are found, once the input type is known (build_tables), by evaluating the reference's own
float32 arithmetic (onnxruntime's BatchNorm formula, float32 division...) on **every** reachable
input mantissa. The result equals the reference on every input by construction, with one
exception that is measured and reported: after a Dense/Conv with float-scaled inputs or weights,
accumulator values within the reference's float32 rounding error of a rounding boundary
(analysis/float32_error.py).
With --no-fold-bn a chain holding a BatchNorm is left alone (BatchNorm stays its own layer).
"""

from __future__ import annotations

import numpy as np

from .. import ops
from ..analysis import float32_error
from ..analysis.activations import FUNCTIONS
from ..analysis.steps import monotone_steps
from ..ir import Const, Graph, Node, TensorType
from .options import Options

EXHAUSTIVE = 1 << 16  # up to this many input mantissas, every one is evaluated


def _chain_link(graph: Graph, node: Node) -> bool:
    if node.name in graph.outputs or len(graph.consumers(node.name)) != 1 or node.out.fixed is not None:
        return False
    if ops.has(node.op, ops.ALIAS):  # no data movement: the flat element index, hence the channel, is kept
        return True
    if node.op == "Table":  # a monotone activation (Sigmoid, Tanh...): the reference's float32 f
        return node.attrs.get("monotone", True)
    return node.op == "Relu" or (node.op == "Eltwise" and len(node.inputs) == 1 and "float_op" in node.attrs)


def _terminal(node: Node) -> bool:
    """A quantizer that the chain can end in."""
    return (node.op == "Quant" and "quant" in node.attrs) or (node.op == "Thresholds" and "float_thresholds" in node.attrs)


def apply(graph: Graph, options: Options) -> Graph:
    for q in list(graph.topo()):
        if not _terminal(q):
            continue
        chain = []
        src = graph.producers(q)[0]
        while _chain_link(graph, src):
            chain.insert(0, src)
            src = graph.producers(src)[0]
        if (q.attrs.get("integer_output") and src.op == "Input" and len(graph.consumers(src.name)) == 1
                and all(ops.has(n.op, ops.ALIAS) for n in chain)):
            src.out.fixed = q.attrs["type"]  # q = round(x / s) of the graph input (maybe reshaped): on the host
            src.attrs["type_source"] = "quantizer"
            src.attrs["input_quant"] = q.attrs["quant"]
            graph.bypass(q)
            continue
        if not any(n.op == "Eltwise" for n in chain) and not q.attrs.get("integer_output"):
            continue  # nothing float to fuse (a plain Relu -> Quant stays a typed Relu)
        if not options.fold_batchnorm and any(n.attrs.get("batchnorm") for n in chain):
            continue  # --no-fold-bn: BatchNorm stays a layer of its own
        _fuse(graph, chain, q, src)
    return graph


def _fuse(graph: Graph, chain: list[Node], q: Node, src: Node) -> None:
    steps = [("relu",) if n.op == "Relu" else
             ("table", n.attrs["fn"], n.attrs.get("params", {})) if n.op == "Table" else
             (n.attrs["float_op"], n.attrs["inner"], n.attrs["period"])
             for n in chain if not ops.has(n.op, ops.ALIAS)]
    patterns = {(s[1], s[2]) for s in steps if s[0] not in ("relu", "table") and s[2] > 1}
    if len(patterns) > 1:
        return  # constants vary along different axes: leave the chain to the default types
    inner, period = patterns.pop() if patterns else (1, 1)
    out = TensorType(q.out.shape, q.out.fixed or q.attrs.get("type"))
    requant = Node(q.name, "Thresholds", [src.name], out, origin=q.origin, source=q.source,
                   attrs={"inner": inner, "period": period, "chain": steps, "type_source": "quantizer",
                          "quantizer": q.attrs.get("quant"), "float_thresholds": q.attrs.get("float_thresholds"),
                          "integer_output": q.attrs.get("integer_output", False),
                          "levels_of_count": q.consts.get("levels")})
    if any("scale_of" in n.attrs for n in chain) and float32_error.scaled_layer(graph, src)[0] is not None:
        requant.attrs["float_layer"] = True  # the reference summed float-scaled values in float32
    src.attrs["exact_output"] = True  # the thresholds read its exact value (no --default-type cast)
    graph.replace(chain + [q], requant)


def _float_chain(steps, values: np.ndarray, k: int) -> np.ndarray:
    """The reference's float32 arithmetic on input values, for channel pattern index k."""
    def const(c):
        c = np.asarray(c, np.float32).reshape(-1)
        return c[k] if c.size > 1 else c[0]

    v = values.astype(np.float32)
    for step in steps:
        if step[0] == "relu":
            v = np.maximum(v, np.float32(0))
            continue
        if step[0] == "table":  # f correctly rounded to float32 (float64 evaluation, one rounding)
            v = np.asarray(FUNCTIONS[step[1]](v.astype(np.float64), **step[2]), np.float32)
            continue
        op, *consts = step[0]
        if op == "muladd":
            v = v * const(consts[0]) + const(consts[1])
        else:
            c = const(consts[0])
            v = {"add": lambda: v + c, "sub": lambda: v - c, "rsub": lambda: c - v,
                 "mul": lambda: v * c, "div": lambda: v / c}[op]()
        v = np.asarray(v, np.float32)
    return v


def resolve(node: Node, graph: Graph) -> None:
    """Thresholds and levels of a fused chain over the input mantissas of its input type, per
    channel: every mantissa evaluated when there are at most EXHAUSTIVE of them, else the change
    points found by bisection (every step of the chain is monotone per channel, so is the whole).
    After a float-scaled layer, also counts the ambiguous sums (analysis/float32_error.py)."""
    a = node.attrs
    out_t = node.out.fixed
    t_in = graph.producers(node)[0].out.fixed
    lo, hi = t_in.min_mantissa, t_in.max_mantissa

    def outputs(codes: np.ndarray, k: int, shift: float = 0.0) -> np.ndarray:
        v = _float_chain(a["chain"], t_in.to_float(codes) + shift, k)
        if a["quantizer"] is not None and a.get("integer_output"):
            y = np.asarray(a["quantizer"].centered(v), np.float64)  # the integers q (scale kept apart)
        elif a["quantizer"] is not None:
            y = np.asarray(a["quantizer"](v), np.float64)
        else:  # bipolar sign / MultiThreshold on the float value
            thr = np.asarray(a["float_thresholds"], np.float64)
            row = thr[k % thr.shape[0]].astype(np.float32)
            count = (v[:, None] >= row[None, :]).sum(axis=1)
            lv = a["levels_of_count"]
            y = lv.fixed.to_float(lv.values[k % lv.values.shape[0]][count])
        return out_t.from_float(y)

    thresholds, levels = [], []
    for k in range(a["period"]):
        if hi - lo < EXHAUSTIVE:
            codes = np.arange(lo, hi + 1)
            m = outputs(codes, k)
            change = np.nonzero(np.diff(m))[0] + 1
            thresholds.append(list(codes[change]))
            levels.append([int(m[0])] + [int(v) for v in m[change]])
        else:
            t, lv = monotone_steps(lambda c: outputs(c, k), lo, hi)
            thresholds.append(t)
            levels.append(lv)
    if a.get("float_layer"):
        float32_error.count_ambiguous(graph, node, t_in, thresholds, outputs)
    width = max(1, max(len(t) for t in thresholds))
    thr = np.full((a["period"], width), hi + 1, np.int64)
    lev = np.zeros((a["period"], width + 1), np.int64)
    for k, (t, lv) in enumerate(zip(thresholds, levels)):
        thr[k, :len(t)] = t
        lev[k, :len(lv)] = lv
        lev[k, len(lv):] = lv[-1]
    node.consts["thresholds"] = Const(thr, t_in)
    node.consts["levels"] = Const(lev, out_t)
    for key in ("chain", "quantizer", "float_thresholds", "levels_of_count", "integer_output", "float_layer"):
        a.pop(key, None)
