"""The threshold family (Thresholds): float (non-power-of-two) scales carried as integers
(commute_scales) into exact requantizers (fuse_requantizer): the sums the thresholds read keep their
exact type even with --default-type, and the float32-ambiguous sums (passes/float32_error.py) are
counted through max pooling."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from qconv.errors import QconvError
from qconv.analysis import float32_error
from qconv.analysis.float32_error import warnings
from qconv.pipeline import compile_model
from qconv.sim import simulate

from ..helpers import build_and_csim, qonnx_reference_runs

QD = "qonnx.custom_op.general"


def _model(path, body: str, shared_input: bool = False):
    """x (1, 3, 16) -> Quant (scale 0.0371) -> `body` -> Mul 0.77 -> Quant (scale 2^-6).
    body: "conv" (Conv by 4-bit weights, scale 1/8), "conv_maxpool" (then MaxPool 2) or
    "matmul" (x^T y, y a second input (1, 3, 16) with scale 0.0412: a MatMul of two activations).
    shared_input: y is x again, read by its second quantizer."""
    inits, nodes = [], []

    def const(name, v):
        inits.append(numpy_helper.from_array(np.asarray(v, np.float32), name))
        return name

    def quant(src, bits, scale, name):
        args = [const(name + "_s", scale), const(name + "_z", 0.0), const(name + "_b", float(bits))]
        nodes.append(helper.make_node("Quant", [src] + args, [name], domain=QD, signed=1, narrow=0,
                                      rounding_mode="ROUND"))
        return name

    x = quant("x", 8, 0.0371, "xq")
    if body == "matmul":
        nodes.append(helper.make_node("Transpose", [x], ["xt"], perm=[0, 2, 1]))
        nodes.append(helper.make_node("MatMul", ["xt", quant("x" if shared_input else "y", 6, 0.0412, "yq")], ["sums"]))
    else:
        w = quant(const("w", np.random.default_rng(0).uniform(-1, 1, (4, 3, 3))), 4, 2.0**-3, "wq")
        nodes.append(helper.make_node("Conv", [x, w], ["sums"], pads=[1, 1]))
        if body == "conv_maxpool":
            nodes.append(helper.make_node("MaxPool", ["sums"], ["pooled"], kernel_shape=[2], strides=[2]))
    last = nodes[-1].output[0]
    nodes.append(helper.make_node("Mul", [last, const("f", 0.77)], ["scaled"]))
    out = quant("scaled", 8, 2.0**-6, "out")
    names = ["x"] + (["y"] if body == "matmul" and not shared_input else [])
    graph = helper.make_graph(nodes, "scales", [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 3, 16])
                                                for n in names],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(QD, 1)]),
              str(path))
    return path


@pytest.mark.parametrize("body", ["conv", "conv_maxpool", "matmul"])
@pytest.mark.parametrize("default_type", [None, "ap_fixed<8,3>"])
def test_scaled_sums_stay_exact_with_a_default_type(tmp_path, body, default_type):
    path = _model(tmp_path / "m.onnx", body)
    rng = np.random.default_rng(1)
    inputs = {name: rng.uniform(-4, 4, (30, 3, 16)) for name in ("x", "y")[:1 + (body == "matmul")]}
    graph = compile_model(path, default_type=default_type)
    got = simulate(graph, inputs).as_float()[graph.output_names[0]]
    want = qonnx_reference_runs(path, inputs)[0]
    assert np.count_nonzero(got) > got.size // 2
    np.testing.assert_array_equal(got.reshape(-1), want.reshape(-1))


def test_ambiguous_sums_are_counted_through_max_pooling(tmp_path):
    """MaxPool keeps the Conv's sums: the same accumulator values, the same count."""
    counts = []
    for body in ("conv", "conv_maxpool"):
        graph = compile_model(_model(tmp_path / f"{body}.onnx", body))
        (node,) = [n for n in graph.topo() if n.attrs.get("ambiguous")]
        counts.append(node.attrs["ambiguous"])
        assert len(warnings(graph)) == 1 and "'sums' (Conv)" in warnings(graph)[0]
    assert counts[0] == counts[1] and counts[0][0] > 0


def test_the_codes_near_thresholds_are_each_window_once():
    """_near_intervals: disjoint sorted intervals holding exactly the union of the windows
    t - reach - 1 .. t + reach within lo..hi (windows overlap, repeat, come unsorted, fall outside, or
    there are none)."""
    rng = np.random.default_rng(0)
    for _ in range(2000):
        lo, reach = int(rng.integers(-40, 10)), int(rng.integers(0, 6))
        hi = lo + int(rng.integers(0, 40))
        steps = rng.integers(lo - 10, hi + 10, int(rng.integers(0, 10))).tolist()  # unsorted, repeats
        want = np.unique(np.concatenate([np.arange(t - reach - 1, t + reach + 1) for t in steps] or [[lo]]))
        want = want[(want >= lo) & (want <= hi)]
        first, last = float32_error._near_intervals(steps, reach, lo, hi)
        assert (first[1:] > last[:-1] + 1).all()
        got = np.concatenate([np.arange(a, b + 1) for a, b in zip(first, last)] or [np.empty(0, np.int64)])
        np.testing.assert_array_equal(got, want)


def test_a_capped_count_is_a_lower_bound(tmp_path, monkeypatch):
    """Past MAX_CODES examined codes the count stops and says it is a lower bound."""
    path = _model(tmp_path / "m.onnx", "conv")
    count, total, capped = compile_model(path).node("out").attrs["ambiguous"]
    assert (count, capped) == (4, False)
    counts = []
    for most in (1, 256, 1019, 1020):  # the model needs 1020: 1019 stops inside the last batch
        monkeypatch.setattr(float32_error, "MAX_CODES", most)
        counts.append(compile_model(path).node("out").attrs["ambiguous"])
    assert counts == [(0, total, True), (2, total, True), (4, total, True), (4, total, False)]
    monkeypatch.setattr(float32_error, "MAX_CODES", 1)
    assert "at least 0 of" in warnings(compile_model(path))[0]


def test_a_matmul_of_float_scaled_activations_is_exact_and_its_ties_counted(tmp_path):
    graph = compile_model(_model(tmp_path / "m.onnx", "matmul"))
    assert [n.op for n in graph.topo()] == ["Input", "Input", "Transpose", "MatMul", "Thresholds"]
    assert graph.node("out").attrs["ambiguous"][0] > 0 and "'sums' (MatMul)" in warnings(graph)[0]


def test_an_input_read_by_two_quantizers_needs_an_input_type(tmp_path):
    """Neither quantizer can own the input (its integers would feed the other): without
    --input-type a clear error; with one, both quantizers are exact thresholds on the cast input."""
    path = _model(tmp_path / "m.onnx", "matmul", shared_input=True)
    with pytest.raises(QconvError, match="no single quantizer gives this input a fixed-point type"):
        compile_model(path)
    graph = compile_model(path, input_type="ap_fixed<10,4>")
    t = graph.node("x").out.fixed
    x = t.to_float(t.from_float(np.random.default_rng(1).uniform(-4, 4, (30, 3, 16))))
    got = simulate(graph, {"x": x}).as_float()["out"]
    np.testing.assert_array_equal(got.reshape(-1), qonnx_reference_runs(path, {"x": x})[0].reshape(-1))


@pytest.mark.slow
def test_a_matmul_of_float_scaled_activations_is_csim_bit_exact(tmp_path):
    assert build_and_csim(_model(tmp_path / "m.onnx", "matmul"), tmp_path / "prj", samples=200) == 200
