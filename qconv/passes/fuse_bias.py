"""Fold `BiasAdd` (an Add of a constant) into the Dense that feeds it.

ONNX exports from Keras write a Dense layer as MatMul + Add; the bias belongs to the layer so
that it is added inside the accumulator, exactly, before the output cast.
"""

from __future__ import annotations

from ..errors import UnsupportedError
from ..ir import Graph


def apply(graph: Graph, options=None) -> Graph:
    for node in list(graph.topo()):
        if node.op != "BiasAdd":
            continue
        (src,) = graph.producers(node)
        fusable = (src.op == "Dense" and "b" not in src.consts and len(graph.consumers(src.name)) == 1
                   and src.name not in graph.outputs and node.consts["b"].values.size in (1, src.out.size))
        if not fusable:
            raise UnsupportedError(f"{node.describe()}: an Add of a constant is only supported as the "
                                   "bias of a preceding MatMul/Gemm")
        b = node.consts["b"]
        if b.values.size == 1:
            b.values = b.values.repeat(src.out.size)
        src.consts["b"] = b
        graph.bypass(node)
    return graph
