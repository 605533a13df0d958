"""Write a small QONNX MLP shaped like the hls4ml jet tagger: 16-64-32-32-5.

Quantized input (ap_fixed<8,3>-like: 8 bits, scale 2^-5), 6-bit weights and biases (scale
2^-4, narrow), quantized ReLU activations (unsigned 6 bits, scale 2^-3) and a quantized
output (signed 12 bits, scale 2^-6). The weights are deterministic (seeded), so the model is
the same on every machine. Usage: python examples/make_jet_mlp.py OUT.onnx
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from qconv.onnx_tools import QONNX_DOMAIN, add_quant

LAYERS = [16, 64, 32, 32, 5]


def make_model(seed: int = 2026) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    add_quant(nodes, inits, "x", "x_q", 2.0**-5, 8, True, False)
    prev = "x_q"
    for i, (n_in, n_out) in enumerate(zip(LAYERS[:-1], LAYERS[1:])):
        w = rng.normal(0, 1 / np.sqrt(n_in), (n_in, n_out)).astype(np.float32)
        b = rng.normal(0, 0.25, n_out).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        add_quant(nodes, inits, f"w{i}", f"w{i}_q", 2.0**-4, 6, True, True)
        add_quant(nodes, inits, f"b{i}", f"b{i}_q", 2.0**-4, 6, True, True)
        nodes.append(helper.make_node("MatMul", [prev, f"w{i}_q"], [f"mm{i}"], name=f"dense{i}"))
        nodes.append(helper.make_node("Add", [f"mm{i}", f"b{i}_q"], [f"fc{i}"], name=f"bias{i}"))
        if i < len(LAYERS) - 2:
            nodes.append(helper.make_node("Relu", [f"fc{i}"], [f"relu{i}"], name=f"relu{i}"))
            add_quant(nodes, inits, f"relu{i}", f"act{i}", 2.0**-3, 6, False, False)
            prev = f"act{i}"
        else:
            add_quant(nodes, inits, f"fc{i}", "y", 2.0**-6, 12, True, False)
    graph = helper.make_graph(
        nodes, "jet_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, LAYERS[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, LAYERS[-1]])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(QONNX_DOMAIN, 1)],
                              producer_name="qconv-examples")
    onnx.checker.check_model(model)
    return model


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "jet_mlp.onnx")
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(make_model(), str(out))
    print(f"wrote {out}")
