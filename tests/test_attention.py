"""Attention blocks exported without a batch axis (PyTorch's (sequence, batch, embedding) inputs,
like ../shared/models/qonnx/sdp.onnx): imported as one sample, MatMul of two activations, and
the same numbers as qonnx's executor, the numpy simulator and the g++ C simulation."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from qconv.errors import BatchAxisError, QconvError
from qconv.frontend import import_onnx
from qconv.pipeline import compile_model
from qconv.sim import simulate

from .helpers import build_and_csim, qonnx_reference_runs

QD = "qonnx.custom_op.general"
L, HEADS, D = 6, 2, 4  # sequence length, heads, head size: inputs (L, 1, HEADS * D)


def attention(path, scores="softmax", tail_op: str | None = None):
    """Q, K, V (L, 1, E) -> per-head softmax(Q K^T * 1/2) V -> (L, 1, E), the way torch exports
    scaled-dot-product attention (sdp.onnx). Q, K, V are quantized to 4 fraction bits.
    scores="quant": a po2 Quant replaces the Softmax, so every value is a short dyadic and the
    float32 reference is exact. tail_op appends a node (e.g. "Conv") after the output."""
    nodes, inits = [], []

    def const(name, values, dtype=np.float32):
        if name not in {i.name for i in inits}:
            inits.append(numpy_helper.from_array(np.asarray(values, dtype), name))
        return name

    def quant(src, bits, frac, name):
        args = [const(f"{name}_{k}", v) for k, v in (("s", 2.0**-frac), ("z", 0.0), ("b", float(bits)))]
        nodes.append(helper.make_node("Quant", [src] + args, [name], domain=QD, signed=1, narrow=0,
                                      rounding_mode="ROUND"))
        return name

    def node(op, ins, name, **attrs):
        nodes.append(helper.make_node(op, ins, [name], name=name, **attrs))
        return name

    heads = {}
    for x, perm in (("q", [1, 0, 2]), ("k", [1, 2, 0]), ("v", [1, 0, 2])):
        # the three inputs share their shape constants (rewritten once, see batch_axis.shifted_input)
        r = node("Reshape", [quant(x, 8, 4, f"{x}_q"), const("split_heads", [L, 1, HEADS, D], np.int64)], f"{x}_r1")
        r = node("Reshape", [r, const("drop_batch", [L, HEADS, D], np.int64)], f"{x}_r2")
        heads[x] = node("Transpose", [r], f"{x}_t", perm=perm)
    s = node("MatMul", [heads["q"], heads["k"]], "scores")
    s = node("Mul", [s, const("half", 0.5)], "scaled")
    p = node("Softmax", [s], "probs", axis=-1) if scores == "softmax" else quant(s, 10, 2, "probs")
    o = node("MatMul", [p, heads["v"]], "context")
    o = node("Transpose", [o], "context_t", perm=[1, 0, 2])
    o = node("Reshape", [o, const("split_heads", [L, 1, HEADS, D], np.int64)], "out_r1")
    out = node("Reshape", [o, const("o_s2", [L, 1, HEADS * D], np.int64)], "out")
    if tail_op == "Conv":
        out = node("Conv", [out, const("w", np.ones((1, 1, 1)))], "conv")
    graph = helper.make_graph(nodes, "attention",
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, [L, 1, HEADS * D]) for x in "qkv"],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(QD, 1)])
    onnx.save(model, str(path))
    return path


def _inputs(samples: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {x: rng.uniform(-3, 3, (samples, L, 1, HEADS * D)) for x in "qkv"}


def test_imported_as_one_sample(tmp_path):
    graph = import_onnx(attention(tmp_path / "a.onnx"))
    assert graph.notes == ["no batch axis: the whole declared input shape is one sample"]
    assert [graph.node(n).out.shape for n in graph.inputs] == [(L, 1, HEADS * D)] * 3
    matmuls = [n for n in graph.topo() if n.op == "MatMul"]
    assert [(m.out.shape, m.attrs["k"]) for m in matmuls] == [((HEADS, L, L), D), ((HEADS, L, D), L)]


def test_equals_qonnx_reference_exactly(tmp_path):
    path = attention(tmp_path / "a.onnx", scores="quant")
    inputs = _inputs(5)
    graph = compile_model(path)
    got = simulate(graph, inputs).as_float()[graph.output_names[0]]
    want = qonnx_reference_runs(path, inputs, batch_axis=False)[0]
    assert np.count_nonzero(got) > 0.5 * got.size
    np.testing.assert_array_equal(got.reshape(-1), want.reshape(-1))


@pytest.mark.slow
def test_sim_equals_csim_with_softmax(tmp_path):
    path = attention(tmp_path / "a.onnx")
    np.savez(tmp_path / "in.npz", **_inputs(6, seed=1))
    assert build_and_csim(path, tmp_path / "prj", "--default-type", "ap_fixed<16,6,AP_RND_CONV,AP_SAT>",
                          "--inputs", str(tmp_path / "in.npz")) == 6


def test_no_batch_axis_and_an_op_with_fixed_axes_is_a_clear_error(tmp_path):
    with pytest.raises(BatchAxisError) as info:
        import_onnx(attention(tmp_path / "a.onnx", tail_op="Conv"))
    msg = str(info.value)
    assert "must keep the batch dimension first" in msg
    assert "as one sample does not work either: ONNX node 'conv' (Conv)" in msg


def test_leading_dimension_one_keeps_the_batch_error(tmp_path):
    """A model that declares batch 1 and moves it is not rewritten: its error stands."""
    model = onnx.load(str(attention(tmp_path / "a.onnx")))
    for vi in model.graph.input:
        vi.type.tensor_type.shape.dim[0].dim_value = 1
    onnx.save(model, str(tmp_path / "b.onnx"))
    with pytest.raises(BatchAxisError, match="must keep the batch dimension first") as info:
        import_onnx(tmp_path / "b.onnx")
    assert "one sample" not in str(info.value)


def test_report_counts_the_activation_matmuls(tmp_path):
    from qconv.report import build_report
    graph = compile_model(attention(tmp_path / "a.onnx"), default_type="ap_fixed<16,6>")
    rows = {r["layer"]: r for r in build_report(graph)["layers"]}
    assert rows["scores"]["ops"] == HEADS * L * L * D and rows["context"]["ops"] == HEADS * L * D * L
    assert rows["scores"]["multiplier"] == "ap_fixed<16,8>"  # Q and K: ap_fixed<8,4> each


def test_constant_subgraphs_keep_their_axes_in_a_model_without_batch_axis(tmp_path):
    """Only nodes on activations are shifted: a bias Unsqueeze(axes=[0]) and a Gather of a
    table row are folded with their own axes (rows, not columns)."""
    rows, cols = 4, 4
    table = np.arange(16, dtype=np.float32).reshape(rows, cols)
    inits = [numpy_helper.from_array(table, "table"), numpy_helper.from_array(np.array(1, np.int64), "row"),
             numpy_helper.from_array(np.array([1, 2, 3, 4], np.float32), "bias"),
             numpy_helper.from_array(np.array([0], np.int64), "axes")]
    for k, v in (("s", 2.0**-4), ("z", 0.0), ("b", 8.0)):
        inits.append(numpy_helper.from_array(np.float32(v), k))
    nodes = [helper.make_node("Quant", ["x", "s", "z", "b"], ["xq"], domain=QD, signed=1, narrow=0,
                              rounding_mode="ROUND"),
             helper.make_node("Unsqueeze", ["bias", "axes"], ["bias_row"]),  # (1, 4): added to every row
             helper.make_node("Gather", ["table", "row"], ["table_row"], axis=0),  # [4, 5, 6, 7]
             helper.make_node("Add", ["xq", "bias_row"], ["sum1"]),
             helper.make_node("Add", ["sum1", "table_row"], ["sum2"]),
             helper.make_node("Transpose", ["sum2"], ["y"], perm=[1, 0])]  # moves the leading axis
    graph = helper.make_graph(nodes, "consts", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, cols])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [cols, rows])], inits)
    path = tmp_path / "c.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(QD, 1)]),
              str(path))
    x = np.round(np.random.default_rng(0).uniform(-3, 3, (2, rows, cols)) * 16) / 16
    compiled = compile_model(path)
    assert compiled.notes == ["no batch axis: the whole declared input shape is one sample"]
    got = simulate(compiled, {"x": x}).as_float()[compiled.output_names[0]]
    np.testing.assert_array_equal(got, (x + [5, 7, 9, 11]).transpose(0, 2, 1))


def test_constant_left_operand_of_matmul_is_a_clear_error(tmp_path):
    model = onnx.load(str(attention(tmp_path / "a.onnx", scores="quant")))
    model.graph.initializer.append(numpy_helper.from_array(np.ones((HEADS, L, D), np.float32), "k_const"))
    for node in model.graph.node:
        if node.op_type == "MatMul" and node.output[0] == "scores":
            node.input[0] = "k_const"
    onnx.save(model, str(tmp_path / "b.onnx"))
    with pytest.raises(QconvError, match="MatMul of a constant by an activation is not supported"):
        compile_model(tmp_path / "b.onnx")
