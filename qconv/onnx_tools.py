"""Small ONNX model surgery and construction helpers (examples, benchmarks, tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

QONNX_DOMAIN = "qonnx.custom_op.general"


def add_quant(nodes: list, inits: list, x: str, out: str, scale: float, bits: int, signed: bool,
              narrow: bool, rounding_mode: str = "ROUND") -> str:
    """Append a QONNX Quant node `out` = Quant(x) (zero point 0) and its parameter initializers."""
    names = [f"{out}_scale", f"{out}_zeropt", f"{out}_bits"]
    for n, v in zip(names, (scale, 0.0, float(bits))):
        inits.append(numpy_helper.from_array(np.array(v, np.float32), n))
    nodes.append(helper.make_node("Quant", [x, *names], [out], name=out, domain=QONNX_DOMAIN,
                                  signed=int(signed), narrow=int(narrow), rounding_mode=rounding_mode))
    return out


def cut_before(path: str | Path, op_type: str, out_path: str | Path) -> Path:
    """A copy of the model ending at the input of its (first) `op_type` node, e.g. the logits
    before a final Softmax; the model itself when it has no such node."""
    model = onnx.load(str(path))
    node = next((n for n in model.graph.node if n.op_type == op_type), None)
    if node is None:
        return Path(path)
    model.graph.node.remove(node)
    del model.graph.output[:]
    info = [v for v in model.graph.value_info if v.name == node.input[0]]
    for v in info:
        model.graph.value_info.remove(v)
    model.graph.output.append(info[0] if info else
                              helper.make_tensor_value_info(node.input[0], onnx.TensorProto.FLOAT, None))
    onnx.save(model, str(out_path))
    return Path(out_path)
