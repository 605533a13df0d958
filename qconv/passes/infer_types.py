"""Give every tensor a fixed-point type, losslessly unless the user or a quantizer said otherwise.

One rule per op (RULES). A node that already has an output type (an absorbed quantizer) keeps
it; otherwise `--default-type` applies where the rule says "default", else the lossless type:
- Dense/Conv: the product of input and weight types (`<Wx+Ww, Ix+Iw>`), grown by
  ceil(log2 fan-in) integer bits, aligned with the bias and grown one bit for the bias add: the
  accumulator holds every partial sum exactly; the output is the accumulator type. That rule
  (also hls4ml's) caps `tight`; analysis/accumulators.choose picks the accumulator (--accumulator).
- MatMul of two activations: the same rule with k = the summed axis (no weights to tighten it).
- Relu, Reshape, Transpose, MaxPool: the input type (these never need more bits).
- AveragePool: window sum exact in the accumulator, times 1/count (see `pool_recip`).
- Add/Sub/Mul, BatchNorm's x*s+t: ap_fixed's exact result types; Concat: the union type.
- Gather (transposes, pads, resizes): the input type.
- Table activations (Sigmoid, output in [0, 1]): TABLE_OUTPUT; Tanh, Elu, Selu, and PRelu,
  HardSigmoid, Clip, Softmax: see analysis/activations.py.
Inputs take `--input-type`, then `--default-type`. A node marked `exact_output` (its exact value
is read downstream: commute_scales, fuse_requantizer) never takes `--default-type`.

Every node typed here records who chose its type (`type_source`, ir.TYPE_SOURCES): "option"
(--input-type/--default-type), "accumulator_cap" (a Dense/Conv output that is its
`--accumulator fixed:` cap) or "inferred"; a node typed before (an absorbed quantizer, a
config activation) keeps its mark, and FINN MultiThreshold/BipolarQuant levels, typed at
import, are "quantizer".
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .. import ops
from ..errors import TypeOverflowError, UnsupportedError
from ..fixed import FixedType, accumulate_type, product_type, sum_type, union_type
from ..ir import Const, Graph
from ..numeric import po2_exponents
from ..analysis import accumulators, activations
from ..analysis.qpooling import apply_to as qpooling_table
from .options import Options

TABLE_OUTPUT = FixedType(16, 1, signed=False, rounding="RND", overflow="SAT")
RECIP_EXTRA_BITS = 18  # fraction bits beyond log2(count) for 1/count when count is not a power of two


def _input(graph, node, ins, options):
    if node.out.fixed is not None:  # a quantizer on the input
        return node.out.fixed
    if node.attrs.get("annotation") is not None:  # a FINN datatype annotation (frontend/annotation.py)
        return node.attrs["annotation"]
    t = options.input_type or options.default_type
    if t is None:
        raise UnsupportedError(f"{node.describe()}: no single quantizer gives this input a fixed-point type "
                               "(it feeds none, or several); "
                               "pass --input-type (e.g. 'ap_fixed<8,3>') or --default-type")
    return t  # type_source "option" (apply): conformance casts its float reference inputs


def _accumulating(graph, node, ins, options):
    w = node.consts["W"]
    fan_in = w.values.shape[0] if node.op == "Dense" else int(np.prod(w.values.shape[1:]))
    acc = accumulate_type(product_type(ins[0], w.fixed), fan_in)
    if "b" in node.consts:
        acc = sum_type(acc, node.consts["b"].fixed)
    acc = accumulators.choose(graph, node, ins[0], acc, options.accumulator)  # --accumulator (tight by default)
    node.attrs["accum"] = acc
    return options.default_type or acc


def _matmul(graph, node, ins, options):
    """Two activations: no weight values to size by, so the accumulator is the lossless rule
    type (products grown by ceil(log2 k)) whatever --accumulator says."""
    acc = accumulate_type(product_type(ins[0], ins[1]), node.attrs["k"])
    node.attrs["accum"] = acc
    return options.default_type or acc


def _same_or_default(graph, node, ins, options):
    return options.default_type or ins[0]


def _same(graph, node, ins, options):
    return ins[0]


def pool_recip(counts: np.ndarray, max_count: int) -> Const:
    """1/count for every count 0..max_count as an unsigned fixed-point table (entry 0 unused):
    exact when every count that occurs is a power of two, else rounded (RND) to
    ceil(log2(max_count)) + RECIP_EXTRA_BITS fraction bits."""
    used = np.unique(counts)
    used = used[used > 0]
    po2 = used.size == 0 or po2_exponents(used) is not None
    frac = math.ceil(math.log2(max(max_count, 1))) + (0 if po2 else RECIP_EXTRA_BITS)
    t = FixedType(frac + 1, 1, signed=False, rounding="RND")
    values = [0.0] + [1.0 / c for c in range(1, max_count + 1)]
    return Const(t.from_float(np.array(values)), t)


def _pool(graph, node, ins, options):
    x = ins[0]
    if node.attrs["mode"] == "max":
        return options.default_type or x
    kh, kw = node.attrs["kernel"]
    recip = pool_recip(node.attrs["counts"], kh * kw)
    node.consts["recip"] = recip
    node.attrs["accum"] = accumulate_type(x.with_modes("TRN", "WRAP"), kh * kw)
    exact = recip.fixed.frac == math.ceil(math.log2(max(kh * kw, 1)))
    extra = 0 if exact else 1  # a rounded-up 1/count may push the mean past the input's range
    if node.attrs.get("average_quantizer") is not None:  # QKeras qpooling: sum * q(1/A) * A/count
        recip, extra = qpooling_table(node, x)
    lossless = FixedType(x.width + recip.fixed.frac + extra, x.integer + extra, x.signed)
    return options.default_type or lossless


def _eltwise(graph, node, ins, options):
    a = ins[0]
    b = ins[1] if len(ins) > 1 else node.consts["c"].fixed
    fn = node.attrs["fn"]
    if fn == "mul":
        exact = product_type(a, b)
    elif fn == "muladd":
        exact = sum_type(product_type(a, b), node.consts["t"].fixed)
    else:
        exact = sum_type(a, b)
        if fn in ("sub", "rsub") and not exact.signed:
            exact = FixedType(exact.width + 1, exact.integer + 1, True)
    node.attrs["exact"] = exact
    return options.default_type or exact


def _concat(graph, node, ins, options):
    out = ins[0]
    for t in ins[1:]:
        out = union_type(out, t)
    return options.default_type or out.with_modes("TRN", "WRAP")


def _table(graph, node, ins, options):
    # sigmoid: TABLE_OUTPUT; tanh, elu, selu: see activations.table_output
    if node.out.fixed is not None:  # a quantizer's table (config activation): typed by the quantizer
        return node.out.fixed
    return options.default_type or activations.table_output(node, ins[0])


RULES = {
    "Input": _input, "Dense": _accumulating, "Conv": _accumulating, "MatMul": _matmul, "Relu": _same_or_default,
    "Reshape": _same, "Transpose": _same, "Gather": _same, "Pool": _pool, "Eltwise": _eltwise,
    "Concat": _concat, "Table": _table,
}
RULES.update(activations.RULES)  # PRelu (LeakyRelu), HardSigmoid, Clip, Softmax


def apply(graph: Graph, options: Options) -> Graph:
    lossless = dataclasses.replace(options, default_type=None)
    for node in graph.topo():
        rule = RULES.get(node.op)
        if rule is None:  # Cast, Thresholds: typed by their quantizer; ArgMax: an index
            node.attrs.setdefault("type_source", "quantizer" if ops.has(node.op, ops.QUANTIZER) else "inferred")
            continue
        ins = [p.out.fixed for p in graph.producers(node)]
        # a value read exactly downstream (integer sums scaled later, a fused requantizer's
        # input, a merged tail multiply: `exact_output`) keeps its lossless type
        opts = lossless if node.attrs.get("exact_output") else options
        try:
            t = rule(graph, node, ins, opts)
        except TypeOverflowError as exc:  # (the type arithmetic does not know which layer asks)
            raise TypeOverflowError(f"{node.describe()}: {exc}; quantize its inputs to fewer bits (a quantizer "
                                    "before it) or its weights, so that its exact products and sums fit in 64 "
                                    "bits") from None
        if node.out.fixed is None or ops.has(node.op, ops.LAYOUT):
            node.out.fixed = t
            node.attrs["type_source"] = _source(node, t, opts)
        else:
            node.attrs.setdefault("type_source", "inferred")  # typed before without a mark (tests' graphs)
    return graph


def _source(node, t: FixedType, options) -> str:
    """Who chose the type a rule returned (rules return the option's own object when they use it)."""
    if node.op == "Input" and t is not None and t is node.attrs.get("annotation"):
        return "annotation"
    if t is not None and (t is options.default_type or t is options.input_type):
        return "option"
    if t is node.attrs.get("accum") and options.accumulator.kind == "fixed":
        return "accumulator_cap"
    return "inferred"
