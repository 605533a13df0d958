"""Move float scale multiplies past the linear layers that follow them.

A tensor quantized with a float (non-power-of-two) scale s is carried as its integers q, then
`x = q * s` in float. Dense, Conv, Relu, pooling, reshapes and transposes commute with a positive
scalar multiply (`Dense(q * s) = Dense(q) * s`), and a MatMul of two activations with one on each
operand, so the multiply moves after them: the layer
computes exactly on integers, and the float multiplies end up next to the following quantizer,
where fuse_requantizer turns the whole float computation into exact thresholds. For the same
reason a max pool moves before a monotone table activation (DQ -> Selu -> MaxPool -> Q, as
onnxruntime quantizes Keras CNNs): max(f(x)) = f(max(x)). A scale multiply into a Softmax
becomes the step of its exp table, and the model's last dequantize multiply is kept exact.
"""

from __future__ import annotations

import numpy as np

from .. import ops
from ..ir import Graph, Node
from .options import Options


def _movable(graph: Graph, m: Node) -> Node | None:
    """The layer after scalar multiply `m` that it can move past, or None. A monotone
    (nondecreasing) table activation moves past a max pool too: max(f(x)) = f(max(x)), also in
    float32, whose correctly rounded f is nondecreasing as well."""
    if _monotone_table(graph, m):
        nxt = graph.consumers(m.name)[0]
        return nxt if nxt.op == "Pool" and nxt.attrs.get("mode") == "max" and nxt.out.fixed is None else None
    if m.op != "Eltwise" or m.attrs.get("fn") != "mul" or "float_op" not in m.attrs or len(m.inputs) != 1:
        return None
    c = np.asarray(m.consts["c"].values).reshape(-1)
    if c.size != 1 or not c[0] > 0 or m.name in graph.outputs or m.out.fixed is not None:
        return None
    consumers = graph.consumers(m.name)
    if len(consumers) != 1:
        return None
    nxt = consumers[0]
    if not ops.has(nxt.op, ops.HOMOGENEOUS) or len(nxt.inputs) != 1 or nxt.out.fixed is not None:
        return None
    if ops.has(nxt.op, ops.WEIGHTED) and "b" in nxt.consts:
        return None  # the bias would need the scale too
    if nxt.op == "Pool" and nxt.attrs.get("mode") != "max":
        return None
    return nxt


def _monotone_table(graph: Graph, t: Node) -> bool:
    return (t.op == "Table" and t.attrs.get("monotone", True) and t.name not in graph.outputs
            and t.out.fixed is None and len(graph.consumers(t.name)) == 1)


def _scale_mul(graph: Graph, m: Node) -> bool:
    """A float multiply by a constant (a carried scale), single input and single reader."""
    return (m.op == "Eltwise" and m.attrs.get("fn") == "mul" and "float_op" in m.attrs and len(m.inputs) == 1
            and m.name not in graph.outputs and m.out.fixed is None and len(graph.consumers(m.name)) == 1)


def _feeds_quantizer(graph: Graph, node: Node) -> bool:
    """Whether the single-reader element-wise chain from `node` ends in a quantizer (then
    fuse_requantizer takes it; the reference's float32 steps must stay as they are)."""
    while True:
        consumers = graph.consumers(node.name)
        if len(consumers) != 1:
            return False
        node = consumers[0]
        if node.op == "Quant" or (node.op == "Thresholds" and "float_thresholds" in node.attrs):
            return True
        if not ops.has(node.op, ops.FLOAT_CHAIN):
            return False


