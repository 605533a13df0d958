"""Write the SVHN CNN of hls4ml's tutorial part 6 / Aarrestad et al. (arXiv:2101.05108) as a float
ONNX model, with seeded random weights pruned to 50 % as there (bench/published.md section 2):

    input 3x32x32 -> 3 x [Conv 3x3 (no bias, valid) - BatchNorm - Relu - MaxPool 2x2], filters 16, 16, 24
    -> Flatten (96) -> Dense 42 (no bias) - BN - Relu -> Dense 64 (no bias) - BN - Relu -> Dense 10 - Softmax

Only the architecture and the sparsity matter for the cost comparison (bench/hls4ml_compare.py):
the trained weights are not published. Usage: python bench/make_svhn_cnn.py OUT.onnx
"""

from __future__ import annotations

import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _pruned(rng, shape, fan_in):
    w = rng.normal(0, 1 / np.sqrt(fan_in), shape).astype(np.float32)
    w[rng.random(shape) < 0.5] = 0.0  # 50 % sparsity, as the tutorial's PolynomialDecay target
    return w


def make_model(seed: int = 2101) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    nodes, inits = [], []

    def const(name, value):
        inits.append(numpy_helper.from_array(np.asarray(value, np.float32), name))
        return name

    def batchnorm(x, name, channels):
        nodes.append(helper.make_node(
            "BatchNormalization", [x, const(f"{name}_g", rng.uniform(0.5, 1.5, channels)),
                                   const(f"{name}_b", rng.normal(0, 0.1, channels)),
                                   const(f"{name}_m", rng.normal(0, 0.1, channels)),
                                   const(f"{name}_v", rng.uniform(0.5, 1.5, channels))], [f"{name}_out"], name=name))
        return f"{name}_out"

    x, chans = "input", 3
    for i, filters in enumerate((16, 16, 24)):
        w = const(f"conv{i}_w", _pruned(rng, (filters, chans, 3, 3), chans * 9))
        nodes.append(helper.make_node("Conv", [x, w], [f"conv{i}_out"], name=f"conv{i}", kernel_shape=[3, 3]))
        y = batchnorm(f"conv{i}_out", f"bn{i}", filters)
        nodes.append(helper.make_node("Relu", [y], [f"relu{i}_out"], name=f"relu{i}"))
        nodes.append(helper.make_node("MaxPool", [f"relu{i}_out"], [f"pool{i}_out"], name=f"pool{i}",
                                      kernel_shape=[2, 2], strides=[2, 2]))
        x, chans = f"pool{i}_out", filters
    nodes.append(helper.make_node("Flatten", [x], ["flat"], name="flatten"))
    x, n_in = "flat", 96
    for i, n_out in enumerate((42, 64)):
        nodes.append(helper.make_node("MatMul", [x, const(f"fc{i}_w", _pruned(rng, (n_in, n_out), n_in))],
                                      [f"fc{i}_out"], name=f"fc{i}"))
        y = batchnorm(f"fc{i}_out", f"bnd{i}", n_out)
        nodes.append(helper.make_node("Relu", [y], [f"relud{i}_out"], name=f"relud{i}"))
        x, n_in = f"relud{i}_out", n_out
    nodes.append(helper.make_node("Gemm", [x, const("out_w", rng.normal(0, 0.1, (64, 10))),
                                           const("out_b", rng.normal(0, 0.1, 10))], ["logits"], name="output"))
    nodes.append(helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=-1))
    graph = helper.make_graph(nodes, "svhn_cnn",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 32, 32])],
                              [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    return model


if __name__ == "__main__":
    onnx.save(make_model(), sys.argv[1] if len(sys.argv) > 1 else "svhn_cnn.onnx")
