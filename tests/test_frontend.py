"""ONNX import forms (Gemm attributes, bias shapes, layouts) against qonnx's reference executor,
and the Sigmoid table against the directly rounded function, exactly."""

from __future__ import annotations

import itertools

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from qconv.fixed import FixedType
from qconv.ir import Const, Graph, Node, TensorType
from qconv.passes import Options, build_tables
from qconv.pipeline import compile_model
from qconv.sim import simulate

from .conftest import qonnx_reference
from .helpers import cli

QD = "qonnx.custom_op.general"


def _quant(name, src, scale, bits, inits, signed=1, narrow=0):
    for suffix, v in (("s", scale), ("z", 0.0), ("b", float(bits))):
        inits.append(numpy_helper.from_array(np.array(v, np.float32), f"{name}_{suffix}"))
    return helper.make_node("Quant", [src, f"{name}_s", f"{name}_z", f"{name}_b"], [name], name=name, domain=QD,
                            signed=signed, narrow=narrow, rounding_mode="ROUND")


def _save(tmp_path, nodes, inits, in_shape, name):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(QD, 1)])
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, str(path))
    return path


GEMM_FORMS = list(itertools.product([0, 1], [1.0, 0.5, 4.0], [1.0, 0.25], [(6,), (1, 6)]))


@pytest.mark.parametrize("trans_b,alpha,beta,bias_shape", GEMM_FORMS)
def test_gemm_forms_equal_qonnx(tmp_path, trans_b, alpha, beta, bias_shape):
    rng = np.random.default_rng(7)
    w = rng.normal(0, 1, (6, 10) if trans_b else (10, 6)).astype(np.float32)
    b = rng.normal(0, 1, bias_shape).astype(np.float32)
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")]
    nodes = [_quant("xq", "x", 2.0**-4, 8, inits), _quant("wq", "w", 2.0**-3, 5, inits, narrow=1),
             _quant("bq", "b", 2.0**-5, 8, inits),
             helper.make_node("Gemm", ["xq", "wq", "bq"], ["y"], name="fc", transB=trans_b, alpha=alpha, beta=beta)]
    path = _save(tmp_path, nodes, inits, [1, 10], "gemm")
    x = rng.uniform(-9, 9, (16, 10))
    y = simulate(compile_model(path), {"x": x}).as_float()["y"]
    np.testing.assert_array_equal(y, qonnx_reference(path, x))


@pytest.mark.parametrize("in_shape", [[1, 2, 3, 4], [1, 3, 4, 2]], ids=["channels_first", "channels_last"])
def test_flatten_layouts_equal_qonnx(tmp_path, in_shape):
    rng = np.random.default_rng(3)
    w = rng.normal(0, 1, (24, 5)).astype(np.float32)
    inits = [numpy_helper.from_array(w, "w")]
    nodes = [_quant("xq", "x", 2.0**-3, 6, inits), helper.make_node("Flatten", ["xq"], ["f"], name="flat"),
             _quant("wq", "w", 2.0**-2, 4, inits), helper.make_node("MatMul", ["f", "wq"], ["m"], name="mm"),
             helper.make_node("Relu", ["m"], ["r"], name="relu"), _quant("y", "r", 2.0**-1, 4, inits, signed=0)]
    path = _save(tmp_path, nodes, inits, in_shape, "flat")
    x = rng.uniform(-5, 5, (32, *in_shape[1:]))
    y = simulate(compile_model(path), {"x": x}).as_float()["y"]
    np.testing.assert_array_equal(y, qonnx_reference(path, x))


@pytest.mark.parametrize("t_in,t_out", [("ap_fixed<10,4>", "ap_ufixed<8,0,AP_RND,AP_SAT>"),
                                        ("ap_fixed<16,6>", "ap_fixed<16,6>"),
                                        ("ap_ufixed<7,7>", "ap_fixed<12,2,AP_RND_CONV,AP_SAT>")])
def test_sigmoid_table_equals_rounded_function_on_every_input(t_in, t_out):
    tin, tout = FixedType.parse(t_in), FixedType.parse(t_out)
    g = Graph("t")
    g.add(Node("x", "Input", [], TensorType((1,), tin)))
    g.add(Node("s", "Table", ["x"], TensorType((1,), tout), attrs={"fn": "sigmoid"}))
    g.inputs, g.outputs, g.output_names = ["x"], ["s"], ["s"]
    build_tables.apply(g, Options())
    node = g.node("s")
    assert node.attrs["hi"] - node.attrs["lo"] + 1 == node.consts["table"].values.size < 2**16
    codes = np.arange(tin.min_mantissa, tin.max_mantissa + 1)
    from qconv.sim import run
    got = run(g, {"x": codes.reshape(-1, 1)}).outputs["s"].reshape(-1)
    want = tout.from_float(1.0 / (1.0 + np.exp(-tin.to_float(codes))))
    np.testing.assert_array_equal(got, want)