def _merge_tail(graph: Graph) -> None:
    """In a float tail that no quantizer follows, a scalar scale multiply followed by another
    scale multiply becomes one multiply by the product, kept exact (`exact_output`): each
    multiply by a float32 constant adds up to 40 bits, so two in a row would overflow."""
    for m in list(graph.topo()):
        if m.name not in graph or not _scale_mul(graph, m) or _feeds_quantizer(graph, m):
            continue
        if np.asarray(m.consts["c"].values).size != 1:
            continue
        (nxt,) = graph.consumers(m.name)
        if not (nxt.op == "Eltwise" and nxt.attrs.get("fn") == "mul" and "float_op" in nxt.attrs
                and len(nxt.inputs) == 1 and nxt.out.fixed is None):
            continue
        s = np.float32(np.asarray(m.consts["c"].values).reshape(-1)[0])
        op, c32 = nxt.attrs["float_op"]
        merged = (np.asarray(c32, np.float32) * s).astype(np.float32)  # float32: an exact type fits
        nxt.consts["c"].values = np.asarray(merged, np.float64).reshape(np.shape(nxt.consts["c"].values))
        nxt.attrs["float_op"] = (op, merged)
        nxt.attrs["exact_output"] = True
        graph.bypass(m)


def _scales_of_matmul(graph: Graph, mm: Node) -> list[Node] | None:
    """MatMul(q1 * s1, q2 * s2) = MatMul(q1, q2) * s1 * s2 for scalar scales s1, s2 (attention
    on float-scaled activations): the two multiplies that can move after the product, or None."""
    if mm.op != "MatMul" or mm.out.fixed is not None:
        return None
    m1, m2 = graph.producers(mm)
    if m1 is m2 or not all(_scale_mul(graph, m) and np.asarray(m.consts["c"].values).size == 1 for m in (m1, m2)):
        return None
    return [m1, m2]


def _move_after(graph: Graph, muls: list[Node], node: Node) -> None:
    """src_i -> muls[i] -> node -> readers   becomes   src_i -> node -> muls[0] -> muls[1] ... -> readers:
    the scale multiplies on the node's inputs move after it, so it computes on the integers."""
    graph.redirect(node.name, muls[-1].name)
    source = {m.name: m.inputs[0] for m in muls}
    graph.set_inputs(node, [source.get(i, i) for i in node.inputs])
    prev = node
    for m in muls:
        graph.set_inputs(m, [prev.name])
        m.out.shape = node.out.shape
        prev = m
    node.attrs["exact_output"] = True  # integers (sums, maxima...), scaled afterwards: no cast between


def _into_softmax(graph: Graph) -> None:
    """softmax(q * s) for a positive scalar scale s: the Softmax reads the integers q and its exp
    table steps by s (`input_scale`), a table over the quantizer's few codes instead of over the
    wide exact product (onnxruntime's DQ -> Softmax -> Q and QLinearSoftmax)."""
    for sm in list(graph.topo()):
        if sm.op != "Softmax" or sm.out.fixed is not None:
            continue
        m = graph.producers(sm)[0]
        if not (_scale_mul(graph, m) and np.asarray(m.consts["c"].values).size == 1
                and ops.has(graph.producers(m)[0].op, ops.QUANTIZER)):
            continue  # (float logits keep their --default-type cast: a table over a wide type would not fit)
        c = float(np.asarray(m.attrs["float_op"][1], np.float32).reshape(-1)[0])
        if m.attrs["float_op"][0] != "mul" or not c > 0:
            continue
        sm.attrs["input_scale"] = sm.attrs.get("input_scale", 1.0) * c
        graph.bypass(m)


def _exact_dequantize(graph: Graph) -> None:
    """A graph output `q * s` right after a quantizer (the model's last DequantizeLinear) is
    computed exactly (`exact_output`, never --default-type): one float32 rounding of it is the
    reference's output."""
    for name in graph.outputs:
        m = graph.node(name)
        if m.op == "Eltwise" and m.attrs.get("fn") == "mul" and "float_op" in m.attrs and len(m.inputs) == 1 \
                and np.asarray(m.consts["c"].values).size == 1 and ops.has(graph.producers(m)[0].op, ops.QUANTIZER):
            m.attrs["exact_output"] = True


def apply(graph: Graph, options: Options) -> Graph:
    moved = True
    while moved:
        moved = False
        for m in list(graph.topo()):
            muls = _scales_of_matmul(graph, m)
            if muls is not None:
                _move_after(graph, muls, m)
            elif (nxt := _movable(graph, m)) is not None:
                _move_after(graph, [m], nxt)
            else:
                continue
            moved = True
    _merge_tail(graph)
    _into_softmax(graph)
    _exact_dequantize(graph)
    return graph
