"""Fold an Add of a per-output-channel constant into the Dense/Conv that feeds it.

ONNX exports from Keras write a Dense layer as MatMul + Add; the bias belongs to the layer so
that it is added inside the accumulator, exactly, before the output cast. Any other Add of a
constant stays an element-wise layer.
"""

from __future__ import annotations

import numpy as np

from .. import ops
from ..ir import Graph, Node
from .options import Options


def per_output_channel(graph: Graph, node: Node) -> Node | None:
    """The Dense/Conv producer if `node` applies a per-output-channel constant to its output
    (memory pattern inner 1, period 1 or the channel count) and is its only reader."""
    (src,) = graph.producers(node)
    if not ops.has(src.op, ops.WEIGHTED) or len(graph.consumers(src.name)) != 1 or src.name in graph.outputs:
        return None
    if src.out.fixed is not None:  # an absorbed quantizer already sits between them
        return None
    channels = src.out.shape[-1]
    if node.attrs["inner"] != 1 or node.attrs["period"] not in (1, channels):
        return None
    return src


def channel_vector(node: Node, key: str, channels: int) -> np.ndarray:
    v = node.consts[key].values.reshape(-1)
    return np.repeat(v, channels) if v.size == 1 else v


def apply(graph: Graph, options: Options) -> Graph:
    for node in list(graph.topo()):
        if node.op != "Eltwise" or node.attrs["fn"] != "add" or len(node.inputs) != 1:
            continue
        src = per_output_channel(graph, node)
        if src is None or "b" in src.consts:
            continue
        c = node.consts["c"]
        c.values = channel_vector(node, "c", src.out.shape[-1])
        src.consts["b"] = c
        graph.bypass(node)
    return graph
