"""Fold BatchNormalization into the preceding Conv/Dense, before its weights are quantized.

y = (x * W + b) * s + t  ==>  x * (W * s) + (b * s + t), per output channel, in float32 exactly
as QKeras' bn_folding_utils computes it (SEMANTICS.md 5): inv = gamma * (1 / sqrt(var + eps)),
W_f = W * inv, b_f = inv * (b - mean) + beta (b = 0 without a bias), each step rounded to float32
(the QConv2DBatchnorm goldens reproduce bit for bit this way). Only float weights fold: weights that a quantizer already fixed would change, so a
BatchNorm after quantized weights stays a per-channel multiply-add. `--no-fold-bn` keeps every
BatchNorm as its own layer.
"""

from __future__ import annotations

import numpy as np

from ..ir import Const, Graph
from .options import Options
from .fuse_bias import per_output_channel


def apply(graph: Graph, options: Options) -> Graph:
    if not options.fold_batchnorm:
        return graph
    for node in list(graph.topo()):
        if node.op != "Eltwise" or not node.attrs.get("batchnorm"):
            continue
        src = per_output_channel(graph, node)
        if src is None or any(c.quantized for c in src.consts.values()):
            continue
        bn = node.attrs["bn_float32"]
        f32 = np.float32
        inv, mean, beta = bn["inv"], bn["mean"], bn["beta"]
        w = src.consts["W"].values.astype(f32)
        w_f = w * (inv if src.op == "Dense" else inv[:, None, None, None])
        b = src.consts["b"].values.astype(f32) if "b" in src.consts else np.zeros(inv.shape, f32)
        b_f = (inv * (b - mean)).astype(f32) + beta
        src.consts["W"] = Const(w_f.astype(f32).astype(np.float64))
        src.consts["b"] = Const(b_f.astype(f32).astype(np.float64))
        src.attrs["folded_bn"] = node.name  # qtools treats it as QConv2DBatchnorm
        graph.bypass(node)
    return graph
