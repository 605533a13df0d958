"""Absorb activation quantizers into the tensor types they constrain.

A `Quant` whose producer has no other reader and no type yet becomes that producer's output
type (with the quantizer's rounding and overflow modes): the producer computes exactly, then
casts once. A Quant on a graph input types the input. Any other Quant becomes a `Cast` node.
Either way the type is marked `type_source = "quantizer"`: its saturation is declared clipping.
"""

from __future__ import annotations

from .. import ops
from ..ir import Graph
from .options import Options


def apply(graph: Graph, options: Options) -> Graph:
    for node in list(graph.topo()):
        if node.op != "Quant":
            continue
        qtype = node.attrs.pop("type")
        (src,) = graph.producers(node)
        exclusive = len(graph.consumers(src.name)) == 1 and src.name not in graph.outputs
        if exclusive and src.out.fixed is None and not ops.has(src.op, ops.LAYOUT):
            src.out.fixed = qtype
            src.attrs["type_source"] = "quantizer"
            graph.bypass(node)
        else:
            node.op = "Cast"
            node.out.fixed = qtype
            node.attrs["type_source"] = "quantizer"
    return graph
