"""Fold BatchNormalization into the preceding Conv/Dense, before its weights are quantized.

y = (x * W + b) * s + t  ==>  x * (W * s) + (b * s + t), per output channel (SEMANTICS.md 5:
W_f = gamma * W / sqrt(var + eps), b_f = gamma * (b - mean) / sqrt(var + eps) + beta), in
float64. Only float weights fold: weights that a quantizer already fixed would change, so a
BatchNorm after quantized weights stays a per-channel multiply-add. `--no-fold-bn` keeps every
BatchNorm as its own layer.
"""

from __future__ import annotations

from ..ir import Const, Graph
from .fuse_bias import channel_vector, per_output_channel


def apply(graph: Graph, options) -> Graph:
    if not options.fold_batchnorm:
        return graph
    for node in list(graph.topo()):
        if node.op != "Eltwise" or not node.attrs.get("batchnorm"):
            continue
        src = per_output_channel(graph, node)
        if src is None or any(c.quantized for c in src.consts.values()):
            continue
        channels = src.out.shape[-1]
        s, t = channel_vector(node, "c", channels), channel_vector(node, "t", channels)
        w = src.consts["W"].values
        src.consts["W"] = Const(w * (s if src.op == "Dense" else s[:, None, None, None]))
        b = src.consts["b"].values if "b" in src.consts else 0.0
        src.consts["b"] = Const(b * s + t)
        src.attrs["folded_bn"] = node.name  # qtools treats it as QConv2DBatchnorm
        graph.bypass(node)
    return graph
