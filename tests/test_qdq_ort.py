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


def _onnxruntime(path, x):
    """onnxruntime's output for input "x", one sample per run (as the models' batch axis is 1)."""
    import onnxruntime as ort
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(None, {"x": x[i:i + 1]})[0] for i in range(len(x))])


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
    path = _quantized(tmp_path, per_channel, symmetric, uint8)
    model = onnx.load(str(path))
    weights = [n for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in ("w1_quantized", "w2_quantized")]
    assert len(weights) == 2 and "QuantizeLinear" not in {n.op_type for n in model.graph.node
                                                          if n.output[0] in {w.input[0] for w in weights}}
    x = np.random.default_rng(2).normal(0, 1.5, (500, 16)).astype(np.float32)
    ref = _onnxruntime(path, x)
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
    ref = _onnxruntime(path, x)
    _, _, differ, near = simulate_against(path, x, ref)
    assert not np.any(differ.any(axis=1) & ~near) and differ.mean() < 0.01 and len(np.unique(ref)) > 100


def _int32_bias_gemm(path, bias: np.ndarray, bias_zero_point: int, out_exponent: int):
    """x (int8, scale 2^-4) @ W (int8 initializer, 2^-6) + DequantizeLinear(int32 bias, 2^-10,
    bias_zero_point), quantized to int16 with scale 2^out_exponent (opset 21: int16 activations)."""
    f32 = np.float32
    w = np.random.default_rng(5).integers(-127, 128, (16, bias.size)).astype(np.int8)
    inits = {"wq": w, "sw": f32(2**-6), "zw": np.int8(0), "bq": bias.astype(np.int32), "sb": f32(2**-10),
             "zb": np.int32(bias_zero_point), "sx": f32(2**-4), "zx": np.int8(0), "so": f32(2.0**out_exponent),
             "zo": np.int16(0)}
    nodes = [helper.make_node("QuantizeLinear", ["x", "sx", "zx"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "sx", "zx"], ["xd"]),
             helper.make_node("DequantizeLinear", ["wq", "sw", "zw"], ["wd"]),
             helper.make_node("DequantizeLinear", ["bq", "sb", "zb"], ["bd"]),
             helper.make_node("Gemm", ["xd", "wd", "bd"], ["h"]),
             helper.make_node("QuantizeLinear", ["h", "so", "zo"], ["hq"]),
             helper.make_node("DequantizeLinear", ["hq", "so", "zo"], ["y"])]
    g = helper.make_graph(nodes, "bias", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, bias.size])],
                          [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)]), str(path))
    return path


def test_int32_bias_with_a_large_zero_point_equals_onnxruntime(tmp_path):
    """An int32 bias near 3e7 with a zero point near it: onnxruntime subtracts in int32, so the
    codes q - z are small and exact; qconv took the zero point through float32 (3e7 + 1 -> 3e7)
    and 12-129 of 512 outputs were wrong."""
    b = 30_000_000 + np.random.default_rng(6).integers(-1000, 1000, 8)
    x = np.random.default_rng(7).normal(0, 3, (64, 16)).astype(np.float32)
    for zero_point in (30_000_000, 30_000_001):
        path = _int32_bias_gemm(tmp_path / f"bias_{zero_point}.onnx", b, zero_point, -9)
        ref = _onnxruntime(path, x)
        _, _, differ, near = simulate_against(path, x, ref)
        assert not differ.any() and not near.any() and len(np.unique(ref)) > 300


def test_int32_bias_beyond_float32_is_rounded_as_onnxruntime_does(tmp_path):
    """DequantizeLinear's output is float32: onnxruntime rounds an int32 bias above 2^24 to
    float32 (1024 * 29294 + 513 becomes + 512, a tie that rounds to even). With x = 0 the outputs
    are round(float32(b) / 1024), which differ from the exact round(b / 1024) in two places."""
    m = 29294
    b = np.array([1024 * m + 511, 1024 * m + 513, -(1024 * m + 511), 1024 * m + 1535, 5, 2**24 + 1, 1024 * m, 7])
    path = _int32_bias_gemm(tmp_path / "bias.onnx", b, 0, 0)
    x = np.zeros((1, 16), np.float32)
    ref = _onnxruntime(path, x)
    _, _, differ, _ = simulate_against(path, x, ref)
    assert not differ.any()
    assert ref.reshape(-1).tolist() == [m, m, -m, m + 2, 0, 16384, m, 0]
    assert np.round(b / 1024).tolist() == [m, m + 1, -m, m + 1, 0, 16384, m, 0]


def test_int32_bias_whose_difference_leaves_int32_is_one_error_line(tmp_path):
    path = _int32_bias_gemm(tmp_path / "bias.onnx", np.array([-(2**31) + 5, 0, 0, 0]), 100, 0)
    r = cli("inspect", path)
    assert r.exit_code == 2 and r.output.count("\n") == 1
    assert "stored integer -2147483643 minus zero point 100 leaves the int32 range" in r.output
