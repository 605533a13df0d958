"""Quantize float constants (weights, biases, element-wise operands of float models).

Constants a QONNX Quant covered were quantized at import. An element-wise operand that is an
exact short dyadic (e.g. Mul by 0.5, Add of 3), or a float bias (float32 values are dyadic; a
float bias after quantized products is how Brevitas exports unquantized biases), keeps its exact
value in the narrowest type that holds it, up to EXACT_MAX_WIDTH bits; everything else takes
`--default-type`, or is a clear error without one; values outside that type take its overflow
mode, as the C++ does, with a note for the user.
"""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedError
from ..ir import Graph
from ..numeric import exact_signed_type
from .options import Options

EXACT_MAX_WIDTH = {"c": 40, "t": 40, "b": 40}  # constants typed exactly when they fit (float32: <= 40 bits)


def apply(graph: Graph, options: Options) -> Graph:
    for node in graph.topo():
        for key, c in node.consts.items():
            if c.quantized:
                continue
            t = options.default_type
            if key == "b" and node.attrs.get("folded_bn") and options.accumulator.kind == "qtools":
                # QKeras' folded bias is float32; --accumulator qtools then quantizes it to the
                # accumulator type (populate_bias_quantizer_from_accumulator, analysis/accumulators.py)
                c.values = np.asarray(c.values, np.float32).astype(np.float64)
                t = None
            if key in EXACT_MAX_WIDTH and (t is None or key != "b"):
                t = exact_signed_type(c.values, EXACT_MAX_WIDTH[key]) or t
            if t is None:
                raise UnsupportedError(
                    f"{node.describe()}: constant '{key}' is float and no quantizer covers it; "
                    "quantize the model or pass --default-type (e.g. 'ap_fixed<16,6,AP_RND_CONV,AP_SAT>')")
            values, changed = t.from_float(c.values, return_overflow=True)
            if np.any(changed):  # the type's overflow mode applies, as in the C++; the user hears of it
                i = int(np.argmax(np.ravel(changed)))
                graph.notes.append(f"{node.describe()}: {int(np.count_nonzero(changed))} of {np.size(changed)} values "
                                   f"of constant '{key}' lie outside {t.to_cpp()} ({np.ravel(c.values)[i]:g} becomes "
                                   f"{t.to_float(np.ravel(values)[i]):g}, {t.overflow}); give a wider --default-type")
            c.values, c.fixed = values, t
    return graph
