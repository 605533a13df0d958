"""Give every tensor a fixed-point type, losslessly unless the user or a quantizer said otherwise.

Dense: the product of input and weight types (`<Wx+Ww, Ix+Iw>`), grown by ceil(log2 n_in)
integer bits for the sum, then aligned with the bias and grown one bit for the bias add: the
accumulator can hold every partial sum exactly. Its output type is the absorbed quantizer's,
else `--default-type`, else the accumulator type itself. Relu and Reshape keep their input type
(Relu: the default type if one was given). Table activations (Sigmoid, output in [0, 1])
take the quantizer's or default type, else TABLE_OUTPUT. Inputs take `--input-type`, then
`--default-type`.
"""

from __future__ import annotations

from ..errors import UnsupportedError
from ..fixed import FixedType, accumulate_type, product_type, sum_type
from ..ir import Graph

TABLE_OUTPUT = FixedType(16, 1, signed=False, rounding="RND", overflow="SAT")


def apply(graph: Graph, options) -> Graph:
    for node in graph.topo():
        ins = [p.out.fixed for p in graph.producers(node)]
        if node.op == "Input":
            node.out.fixed = node.out.fixed or options.input_type or options.default_type
            if node.out.fixed is None:
                raise UnsupportedError(
                    f"{node.describe()}: no quantizer gives this input a fixed-point type; "
                    "pass --input-type (e.g. 'ap_fixed<8,3>') or --default-type")
        elif node.op == "Dense":
            acc = accumulate_type(product_type(ins[0], node.consts["W"].fixed), node.consts["W"].values.shape[0])
            if "b" in node.consts:
                acc = sum_type(acc, node.consts["b"].fixed)
            node.attrs["accum"] = acc
            node.out.fixed = node.out.fixed or options.default_type or acc
        elif node.op == "Relu":
            node.out.fixed = node.out.fixed or options.default_type or ins[0]
        elif node.op == "Table":
            node.out.fixed = node.out.fixed or options.default_type or TABLE_OUTPUT
        elif node.op == "Reshape":
            node.out.fixed = ins[0]
    return graph
