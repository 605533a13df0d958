"""Non-zero zero points on QONNX Quant (Brevitas' asymmetric quantizers): the value
(q - z) * s is carried as the integers q - z, an exact offset, with the scale applied after the
next layer (commute_scales) and folded into the next quantizer's thresholds. The zero point is
added before rounding, RNE(clip(x / s + z)) as QONNX defines Quant (QONNX_SEMANTICS.md); the
test model is built with onnx.helper and checked against qonnx's own executor."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from qconv.analysis import float32_error

from .helpers import build_and_csim, cli, qonnx_reference_runs, simulate_against

QD = "qonnx.custom_op.general"


def _model(path, x_scale: float, x_zero: float, w_zero: np.ndarray, y_zero: float):
    """x -> Quant(4-bit unsigned, zero point) -> Conv 3x3 (6-bit signed weights with per-channel
    zero points) -> Relu -> Quant(8-bit signed, zero point) -> y."""
    rng = np.random.default_rng(3)
    inits = {"xs": np.float32(x_scale), "xz": np.float32(x_zero), "xb": np.float32(4),
             "w": rng.normal(0, 0.3, (4, 2, 3, 3)).astype(np.float32),
             "ws": np.array([0.05, 0.0625, 0.04, 0.03], np.float32).reshape(4, 1, 1, 1),
             "wz": np.asarray(w_zero, np.float32).reshape(4, 1, 1, 1), "wb": np.float32(6),
             "ys": np.float32(0.011), "yz": np.float32(y_zero), "yb": np.float32(8)}
    nodes = [helper.make_node("Quant", ["x", "xs", "xz", "xb"], ["xq"], domain=QD, signed=0, narrow=0,
                              rounding_mode="ROUND"),
             helper.make_node("Quant", ["w", "ws", "wz", "wb"], ["wq"], domain=QD, signed=1, narrow=0,
                              rounding_mode="ROUND"),
             helper.make_node("Conv", ["xq", "wq"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Quant", ["r", "ys", "yz", "yb"], ["y"], domain=QD, signed=1, narrow=0,
                              rounding_mode="ROUND")]
    g = helper.make_graph(nodes, "zp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 6, 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 6, 6])],
                          [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(QD, 1)]),
              str(path))
    return path


CASES = {"float_scale": (0.0731, 3.0, [1, -2, 0, 5], -20.0), "po2_scale": (0.125, 7.0, [0, 3, -1, 2], 9.0)}


@pytest.mark.parametrize("case", CASES)
def test_zero_points_equal_qonnx(tmp_path, case):
    """Equal to qonnx's executor element for element (float32 of qconv's exact values), on inputs
    that cover the input quantizer's clamp at both ends and its rounding ties."""
    path = _model(tmp_path / "zp.onnx", *CASES[case])
    rng = np.random.default_rng(4)
    x_scale = CASES[case][0]
    x = np.concatenate([rng.normal(0.3, 0.6, (40, 2, 6, 6)),
                        (rng.integers(-8, 30, (20, 2, 6, 6)) + 0.5) * x_scale]).astype(np.float32)
    ref = qonnx_reference_runs(path, {"x": x})[0].reshape(len(x), -1)
    g, result, differ, _ = simulate_against(path, x, ref)
    near = float32_error.near_codes(g, result.trace)
    # only y's requantizer can be ambiguous (the input's quantizer runs on the host, exactly); its
    # elements are the outputs', channels last
    assert set(near) <= {"y_int"}
    flagged = (near["y_int"].reshape(-1, 6, 6, 4).transpose(0, 3, 1, 2).reshape(differ.shape) if near
               else np.zeros_like(differ))
    assert not np.any(differ & ~flagged) and differ.mean() < 1e-3 and flagged.mean() < 0.6, (differ.sum(), flagged.mean())
    y_zero = CASES[case][3]
    assert len(np.unique(ref)) > 100 and ref.max() == np.float32((127 - y_zero) * np.float32(0.011))  # y clamps
    (inp,) = [g.node(n) for n in g.inputs]  # carries q - z in [-z, 15 - z]: 5 bits signed
    z = int(CASES[case][1])
    assert (inp.out.fixed.width, inp.out.fixed.signed) == (5, True) and inp.out.fixed.min_mantissa <= -z


@pytest.mark.slow
def test_zero_points_csim_is_bit_exact(tmp_path):
    build_and_csim(_model(tmp_path / "zp.onnx", *CASES["float_scale"]), tmp_path / "prj", samples=100)


def test_non_integer_zero_point_is_one_error_line(tmp_path):
    r = cli("inspect", str(_model(tmp_path / "zp.onnx", 0.0731, 2.5, [0, 0, 0, 0], 0.0)))
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1
    assert "zero point [2.5] is not an integer" in r.output and "ONNX node" in r.output