def test_const_quantization_with_per_channel_power_of_two_scales():
    from qconv.quantizers import IntQuant
    q = IntQuant.from_inputs(np.array([[0.5], [0.125]], np.float32), 0.0, 4, signed=1, narrow=0)
    w = np.array([[1.3, -2.0, 7.0], [0.3, -0.06, 5.0]])
    mant, t = q.quantize_constant(w)
    np.testing.assert_array_equal(t.to_float(mant), q(w))
    assert t == FixedType(6, 3, True)
    assert Const(mant, t).as_float().tolist() == [[1.5, -2.0, 3.5], [0.25, -0.0, 0.875]]


def test_topk_k1_is_the_first_argmax(tmp_path):
    inits = []
    nodes = [_quant("xq", "x", 2.0**-1, 4, inits),
             helper.make_node("TopK", ["xq", "k"], ["v", "y"], name="top", axis=-1, largest=1)]
    inits.append(numpy_helper.from_array(np.array([1], np.int64), "k"))
    path = _save(tmp_path, nodes, inits, [1, 7], "topk")
    x = np.random.default_rng(4).integers(-8, 8, (200, 7)) / 2.0  # many ties
    graph = compile_model(path)
    y = simulate(graph, {"x": x}).outputs["y"].reshape(-1)
    np.testing.assert_array_equal(y, np.argmax(x, axis=1))  # the first of equal maxima, as ONNX
    assert graph.node(graph.outputs[0]).out.fixed == FixedType(3, 3, signed=False)


def _annotated_model(path, w_values, w_datatype="INT4", x_datatype="UINT8"):
    """x [1, 3] (annotated x_datatype) @ W (an initializer annotated w_datatype): no Quant node."""
    from onnx import TensorProto, helper, numpy_helper
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"], name="mm")], "annotated",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
        [numpy_helper.from_array(np.asarray(w_values, np.float32), "W")])
    for name, dt in (("x", x_datatype), ("W", w_datatype)):
        a = graph.quantization_annotation.add()
        a.tensor_name = name
        entry = a.quant_parameter_tensor_names.add()
        entry.key, entry.value = "finn_datatype", dt
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def test_finn_datatype_annotations_type_inputs_and_weights(tmp_path):
    """FINN-ONNX annotates tensors (graph.quantization_annotation, finn_datatype) instead of
    quantizing them: UINT8 pixels and INT4 weights are their exact types, no option needed; the
    simulation is x @ W on every input value."""
    from qconv.frontend.annotation import fixed_type
    from qconv.pipeline import compile_model
    from qconv.sim import run
    assert [fixed_type(n) and fixed_type(n).to_cpp() for n in (
        "BINARY", "BIPOLAR", "TERNARY", "INT4", "UINT8", "FIXED<8,3>", "FLOAT32", "SCALEDINT<8>")] == [
        "ap_ufixed<1,1>", "ap_fixed<2,2>", "ap_fixed<2,2>", "ap_fixed<4,4>", "ap_ufixed<8,8>", "ap_fixed<8,3>",
        None, None]
    w = np.array([[-8, 7], [3, 0], [-1, 5]])
    g = compile_model(_annotated_model(tmp_path / "m.onnx", w))
    x_node, mm = g.node(g.inputs[0]), next(n for n in g.topo() if n.op == "Dense")
    assert (x_node.out.fixed.to_cpp(), x_node.attrs["type_source"]) == ("ap_ufixed<8,8>", "annotation")
    assert mm.consts["W"].fixed.to_cpp() == "ap_fixed<4,4>" and mm.consts["W"].values.tolist() == w.tolist()
    x = np.stack([np.arange(256)] * 3, axis=1)
    out = run(g, {g.inputs[0]: x}).outputs[g.output_names[0]]
    assert out.tolist() == (x @ w).tolist()
    assert "type_source = annotation" in cli("inspect", tmp_path / "m.onnx").output


