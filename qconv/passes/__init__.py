"""The pass pipeline, in order. Each pass is `apply(graph, options) -> graph` (options: `Options`,
the user's choices, parsed once); a pass keeps no state between calls and rewires the graph only
through `Graph` methods.

  fuse_bias           Dense/Conv + per-channel constant Add -> Dense/Conv with bias
  fold_batchnorm      Dense/Conv (float weights) + BatchNorm -> folded weights and bias
  commute_scales      float scale multiply before Dense/Conv/Relu/... -> after them (integers first)
  fuse_requantizer    float ops (BatchNorm, Mul/Div...) + quantizer -> exact per-channel thresholds
  apply_config        float weights, activations        -> quantized as a --config file says
  absorb_quantizers   activation Quant nodes           -> output type of their producer (or Cast)
  quantize_constants  float weights/biases             -> mantissas of --default-type
  infer_types         untyped tensors                   -> lossless (or default) fixed types,
                                                          Dense/Conv accumulators sized by
                                                          analysis/accumulators (--accumulator)
  build_tables        Table activations (Sigmoid)       -> precomputed lookup tables
  validate            every tensor typed and simulable  -> clear error otherwise
"""

from __future__ import annotations

from ..ir import Graph
from .options import Options
from . import (absorb_quantizers, apply_config, build_tables, commute_scales, fold_batchnorm, fuse_bias,
               fuse_requantizer,
               infer_types, quantize_constants, validate)


PIPELINE = [fuse_bias, fold_batchnorm, commute_scales, fuse_requantizer, apply_config, absorb_quantizers, quantize_constants, infer_types, build_tables, validate]


def run(graph: Graph, options: Options = Options()) -> Graph:
    for p in PIPELINE:
        graph = p.apply(graph, options)
    return graph
