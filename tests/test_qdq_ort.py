"""Standard QDQ ONNX as onnxruntime's quantization tool writes it (issue 16, part 1): weights and
biases stored as int8/int32 initializers that go straight into DequantizeLinear (per tensor or
per channel), activations as QuantizeLinear -> DequantizeLinear pairs. The test models are made
here by the real exporter (onnxruntime.quantization.quantize_static) from a float MLP built with
onnx.helper; qconv's simulation must equal onnxruntime's outputs, and the C simulation qconv's."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper


from .helpers import build_and_csim, cli, ort_quantize, simulate_against


def _float_mlp(path):
    rng = np.random.default_rng(0)
    w1, b1 = rng.normal(0, 0.5, (16, 8)).astype(np.float32), rng.normal(0, 0.1, 8).astype(np.float32)
    w2, b2 = rng.normal(0, 0.5, (8, 4)).astype(np.float32), rng.normal(0, 0.1, 4).astype(np.float32)
    g = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
         helper.make_node("Gemm", ["r", "w2", "b2"], ["y"])], "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [numpy_helper.from_array(a, n) for a, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"))])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def _quantized(tmp_path, per_channel: bool, symmetric: bool = True, uint8: bool = False):
    """`symmetric` False: asymmetric activations (zero points); `uint8`: onnxruntime's default
    types, uint8 activations and uint8 asymmetric weights (zero points on the weights too)."""
    rng = np.random.default_rng(1)
    calibration = [{"x": rng.normal(0, 1, (1, 16)).astype(np.float32)} for _ in range(16)]
    out = tmp_path / f"mlp_{'pc' if per_channel else 'pt'}_{'sym' if symmetric else 'asym'}{'_u8' * uint8}.onnx"
    return ort_quantize(_float_mlp(tmp_path / "mlp.onnx"), out, calibration, "QDQ", per_channel, uint8,
                        activation_symmetric=symmetric, weight_symmetric=not uint8)


@pytest.mark.parametrize("per_channel", [False, True], ids=["per_tensor", "per_channel"])
@pytest.mark.parametrize("symmetric,uint8", [(True, False), (False, False), (False, True)],
                         ids=["int8_symmetric", "int8_asymmetric", "uint8_asymmetric"])
def test_onnxruntime_qdq_models_equal_onnxruntime(tmp_path, per_channel, symmetric, uint8):
    """Every output element equals onnxruntime's once rounded to float32 (the reference's output is
    float32(q * s), qconv's the exact q * s), on 500 inputs, except on samples where a requantizer
    read an accumulator value within float32 error of its rounding boundary (reported ambiguous,
    float32_error.near_boundary; at most 2 here); the weights are int8/uint8 initializers
    read by DequantizeLinear, the model has no QuantizeLinear for them. Asymmetric: the activation
    zero points (and uint8 weights' zero points) are exact integer offsets."""
    import onnxruntime as ort
    path = _quantized(tmp_path, per_channel, symmetric, uint8)
    model = onnx.load(str(path))
    weights = [n for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in ("w1_quantized", "w2_quantized")]
    assert len(weights) == 2 and "QuantizeLinear" not in {n.op_type for n in model.graph.node
                                                          if n.output[0] in {w.input[0] for w in weights}}
    x = np.random.default_rng(2).normal(0, 1.5, (500, 16)).astype(np.float32)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ref = np.concatenate([sess.run(None, {"x": x[i:i + 1]})[0] for i in range(len(x))])
    g, result, differ, near = simulate_against(path, x, ref)
    differ = differ.any(axis=1)
    assert not np.any(differ & ~near) and differ.sum() <= 2 and len(np.unique(ref)) > 200
    dense = [n for n in g.topo() if n.op == "Dense"]
    widths = [n.consts["W"].fixed.width for n in dense]
    assert widths == [8, 8] or (uint8 and max(widths) == 9)  # uint8 q - z: up to 9 bits signed
    zero_points = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer if i.name.endswith("zero_point")}
    assert any(np.any(z != 0) for z in zero_points.values()) == (not symmetric)
    assert np.any(zero_points["w1_zero_point"] != 0) == uint8


@pytest.mark.slow
@pytest.mark.parametrize("symmetric,uint8", [(True, False), (False, True)], ids=["int8_symmetric", "uint8_asymmetric"])
def test_onnxruntime_qdq_model_csim_is_bit_exact(tmp_path, symmetric, uint8):
    build_and_csim(_quantized(tmp_path, True, symmetric, uint8), tmp_path / "prj", samples=200)


@pytest.mark.parametrize("q_scale", [0.02, 0.015625])
def test_weights_dequantized_with_another_scale_equal_onnxruntime(tmp_path, q_scale):
    """Q(w, s1) -> DQ(s2): the weights' codes are round(w / s1), their value codes * s2 (a QDQ
    pair that rescales), with s1 a power of two or not."""
    import onnxruntime as ort
    rng = np.random.default_rng(11)
    f32 = np.float32
    inits = {"w": rng.normal(0, 0.5, (4, 3)).astype(f32), "s1": f32(q_scale), "s2": f32(0.03), "z": np.int8(0),
             "xs": f32(0.05), "ys": f32(0.04)}
    nodes = [helper.make_node("QuantizeLinear", ["x", "xs", "z"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "xs", "z"], ["xd"]),
             helper.make_node("QuantizeLinear", ["w", "s1", "z"], ["wq"]),
             helper.make_node("DequantizeLinear", ["wq", "s2", "z"], ["wd"]), helper.make_node("MatMul", ["xd", "wd"], ["a"]),
             helper.make_node("QuantizeLinear", ["a", "ys", "z"], ["aq"]),
             helper.make_node("DequantizeLinear", ["aq", "ys", "z"], ["y"])]
    g = helper.make_graph(nodes, "rescale", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
                          [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    path = tmp_path / "rescale.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    x = rng.normal(0, 2, (300, 4)).astype(f32)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ref = np.concatenate([sess.run(None, {"x": x[i:i + 1]})[0] for i in range(len(x))])
    _, _, differ, near = simulate_against(path, x, ref)
    assert not np.any(differ.any(axis=1) & ~near) and differ.mean() < 0.01 and len(np.unique(ref)) > 100
