"""Float tails after the last quantizer (qconv.onnx_tools.last_quantized / cut_at) and the
conformance row's exactness there, on small models built here."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from qconv.conform import _qonnx_reference, conform_model
from qconv.onnx_tools import QONNX_DOMAIN, add_quant, cut_at, last_quantized
from qconv.analysis.float32_error import warnings
from qconv.pipeline import compile_model


def _const(inits: list, name: str, value) -> str:
    inits.append(numpy_helper.from_array(np.asarray(value, np.float32 if name != "shape" else np.int64), name))
    return name


def _model(tail, act_quant: bool = True) -> onnx.ModelProto:
    """x[1,8] -> Quant (float scale 0.0371, 6 bits) -> MatMul by Quant(W) -> `tail(nodes, inits, x)`,
    which appends its nodes and returns the graph output's name."""
    nodes, inits = [], []
    x = add_quant(nodes, inits, "x", "xq", 0.0371, 6, True, False) if act_quant else "x"
    _const(inits, "w", np.random.default_rng(0).normal(size=(8, 4)))
    add_quant(nodes, inits, "w", "wq", 0.125, 4, True, True)
    nodes.append(helper.make_node("MatMul", [x, "wq"], ["mm"]))
    out = tail(nodes, inits, "mm")
    graph = helper.make_graph(nodes, "tail", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 8])],
                              [helper.make_tensor_value_info(out, onnx.TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(QONNX_DOMAIN, 1)])


def softmax_tail(nodes, inits, x):
    nodes += [helper.make_node("Mul", [x, _const(inits, "k", 0.3)], ["scaled"]),
              helper.make_node("Softmax", ["scaled"], ["y"])]
    return "y"


def affine_tail(nodes, inits, x):
    nodes += [helper.make_node("Mul", [x, _const(inits, "k", 0.3)], ["scaled"]),
              helper.make_node("Add", ["scaled", _const(inits, "b", 0.1)], ["y"])]
    return "y"


def quantized_output(nodes, inits, x):
    q = add_quant(nodes, inits, x, "yq", 0.25, 8, True, False)
    nodes.append(helper.make_node("Reshape", [q, _const(inits, "shape", [1, 2, 2])], ["y"]))
    return "y"


def test_float_tail_is_found_and_cut(tmp_path):
    model = _model(softmax_tail)
    assert last_quantized(model) == ["xq"]  # the weight quantizer wq is not on the activation path
    cut = onnx.load(str(cut_at(model, ["xq"], tmp_path / "cut.onnx")))
    assert [o.name for o in cut.graph.output] == ["xq"]
    assert [n.op_type for n in cut.graph.node] == ["Quant"]
    assert [i.name for i in cut.graph.input] == ["x"]
    assert sorted(i.name for i in cut.graph.initializer) == ["xq_bits", "xq_scale", "xq_zeropt"]
    x = np.random.default_rng(1).uniform(-1.5, 1.5, size=(16, 1, 8)).astype(np.float32)
    (y,) = _qonnx_reference(tmp_path / "cut.onnx", {"x": x})
    scale = np.float32(0.0371)
    assert np.array_equal(y, np.clip(np.round(x / scale), -32, 31) * scale)


def test_no_tail_after_an_output_quantizer_or_without_activation_quantizers():
    assert last_quantized(_model(quantized_output)) is None  # Quant -> Reshape -> output
    assert last_quantized(_model(softmax_tail, act_quant=False)) is None  # only a weight quantizer


def test_conformance_row_gives_the_exactness_at_the_last_quantizer(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(_model(affine_tail), str(path))
    x = np.random.default_rng(2).uniform(-1.5, 1.5, size=(16, 1, 8)).astype(np.float32)
    np.savez(tmp_path / "m.ref.npz", x=x, y=_qonnx_reference(path, {"x": x})[0])
    row = conform_model(path, tmp_path)
    assert row.status == "ok", row.status
    assert (row.tail_tensor, row.tail_exact) == ("xq", 1.0), row.notes


def test_final_outputs_are_compared_in_the_references_float32(tmp_path):
    """An output quantizer with a float scale: qconv's exact q*s differs from the reference's
    float32(q*s) below float32's last bit (max_abs_err > 0), and equals it once rounded (exact 1.0)."""
    nodes, inits = [], []
    add_quant(nodes, inits, "x", "y", 0.0371, 8, True, False)
    graph = helper.make_graph(nodes, "q", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 8])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)], inits)
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                      helper.make_opsetid(QONNX_DOMAIN, 1)]), str(path))
    x = np.random.default_rng(3).uniform(-5, 5, size=(16, 1, 8)).astype(np.float32)
    np.savez(tmp_path / "m.ref.npz", x=x, y=_qonnx_reference(path, {"x": x})[0])
    row = conform_model(path, tmp_path)
    assert row.status == "ok", row.status
    assert row.tail_tensor is None and row.exact == 1.0 and 0 < row.max_abs_err < 1e-6


def test_sums_a_float32_reference_may_round_either_way_are_counted_and_reported(tmp_path):
    """x (scale s) @ W (scale 1/8) -> Quant (scale s): the output is round(x @ W) on the integers
    of x, so every sum with fraction 1/2 is an exact tie, which the reference's float32 MatMul of rounded q*s values
    breaks either way. qconv rounds the exact tie (half even), counts those sums and says so."""
    def same_scale_output(nodes, inits, x):
        return add_quant(nodes, inits, x, "y", 0.0371, 8, True, False)
    path = tmp_path / "m.onnx"
    onnx.save(_model(same_scale_output), str(path))
    graph = compile_model(path)
    (node,) = [n for n in graph.topo() if n.attrs.get("ambiguous")]
    t = graph.producers(node)[0].out.fixed
    # the sum's value (W's scale 1/8 in its type) times s, quantized with scale s: round(value)
    half = np.arange(t.min_mantissa, t.max_mantissa + 1) * t.lsb - 0.5  # k of a tie k + 0.5
    ties = np.count_nonzero((half == np.floor(half)) & (half >= -128) & (half + 1 <= 127))  # inside the clamp
    assert node.attrs["period"] == 1 and node.attrs["ambiguous"] == (ties, t.max_mantissa - t.min_mantissa + 1, False)
    assert ties == 255 and len(warnings(graph)) == 1 and "may round either way" in warnings(graph)[0]
    x = np.random.default_rng(2).uniform(-1.5, 1.5, size=(16, 1, 8)).astype(np.float32)
    np.savez(tmp_path / "m.ref.npz", x=x, y=_qonnx_reference(path, {"x": x})[0])
    row = conform_model(path, tmp_path)
    assert row.status == "ok" and row.ambiguous == {"count": 255, "total": 4096, "lower_bound": False}