@pytest.mark.parametrize("values,datatype,bad", [([[-8, 7], [3, 0], [0.5, 5]], "INT4", "0.5"),
                                                 ([[-9, 7], [3, 0], [1, 5]], "INT4", "-9.0"),
                                                 ([[-1, 1], [1, 0], [1, -1]], "BIPOLAR", "0.0")])
def test_a_tensor_its_annotation_cannot_hold_is_one_error_line(tmp_path, values, datatype, bad):
    r = cli("inspect", _annotated_model(tmp_path / "m.onnx", values, datatype))
    assert r.exit_code == 2 and r.output.strip().splitlines() == [
        f"error: {tmp_path / 'm.onnx'}: initializer 'W' is annotated {datatype} "
        f"({'ap_fixed<4,4>' if datatype == 'INT4' else 'ap_fixed<2,2>'}) but holds {bad}, which that type cannot; "
        "fix the annotation or quantize the tensor"], r.output


@pytest.mark.parametrize("given", ["initializer", "Constant value", "Constant value_ints"])
def test_folded_weights_read_integer_constants_as_onnx_holds_them(tmp_path, given):
    """A weight sliced to the end with INT64_MAX (the end PyTorch writes for `w[:, 1:]`) and
    reshaped: the folding gets the integers as the model holds them, whether initializers or
    Constant nodes (before: INT64_MAX cast through float64 became INT64_MIN, an empty slice and a
    traceback; a Constant's integers went to onnx as float32 and folding refused them)."""
    rng = np.random.default_rng(5)
    w = rng.normal(0, 1, (2, 5, 6)).astype(np.float32)
    ints = {"st": [1], "en": [2**63 - 1], "ax": [1], "shape": [8, 6]}
    inits, nodes = [numpy_helper.from_array(w, "w")], []
    for name, v in ints.items():
        if given == "initializer":
            inits.append(numpy_helper.from_array(np.array(v, np.int64), name))
        elif given == "Constant value":
            nodes.append(helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.array(v, np.int64))))
        else:
            nodes.append(helper.make_node("Constant", [], [name], value_ints=v))
    nodes += [helper.make_node("Slice", ["w", "st", "en", "ax"], ["ws"]),
              helper.make_node("Reshape", ["ws", "shape"], ["wr"]),
              _quant("xq", "x", 2.0**-4, 8, inits), _quant("wq", "wr", 2.0**-3, 5, inits),
              helper.make_node("MatMul", ["xq", "wq"], ["y"], name="mm")]
    path = _save(tmp_path, nodes, inits, [1, 8], "sliced")
    x = rng.uniform(-7, 7, (16, 8))
    graph = compile_model(path)
    assert graph.node("mm").consts["W"].values.shape == (8, 6)
    np.testing.assert_array_equal(simulate(graph, {"x": x}).as_float()["y"], qonnx_reference(path, x))


def test_the_flatten_chain_exporters_write_equals_qonnx(tmp_path):
    """Shape -> Gather -> Unsqueeze -> Concat(-1) -> Reshape, as torch.onnx writes x.view(x.size(0), -1):
    folded with the Shape's and the Constants' integers as int64, as ONNX defines them."""
    rng = np.random.default_rng(9)
    inits = [numpy_helper.from_array(rng.normal(0, 1, (24, 5)).astype(np.float32), "w")]
    nodes = [_quant("xq", "x", 2.0**-3, 6, inits), helper.make_node("Shape", ["xq"], ["s"]),
             helper.make_node("Constant", [], ["i0"], value=numpy_helper.from_array(np.array(0, np.int64))),
             helper.make_node("Gather", ["s", "i0"], ["n"], axis=0),
             helper.make_node("Constant", [], ["a0"], value_ints=[0]),
             helper.make_node("Unsqueeze", ["n", "a0"], ["n1"]),
             helper.make_node("Constant", [], ["m1"], value_ints=[-1]),
             helper.make_node("Concat", ["n1", "m1"], ["shape"], axis=0),
             helper.make_node("Reshape", ["xq", "shape"], ["f"]),
             _quant("wq", "w", 2.0**-2, 4, inits), helper.make_node("MatMul", ["f", "wq"], ["y"], name="mm")]
    path = _save(tmp_path, nodes, inits, [1, 2, 3, 4], "flatten_chain")
    x = rng.uniform(-5, 5, (16, 2, 3, 4))
    np.testing.assert_array_equal(simulate(compile_model(path), {"x": x}).as_float()["y"], qonnx_reference(path, x))
