"""Template context of the dense family (Dense, MatMul): what `templates/layers/<Op>.j2` needs
besides the common fields (backend/context.py), including the constant arrays written to
weights/<layer>.h; `weights_and_bias` is shared with the conv family."""

from __future__ import annotations

import numpy as np

from ..design.da import AdderGraph, DAError, signed_bits
from ..fixed import FixedType
from ..ir import Const, Graph, Node
from .context import array, context, raw_ctype, var_of


def weights_and_bias(graph: Graph, node: Node, d: dict, weight_doc: str) -> None:
    """A weighted layer's weight and bias arrays and types; with strategy da also its adder graph's
    C++ (`d["da"]`, which the kernels read instead of the weights)."""
    if d["adder_graph"] is not None:
        d["da"] = adder_graph_context(d["adder_graph"], graph.node(node.inputs[0]).out.fixed, node.consts["W"].fixed)
    w, b = d["arch"].weight_layout(node, "W", node.consts["W"], d), node.consts.get("b")
    n_out = node.consts["W"].values.shape[1] if node.op == "Dense" else node.consts["W"].values.shape[0]
    d.update(has_bias=b is not None, weight_cpp=w.fixed.to_cpp(), accum_cpp=node.attrs["accum"].to_cpp(),
             weight_raw=raw_ctype(w.fixed))
    d["arrays"].append(array(f"{node.name}_w", w, weight_doc, d["arch"].weight_pragma(f"{node.name}_w", d)))
    if b is None:  # the kernels ignore biases when has_bias is false
        b = Const(np.zeros(n_out, np.int64), FixedType(1, 1))
    d.update(bias_cpp=b.fixed.to_cpp(), bias_raw=raw_ctype(b.fixed))
    d["arrays"].append(array(f"{node.name}_b", b, "biases" if d["has_bias"] else "no bias (unused)"))


@context("Dense")
def _dense(graph: Graph, node: Node, d: dict) -> None:
    n_in, n_out = node.consts["W"].values.shape
    d.update(n_in=n_in, n_out=n_out)
    weights_and_bias(graph, node, d, "weights[j * n_in + i] (output-major, dense_folded)" if d["folded"] else
                     "weights[i * n_out + j]: from input i to output j")


def adder_graph_context(g: AdderGraph, x: FixedType, w: FixedType) -> dict:
    """Strategy da: the straight-line C++ of the layer's adder graph (design/da.py), one
    `ap_int<W>` per node wide enough for its range: node = (a << ka) +/- (b << kb) with the
    exponent alignments ka, kb >= 0; outputs y[j] = +/- node << shift (>> -shift: exact, da.py
    checked), integer sums of x and W mantissas, in units of 2^-(x.frac + w.frac)."""
    lines = []
    for i, n in enumerate(g.nodes):
        t = f"ap_int<{n.width}>"
        if n.kind == "in":
            rhs = f"x[{n.a}]"
        elif n.kind == "copy":
            rhs = "0" if n.a < 0 else f"{'-' if n.sub else ''}{t}(v{n.a})"
        else:
            a, b = g.nodes[n.a], g.nodes[n.b]
            ka, kb = a.exp - n.exp, b.exp + n.shift - n.exp
            rhs = (f"({t}(v{n.a}) << {ka}) {'-' if n.sub else '+'} ({t}(v{n.b}) << {kb})")
        lines.append(f"const {t} v{i} = {rhs};")
    bounds = g.output_bounds()
    y_bits = max((signed_bits(lo, hi) for lo, hi in bounds), default=1)
    for j, (idx, shift, neg) in enumerate(g.outputs):
        if idx < 0:
            lines.append(f"y[{j}] = 0;")
            continue
        v = (f"(sum_raw_t(v{idx}) << {shift})" if shift > 0 else  # (a right shift before the cast: exact)
             f"sum_raw_t(v{idx} >> {-shift})" if shift < 0 else f"sum_raw_t(v{idx})")
        lines.append(f"y[{j}] = {'-' if neg else ''}{v};")
    if y_bits > 64:
        raise DAError(f"strategy da: an output sum needs {y_bits} bits, over the 64 the kernels pass")
    frac = x.frac + w.frac - g.weight_shift
    return {"lines": lines, "x_bits": x.width + (not x.signed), "y_bits": y_bits,
            "sum_cpp": f"ap_fixed<{y_bits}, {y_bits - frac}>", "adders": g.adders, "depth": g.depth}


@context("MatMul")
def _matmul(graph: Graph, node: Node, d: dict) -> None:
    b = graph.node(node.inputs[1])
    shape = node.out.shape
    d.update(batch=int(np.prod(shape[:-2], dtype=np.int64)), m=shape[-2], k=node.attrs["k"], n=shape[-1],
             accum_cpp=node.attrs["accum"].to_cpp(), in2_var=var_of(b), in2_typedef=f"{b.name}_t")
