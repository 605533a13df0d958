"""Quantize float constants (weights, biases of float models) to `--default-type`.

Constants a QONNX Quant covered were quantized at import; the rest need a type from the user.
"""

from __future__ import annotations

from ..errors import UnsupportedError
from ..ir import Graph


def apply(graph: Graph, options) -> Graph:
    for node in graph.topo():
        for key, c in node.consts.items():
            if c.quantized:
                continue
            if options.default_type is None:
                raise UnsupportedError(
                    f"{node.describe()}: constant '{key}' is float and no quantizer covers it; "
                    "quantize the model or pass --default-type (e.g. 'ap_fixed<16,6,AP_RND_CONV,AP_SAT>')")
            c.values = options.default_type.from_float(c.values)
            c.fixed = options.default_type
    return graph
