"""Write a deterministic QONNX MLP for the benchmarks: 784-H-H-H-10 by default H=512 (932,362
parameters, the "784-512x3-10 synthetic MLP of ~932k parameters" measured in PEERS.md).

Quantizers (all QONNX `Quant`, power-of-two scales, zero zero-point, ROUND):
  input   signed 8 bits, scale 2^-5 (the values of ap_fixed<8,3>)
  weights 8, 4, 6, 8 bits per layer (signed, narrow), scale chosen per layer from the layer width
  biases  8 bits (signed, narrow), scale 2^-6
  ReLU    unsigned 6, 4, 8 bits per hidden layer, scale 2^-4, 2^-2, 2^-5
  output  signed 12 bits, scale 2^-6
The weights are seeded normals, so the file is the same on every machine.
Usage: python bench/make_mlp.py OUT.onnx [--hidden 512] [--layers 3]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from qconv.onnx_tools import QONNX_DOMAIN, add_quant

N_IN, N_OUT = 784, 10
WEIGHT_BITS = (8, 4, 6, 8)
ACT = ((6, -4), (4, -2), (8, -5))  # (bits, log2 scale) of each hidden ReLU quantizer


def layer_sizes(hidden: int = 512, layers: int = 3) -> list[int]:
    return [N_IN] + [hidden] * layers + [N_OUT]


def n_params(hidden: int = 512, layers: int = 3) -> int:
    s = layer_sizes(hidden, layers)
    return sum(a * b + b for a, b in zip(s[:-1], s[1:]))


def make_model(hidden: int = 512, layers: int = 3, seed: int = 2026) -> onnx.ModelProto:
    sizes = layer_sizes(hidden, layers)
    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    add_quant(nodes, inits, "x", "x_q", 2.0**-5, 8, True, False)
    prev = "x_q"
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        std = 1 / math.sqrt(n_in)
        w = rng.normal(0, std, (n_in, n_out)).astype(np.float32)
        b = rng.normal(0, 0.25, n_out).astype(np.float32)
        bits = WEIGHT_BITS[i % len(WEIGHT_BITS)]
        w_scale = 2.0 ** (math.ceil(math.log2(3 * std)) - (bits - 1))  # +-3 sigma in range
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        add_quant(nodes, inits, f"w{i}", f"w{i}_q", w_scale, bits, True, True)
        add_quant(nodes, inits, f"b{i}", f"b{i}_q", 2.0**-6, 8, True, True)
        nodes.append(helper.make_node("MatMul", [prev, f"w{i}_q"], [f"mm{i}"], name=f"dense{i}"))
        nodes.append(helper.make_node("Add", [f"mm{i}", f"b{i}_q"], [f"fc{i}"], name=f"bias{i}"))
        if i < len(sizes) - 2:
            a_bits, a_exp = ACT[i % len(ACT)]
            nodes.append(helper.make_node("Relu", [f"fc{i}"], [f"relu{i}"], name=f"relu{i}"))
            add_quant(nodes, inits, f"relu{i}", f"act{i}", 2.0**a_exp, a_bits, False, False)
            prev = f"act{i}"
        else:
            add_quant(nodes, inits, f"fc{i}", "y", 2.0**-6, 12, True, False)
    graph = helper.make_graph(
        nodes, f"mlp_{hidden}x{layers}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, N_IN])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, N_OUT])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(QONNX_DOMAIN, 1)],
                              producer_name="qconv-bench")
    onnx.checker.check_model(model)
    return model


def write(path: str | Path, hidden: int = 512, layers: int = 3) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(make_model(hidden, layers), str(path))
    return path


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default="mlp.onnx")
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--layers", type=int, default=3)
    a = ap.parse_args()
    print(f"wrote {write(a.out, a.hidden, a.layers)} ({n_params(a.hidden, a.layers):,} parameters)")
