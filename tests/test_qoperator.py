"""onnxruntime's QOperator format (issue 16): QLinearConv, QLinearMatMul, QGemm, QLinearAdd,
QLinearGlobalAveragePool, QLinearConcat, QLinearSigmoid, MaxPool on integers, MatMulInteger,
rewritten into QDQ by frontend/qoperator.py. The models are made by onnxruntime's own tool
(quantize_static, QuantFormat.QOperator) from float models built here with onnx.helper, and
qconv's simulation is compared with onnxruntime running them, element for element: equal except
where a requantizer read an accumulator value within float32 error of a rounding boundary
(float32_error.near_codes, reported as ambiguous), and csim equals the simulation."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from qconv.pipeline import compile_model
from qconv.sim import simulate

from .helpers import build_and_csim, cli, ort_quantize, simulate_against


def _float_cnn(path):
    """x(1,3,8,8) -> Conv 3x3 -> Relu -> MaxPool 2 -> Conv 3x3 (same) -> Add (residual) -> Concat
    with a 1x1 Conv -> GlobalAveragePool -> Flatten -> Gemm -> Sigmoid."""
    rng = np.random.default_rng(5)
    w = {"w1": rng.normal(0, 0.4, (4, 3, 3, 3)), "b1": rng.normal(0, 0.1, 4), "w2": rng.normal(0, 0.3, (4, 4, 3, 3)),
         "b2": rng.normal(0, 0.1, 4), "w3": rng.normal(0, 0.5, (2, 4, 1, 1)), "b3": rng.normal(0, 0.1, 2),
         "w4": rng.normal(0, 0.5, (3, 6)), "b4": rng.normal(0, 0.1, 3), "shape": np.array([1, -1])}
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["c2", "p1"], ["a"]),
             helper.make_node("Conv", ["a", "w3", "b3"], ["c3"], kernel_shape=[1, 1]),
             helper.make_node("Concat", ["a", "c3"], ["cat"], axis=1),
             helper.make_node("GlobalAveragePool", ["cat"], ["g"]),
             helper.make_node("Reshape", ["g", "shape"], ["f"]),
             helper.make_node("Gemm", ["f", "w4", "b4"], ["l"], transB=1),
             helper.make_node("Sigmoid", ["l"], ["y"])]
    g = helper.make_graph(nodes, "cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
                          [numpy_helper.from_array(v.astype(np.int64 if k == "shape" else np.float32), k)
                           for k, v in w.items()])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def _quantize(tmp_path, per_channel: bool, uint8: bool):
    rng = np.random.default_rng(6)
    calibration = [{"x": rng.normal(0, 1, (1, 3, 8, 8)).astype(np.float32)} for _ in range(16)]
    out = tmp_path / f"cnn_qop_{'pc' if per_channel else 'pt'}{'_u8' * uint8}.onnx"
    return ort_quantize(_float_cnn(tmp_path / "cnn.onnx"), out, calibration, "QOperator", per_channel, uint8,
                        activation_symmetric=not uint8, weight_symmetric=not uint8)


def _onnxruntime(path, x):
    import onnxruntime as ort
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(None, {"x": x[i:i + 1]})[0] for i in range(len(x))])


@pytest.mark.parametrize("per_channel,uint8", [(False, True), (True, False)], ids=["uint8_per_tensor", "int8_per_channel"])
def test_qoperator_cnn_equals_onnxruntime(tmp_path, per_channel, uint8):
    path = _quantize(tmp_path, per_channel, uint8)
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert {"QLinearConv", "QLinearAdd", "QLinearConcat", "QLinearGlobalAveragePool", "QGemm", "QLinearSigmoid",
            "MaxPool"} <= ops, ops
    x = np.random.default_rng(7).normal(0, 1.2, (300, 3, 8, 8)).astype(np.float32)
    ref = _onnxruntime(path, x)
    g, result, differ, near = simulate_against(path, x, ref)
    differ = differ.any(axis=1)
    assert not np.any(differ & ~near), np.nonzero(differ & ~near)[0][:5]
    assert differ.mean() < 0.02 and len(np.unique(ref)) > 50


@pytest.mark.slow
def test_qoperator_cnn_csim_is_bit_exact(tmp_path):
    build_and_csim(_quantize(tmp_path, False, True), tmp_path / "prj", samples=50)


def _matmul_integer(path, w_max: int = 127):
    """x -> QuantizeLinear (uint8, zero point 128) -> MatMulInteger with int8 weights in
    [-w_max, w_max] (zero point 0) -> Cast to float -> Mul by the product of the scales: the static
    form of an integer matmul."""
    rng = np.random.default_rng(8)
    inits = {"xs": np.float32(0.02), "xz": np.uint8(128), "w": rng.integers(-w_max, w_max + 1, (12, 5)).astype(np.int8),
             "wz": np.int8(0), "s": np.float32(0.02 * 0.011)}
    nodes = [helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
             helper.make_node("MatMulInteger", ["xq", "w", "xz", "wz"], ["acc"]),
             helper.make_node("Cast", ["acc"], ["accf"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["accf", "s"], ["y"])]
    g = helper.make_graph(nodes, "mmi", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 12])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])],
                          [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def test_matmul_integer_equals_the_onnx_definition_and_onnxruntime(tmp_path):
    """The int32 sum of (x - xz)(w - wz) is exact; times a float32 scale it ends the model, so
    qconv's exact value rounded to float32 is the float32 multiply of the exact sum: computed here
    in numpy as the ONNX spec defines the three ops (full-range int8 weights), and by onnxruntime
    on weights in [-64, 64]: with larger ones its u8s8 kernel adds product pairs in int16 with
    saturation on x86 CPUs without VNNI (scripts/ort_corpus.py), so its output depends on the CPU."""
    x = np.random.default_rng(9).normal(0, 1.5, (400, 12)).astype(np.float32)
    for w_max in (127, 64):
        path = _matmul_integer(tmp_path / f"mmi{w_max}.onnx", w_max)
        if w_max == 64:
            ref = _onnxruntime(path, x)
        else:
            inits = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}
            xq = np.clip(np.rint(x / inits["xs"]) + 128, 0, 255).astype(np.int64)  # QuantizeLinear
            acc = (xq - 128) @ inits["w"].astype(np.int64)  # MatMulInteger, exact
            ref = acc.astype(np.float32) * inits["s"]  # Cast (exact below 2^24), Mul in float32
        g = compile_model(path)
        got = simulate(g, {"x": x.astype(np.float64)}).as_float()[g.output_names[0]].reshape(ref.shape)
        assert np.array_equal(got.astype(np.float32), ref) and len(np.unique(ref)) > 1000, w_max


def test_dynamic_quantization_is_one_error_line(tmp_path):
    """onnxruntime's quantize_dynamic writes DynamicQuantizeLinear (a scale computed from each input
    at run time): no fixed-point form, one line saying to quantize statically."""
    from onnxruntime.quantization import quantize_dynamic
    out = tmp_path / "dyn.onnx"
    quantize_dynamic(str(_float_cnn(tmp_path / "cnn.onnx")), str(out))
    r = cli("inspect", str(out))
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1, r.output
    assert "(DynamicQuantizeLinear): dynamic quantization" in r.output and "quantize_static" in r.output


def _pad_model(path, pad_inputs: list[str], attrs: dict | None = None, op: str = "QLinearSigmoid",
               pad_attrs: dict | None = None, per_axis: bool = False):
    """x -> QuantizeLinear (uint8, zero point 100; `per_axis`: two channels' scales and zero points)
    -> Pad on the integers -> a com.microsoft QLinear op -> DequantizeLinear: a QOperator model
    whose Pad pads integer codes."""
    inits = {"s": np.float32(0.05), "z": np.uint8(100), "pads": np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64),
             "ys": np.float32(1 / 256), "yz": np.uint8(0)}
    if per_axis:
        inits.update(sa=np.array([0.05, 0.1], np.float32), za=np.array([100, 100], np.uint8))
    q_op = (helper.make_node(op, ["pq", "s", "z", "ys", "yz"], ["p"], domain="com.microsoft", **(attrs or {}))
            if op == "QLinearSigmoid" else
            helper.make_node(op, ["pq", "s", "z", "ys", "yz"], ["p"], domain="com.microsoft", name="pool", **(attrs or {})))
    quantize = (helper.make_node("QuantizeLinear", ["x", "sa", "za"], ["q"], axis=1) if per_axis else
                helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]))
    nodes = [quantize, helper.make_node("Pad", pad_inputs, ["pq"], name="pad", **(pad_attrs or {})),
             q_op, helper.make_node("DequantizeLinear", ["p", "ys", "yz"], ["y"])]
    g = helper.make_graph(nodes, "pad", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("com.microsoft", 1)])
    m.ir_version = 8
    onnx.save(m, str(path))
    return path


@pytest.mark.parametrize("pad_attrs", [{}, {"mode": "constant"}], ids=["mode_default", "mode_given"])
def test_pad_on_integers_pads_with_the_zero_points_value(tmp_path, pad_attrs):
    """onnxruntime's tool pads integer tensors with the zero point as constant_value: the real value
    0, exact zero padding (not the float pad value 100). With mode="constant" written out (as
    PyTorch exports it) the attribute, bytes in onnx, was not recognised and the pad value not
    converted (found by review)."""
    path = _pad_model(tmp_path / "pad.onnx", ["q", "pads", "z"], pad_attrs=pad_attrs)
    x = np.random.default_rng(10).normal(0, 1, (50, 2, 4, 4)).astype(np.float32)
    ref = _onnxruntime(path, x).reshape(len(x), -1)
    g = compile_model(path)
    got = simulate(g, {"x": x.astype(np.float64)}).as_float()[g.output_names[0]].reshape(ref.shape)
    assert np.array_equal(got.astype(np.float32), ref) and np.all(ref.reshape(-1, 2, 6, 6)[:, :, 0] == np.float32(0.5))


@pytest.mark.parametrize("case,message", [
    ("no_constant", "ONNX node 'pad' (Pad): only zero constant padding is supported (mode constant, value -5.0)"),
    ("constant_not_scalar", "ONNX node 'pad' (Pad): constant_value must be one value (a scalar), got shape [8]"),
    ("no_constant_mode_given", "ONNX node 'pad' (Pad): only zero constant padding is supported (mode constant, "
                               "value -5.0)"),
    ("per_axis", "ONNX node 'pad' (Pad): pads a per-axis quantized tensor (one pad value per channel)"),
    ("channels_last", "ONNX node 'pool' (QLinearGlobalAveragePool): channels_last=1 (onnxruntime's NHWC layout"),
    ("ceil_include_pad", "ONNX node 'pool' (QLinearAveragePool): ceil_mode=1 with count_include_pad=1 is not supported"),
])
def test_qoperator_forms_qconv_cannot_match_are_one_error_line(tmp_path, case, message):
    """Pad without constant_value pads the integer 0, the real value (0 - 100) * 0.05 (also with
    mode="constant" given: it padded 0.0, silently wrong, found by review); a constant_value of
    eight values (its first was taken); a per-axis quantized input (a traceback); an NHWC
    pool (saved after onnxruntime's layout optimizer); a pool whose onnxruntime kernel disagrees
    with its own float AveragePool."""
    path = {"no_constant": lambda p: _pad_model(p, ["q", "pads"]),
            "constant_not_scalar": lambda p: _pad_model(p, ["q", "pads", "pads"]),
            "no_constant_mode_given": lambda p: _pad_model(p, ["q", "pads"], pad_attrs={"mode": "constant"}),
            "per_axis": lambda p: _pad_model(p, ["q", "pads", "z"], per_axis=True),
            "channels_last": lambda p: _pad_model(p, ["q", "pads", "z"], {"channels_last": 1}, "QLinearGlobalAveragePool"),
            "ceil_include_pad": lambda p: _pad_model(p, ["q", "pads", "z"], {"kernel_shape": [3, 3], "strides": [2, 2],
                                                                              "ceil_mode": 1, "count_include_pad": 1},
                                                     "QLinearAveragePool")}[case](tmp_path / "m.onnx")
    r = cli("inspect", str(path))
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1 and message in r.output, r.output
