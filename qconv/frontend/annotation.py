"""FINN datatype annotations (`graph.quantization_annotation`, key `finn_datatype`): FINN-ONNX
files declare the types of graph inputs and weight initializers there instead of wrapping them in
Quant nodes. A fixed-point datatype gives the tensor its exact qconv type; the others (FLOAT32,
FLOAT16, SCALEDINT<n>, which has an unknown float scale, arbitrary FLOAT<...>) declare nothing
qconv can use and are left to the quantizers and options, as before.

FINN's datatypes (finn/qonnx `core/datatype.py`): BINARY {0, 1}, BIPOLAR {-1, +1}, TERNARY {-1, 0,
+1}, INT<n> and UINT<n> n-bit integers, FIXED<w,i> a signed fixed-point number of w bits, i of
them integer (ap_fixed<w,i>).
"""

from __future__ import annotations

import re

import numpy as np
import onnx

from ..errors import ModelError
from ..fixed import FixedType

KEY = "finn_datatype"
NAMED = {"BINARY": FixedType(1, 1, signed=False), "BIPOLAR": FixedType(2, 2), "TERNARY": FixedType(2, 2)}


def fixed_type(datatype: str) -> FixedType | None:
    """The qconv type of a FINN datatype name; None for one without a fixed-point form."""
    name = datatype.strip().upper()
    if name in NAMED:
        return NAMED[name]
    if m := re.fullmatch(r"(U?)INT(\d+)", name):
        return FixedType(int(m.group(2)), int(m.group(2)), signed=not m.group(1))
    if m := re.fullmatch(r"FIXED<(\d+),\s*(-?\d+)>", name):
        return FixedType(int(m.group(1)), int(m.group(2)))
    return None


def annotations(model: onnx.ModelProto) -> dict[str, tuple[str, FixedType]]:
    """Tensor name -> (FINN datatype, qconv type) for every annotation with a fixed-point form."""
    out = {}
    for a in model.graph.quantization_annotation:
        for entry in a.quant_parameter_tensor_names:
            if entry.key == KEY and (t := fixed_type(entry.value)) is not None:
                out[a.tensor_name] = (entry.value, t)
    return out


def annotated_mantissas(name: str, values: np.ndarray, datatype: str, t: FixedType, source: str) -> np.ndarray:
    """The mantissas of an initializer annotated `datatype`, checked to be exactly of that type
    (BIPOLAR: -1 and +1 only)."""
    values = np.asarray(values, np.float64)
    m = values * 2.0 ** t.frac
    bad = (m != np.round(m)) | (m < t.min_mantissa) | (m > t.max_mantissa)
    if datatype.strip().upper() == "BIPOLAR":
        bad |= np.abs(values) != 1
    if bad.any():
        raise ModelError(f"{source}: initializer '{name}' is annotated {datatype} ({t.to_cpp()}) but holds "
                         f"{float(values[bad].reshape(-1)[0])!r}, which that type cannot; fix the annotation or quantize "
                         "the tensor")
    return m.astype(np.int64)
