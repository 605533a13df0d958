"""Every case of ../shared/fuzz_cases/CASES.md (found by an outside mutation fuzzer), pinned: the
two valid models that were silently wrong now equal qonnx's reference; every malformed input and
bad option gives one `error:` line naming what is wrong, and exit code 2 (never a traceback, a
hang or a silently wrong output)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from qconv.cli import main

from .conftest import SHARED, require_toolchain, shared_path
from .helpers import build_and_csim, qonnx_reference_runs

CASES = SHARED / "fuzz_cases"
IN8 = ("--input-type", "ap_fixed<8,3>")
DEFAULT18 = ("--default-type", "ap_fixed<18,8,AP_RND_CONV,AP_SAT>")


def run_cli(*args) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, [str(a) for a in args])
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception  # a traceback: the test shows it
    return r.exit_code, r.stdout, r.stderr


def assert_one_error_line(code: int, stderr: str, *needles: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert code == 2, (code, stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    for leak in ("Error:", "Exception", "Traceback"):  # no Python exception names
        assert leak not in lines[0], lines[0]
    return lines[0]


def case(name: str) -> Path:
    return shared_path("fuzz_cases", name)


# case file, extra options, the words the one error line must contain
MODEL_ERRORS = [
    ("tb_transpose_perm.onnx", IN8, ["'Transpose_0' (Transpose)", "perm [0, 3, 1, 17] is not a permutation"]),
    ("tb_rank5_decl.onnx", IN8, ["'Transpose_0' (Transpose)", "not a permutation of the input's 5 axes"]),
    ("tb_quant_3_inputs.onnx", IN8, ["'Quant_0' (Quant)", "has 3 inputs; QONNX Quant takes 4"]),
    ("tb_node_no_outputs.onnx", IN8, ["'Quant_0' (Quant) has no output"]),
    ("tb_empty_input.onnx", (), ["'Identity_1' (Identity)", "empty string", "ONNX checker"]),
    ("tb_dup_producer.onnx", IN8, ["tensor 'Quant_0_out0' is produced twice", "'Transpose_1' (Transpose)"]),
    ("tb_cycle.onnx", (), ["cycle through ONNX node 'Identity_1' (Identity)"]),
    ("tb_dangling_identity.onnx", (), ["'Identity_0' (Identity) reads 'does_not_exist'"]),
    ("tb_nan_weight.onnx", IN8, ["initializer 'Quant_0_param0' holds 1 NaN/Inf value"]),
    ("tb_bits65.onnx", IN8, ["'Quant_3' (Quant)", "bitwidth 65 is wider than the 64 bits"]),
    ("hang_bits_1e10.onnx", IN8, ["'Quant_1' (Quant)", "bitwidth 1e+10 is wider than the 64 bits"]),
    ("tb_empty_bias.onnx", IN8, ["'Quant_0' (Quant)", "quantizes an empty tensor"]),
    ("tb_conv_w_rank5.onnx", IN8, ["'Conv_0' (Conv)", "weight of shape [1, 1, 32, 3, 2, 2]", "expected rank 4"]),
    ("tb_pads_len.onnx", IN8, ["'Conv_0' (Conv)", "pads [1, 1, 1] must have 4 values"]),
    ("tb_strides0.onnx", IN8, ["'Conv_0' (Conv)", "strides [0, 0]", "positive"]),
    ("tb_scale_len.onnx", IN8, ["'Quant_0' (Quant)", "scale of shape [7] does not broadcast", "[32, 3, 2, 2]"]),
    ("tb_chlast_domain.onnx", IN8 + DEFAULT18, ["(Squeeze)", "a channels-last Squeeze does not exist"]),
    ("sw_neg_scale.onnx", IN8, ["'Quant_1' (Quant)", "scale must be positive and finite, got [-2.0]"]),
    ("sw_signed_float_attr.onnx", IN8, ["'Quant_0' (Quant)", "attribute 'signed' is FLOAT", "INT"]),
    ("sw_signed_tensor_attr.onnx", IN8, ["'Quant_1' (Quant)", "attribute 'signed' is TENSOR"]),
    ("sw_nan_weight.onnx", IN8 + DEFAULT18, ["initializer 'B4' holds 1 NaN/Inf value"]),
    ("sw_inf_bias.onnx", IN8 + DEFAULT18, ["initializer 'B1' holds 3 NaN/Inf values"]),
    ("leak_truncated.onnx", IN8, ["not a readable ONNX model (the file is truncated, damaged or not an ONNX"]),
    ("leak_external_data.onnx", IN8, ["external data file(s) 'missing_weights.bin' that cannot be read"]),
]


@pytest.mark.parametrize("name,options,needles", MODEL_ERRORS, ids=[c[0] for c in MODEL_ERRORS])
def test_malformed_model_is_one_error_line(name, options, needles):
    assert_one_error_line(*run_cli("inspect", case(name), *options)[::2], *needles)


def test_strides_of_wrong_length_in_sim(tmp_path):
    code, _, err = run_cli("sim", case("tb_strides_len.onnx"), "-i", case("tb_strides_len.in.npz"),
                           "-o", tmp_path / "o.npz")
    assert_one_error_line(code, err, "'node_Conv_50' (Conv)", "strides [1, 1, 1] must have 2 values")


def test_graph_without_outputs_in_build(tmp_path):
    code, _, err = run_cli("build", case("tb_no_outputs_build.onnx"), "-o", tmp_path / "prj", "--samples", 4)
    assert_one_error_line(code, err, "the graph declares no output")


def test_huge_padding_is_refused_before_allocating(tmp_path):
    code, _, err = run_cli("sim", case("tb_pad1000_oom.onnx"), "-i", case("tb_pad1000_oom.in.npz"),
                           "-o", tmp_path / "o.npz", *IN8, *DEFAULT18)
    assert_one_error_line(code, err, "'Conv_4' (Conv)", "51.6 GiB (2002x2002 windows of 3x3x64)",
                          "4 GiB memory limit", "--max-memory")


def test_nan_inputs_are_refused(tmp_path):
    code, _, err = run_cli("sim", case("sw_nan_input.onnx"), "-i", case("sw_nan_input.in.npz"),
                           "-o", tmp_path / "o.npz", *IN8, *DEFAULT18)
    assert_one_error_line(code, err, "input 'input_1_0': 4 NaN/Inf values (first in sample 0)")


def _reference_equal(model: Path, inputs: Path, out: Path) -> None:
    """qconv's float64 outputs, rounded once to float32, equal qonnx's executor element for element."""
    x = np.load(inputs)
    got = np.load(out)
    want = qonnx_reference_runs(model, {k: x[k] for k in x.files})
    for (key, g), w in zip(got.items(), want):
        np.testing.assert_array_equal(g.astype(np.float32), w.reshape(g.shape), err_msg=key)


@pytest.mark.parametrize("name,inputs,options", [
    # Brevitas Int32Bias: bias scale = input scale x weight scale (0.75); qconv used to drop it
    ("bias_float_scale.onnx", "bias_float_scale.in.npz", IN8),
    # Gemm alpha=2 on float-scaled Quant weights; qconv used to drop the weight scale
    ("gemm_alpha2_float_scale.onnx", "gemm_alpha2_float_scale.in.npz", ()),
])
def test_silently_wrong_valid_models_now_equal_qonnx(name, inputs, options, tmp_path):
    code, out, err = run_cli("sim", case(name), "-i", case(inputs), "-o", tmp_path / "o.npz", *options)
    assert code == 0, err
    _reference_equal(case(name), case(inputs), tmp_path / "o.npz")


def test_dropout_between_quantize_and_dequantize_is_identity(tmp_path):
    """A Dropout (inference: identity) inside a QuantizeLinear/DequantizeLinear pair: the same
    outputs as the model without it (tb_dropout_in_qdq is derived_qcdq's conv model with one)."""
    import onnx
    model = onnx.load(str(case("tb_dropout_in_qdq.onnx")))
    drop = next(n for n in model.graph.node if n.op_type == "Dropout")
    for n in model.graph.node:
        n.input[:] = [drop.input[0] if i == drop.output[0] else i for i in n.input]
    model.graph.node.remove(drop)
    onnx.save(model, str(tmp_path / "without.onnx"))
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    x = np.random.default_rng(0).uniform(-1, 1, (4, *shape[1:]))
    np.savez(tmp_path / "in.npz", x=x)
    outs = []
    for path in (case("tb_dropout_in_qdq.onnx"), tmp_path / "without.onnx"):
        code, _, err = run_cli("sim", path, "-i", tmp_path / "in.npz", "-o", tmp_path / "o.npz", "--raw")
        assert code == 0, err
        outs.append(dict(np.load(tmp_path / "o.npz")))
    assert outs[0].keys() == outs[1].keys()
    for k in outs[0]:
        np.testing.assert_array_equal(outs[0][k], outs[1][k])


@pytest.mark.slow
def test_cpp_keyword_input_name_compiles(tmp_path):
    """A graph input named `int`: the generated names are legal C++ (mangled), and csim runs."""
    require_toolchain()
    assert build_and_csim(case("input_named_int.onnx"), tmp_path / "prj", samples=4) == 4
    header = (tmp_path / "prj/firmware/input_named_int.h").read_text()
    assert "t_int[N_T_INT]" in header
    import json
    info = json.loads((tmp_path / "prj/qconv_project.json").read_text())
    assert info["inputs"][0]["var"] == "t_int" and info["inputs"][0]["onnx_name"] == "int"
    assert info["origins"]["t_int"] == "graph input 'int'"


@pytest.mark.slow
def test_300_character_names_build_and_csim(tmp_path):
    require_toolchain()
    assert build_and_csim(case("long_tensor_names.onnx"), tmp_path / "prj", samples=4) == 4
    assert max(len(p.name) for p in (tmp_path / "prj").rglob("*")) <= 64


def test_node_named_ap_fixed_reports(tmp_path):
    code, out, err = run_cli("report", case("node_named_ap_fixed.onnx"), *IN8)
    assert code == 0, err
    assert "t_ap_fixed" in out


@pytest.mark.parametrize("args,needles", [
    (["sim", "seed_qact4.onnx", "-i", "seed_qact4.in.npz", "-o", "/nonexistent/out.npz"],
     ["/nonexistent/out.npz: No such file or directory"]),
    (["build", "seed_qact4.onnx", "-o", "/proc/qconv_prj", "--samples", "4"], ["/proc/qconv_prj"]),
    (["build", "seed_qact4.onnx", "-o", "{tmp}/p", "--samples", "0"], ["'--samples': 0 is not in the range x>=1"]),
    (["build", "seed_qact4.onnx", "-o", "{tmp}/p", "--samples", "-1"], ["'--samples': -1"]),
    (["build", "seed_qact4.onnx", "-o", "{tmp}/p", "--seed", "-1"], ["'--seed': -1 is not in the range x>=0"]),
    (["inspect", "seed_qact4.onnx", "--config", "binary_config.yaml"], ["binary_config.yaml: not a text file"]),
    (["csim", "bad_json_prj"], ["qconv_project.json: damaged"]),
    (["build", "seed_qact4.onnx", "-o", "{tmp}/p", "--clock-period", "nan"],
     ["'--clock-period': must be a positive number, got nan"]),
    (["inspect", "seed_qact4.onnx", "--max-memory", "0"], ["'--max-memory': must be a positive number"]),
    (["build", "seed_qact4.onnx", "-o", "{tmp}/p", "--part", 'xcu250"; exec rm'],
     ["'--part': 'xcu250\"; exec rm' is not a part number (letters, digits, '-', '_' and '.')"]),
], ids=["out_missing_dir", "out_in_proc", "samples_0", "samples_neg", "seed_neg", "config_binary",
        "csim_bad_json", "clock_nan", "max_memory_0", "part_not_a_part_number"])
def test_bad_cli_options(args, needles, tmp_path):
    shared_path("fuzz_cases")
    args = [str(CASES / a) if (CASES / a).exists() else a.replace("{tmp}", str(tmp_path)) for a in args]
    assert_one_error_line(*run_cli(*args)[::2], *needles)


def test_usage_error_from_the_console_script_is_one_line(tmp_path):
    """What a user sees in a terminal (click's own usage errors included)."""
    proc = subprocess.run([sys.executable, "-m", "qconv.cli", "build", str(case("seed_qact4.onnx")), "-o",
                           str(tmp_path / "p"), "--samples", "0"], capture_output=True, text=True)
    assert_one_error_line(proc.returncode, proc.stderr, "'--samples': 0 is not in the range x>=1")


# -- the other inputs the fuzzer found accepted where they must be errors (models built here) ---
def _conv_model(**conv_attrs):
    """x[1,2,6,6] -> Quant(4 bits) -> Conv(3 filters, 3x3) -> y, with the given Conv attributes."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from qconv.onnx_tools import add_quant
    nodes, inits = [], []
    add_quant(nodes, inits, "x", "xq", 0.125, 4, True, False)
    w = np.random.default_rng(1).integers(-3, 4, (3, 2, 3, 3)).astype(np.float32) * 0.25
    inits.append(numpy_helper.from_array(w, "w"))
    add_quant(nodes, inits, "w", "wq", 0.25, 4, True, False)
    nodes.append(helper.make_node("Conv", ["xq", "wq"], ["y"], name="conv", **conv_attrs))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 6, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                   helper.make_opsetid("qonnx.custom_op.general", 1)])


def _edit(model, fn):
    fn(model)
    return model


def _set_opset(version):
    def fn(m):
        del m.opset_import[:]
        if version is not None:
            m.opset_import.append(__import__("onnx").helper.make_opsetid("", version))
        m.opset_import.append(__import__("onnx").helper.make_opsetid("qonnx.custom_op.general", 1))
    return fn


def _input_type(elem):
    def fn(m):
        m.graph.input[0].type.tensor_type.elem_type = elem
    return fn


def _domain(domain):
    def fn(m):
        m.graph.node[-1].domain = domain
    return fn


def _extra_input(m):
    m.graph.node[-1].input.extend(["wq", "wq"])


MUTATIONS = [
    ("dilations_0", lambda: _conv_model(dilations=[0, 1]), ["'conv' (Conv)", "dilations [0, 1]", "positive"]),
    ("negative_pads", lambda: _conv_model(pads=[-1, 0, 0, 0]), ["'conv' (Conv)", "pads [-1, 0, 0, 0]", ">= 0"]),
    ("kernel_shape_contradicts", lambda: _conv_model(kernel_shape=[2, 2]),
     ["'conv' (Conv)", "kernel_shape [2, 2] contradicts the weight's [3, 3]"]),
    ("opset_0", lambda: _edit(_conv_model(), _set_opset(0)), ["ONNX opset 0 is outside the opsets qconv reads"]),
    ("opset_1", lambda: _edit(_conv_model(), _set_opset(1)), ["ONNX opset 1 is outside", "version_converter"]),
    ("opset_99", lambda: _edit(_conv_model(), _set_opset(99)), ["ONNX opset 99 is outside"]),
    ("no_default_opset", lambda: _edit(_conv_model(), _set_opset(None)), ["declares no opset for the default"]),
    ("unknown_domain", lambda: _edit(_conv_model(), _domain("com.example")),
     ["'conv' (Conv)", "domain 'com.example' is not one qconv knows"]),
    ("extra_node_input", lambda: _edit(_conv_model(), _extra_input), ["'conv' (Conv)", "has 4 inputs", "takes 2 to 3"]),
    ("opset_twice", lambda: _edit(_conv_model(), lambda m: m.opset_import.append(
        __import__("onnx").helper.make_opsetid("", 7))), ["declares the default ONNX domain's opset 2 times (13, 7)"]),
    ("float8_input", lambda: _edit(_conv_model(), _input_type(17)), ["graph input 'x' has element type FLOAT8E4M3FN"]),
    ("int8_input", lambda: _edit(_conv_model(), _input_type(3)), ["graph input 'x' has element type INT8",
                                                                   "give integer data as floats"]),
    ("string_input", lambda: _edit(_conv_model(), _input_type(8)), ["graph input 'x' has element type STRING"]),
    ("bool_input", lambda: _edit(_conv_model(), _input_type(9)), ["graph input 'x' has element type BOOL"]),
]


@pytest.mark.parametrize("make,needles", [m[1:] for m in MUTATIONS], ids=[m[0] for m in MUTATIONS])
def test_invalid_model_is_one_error_line(make, needles, tmp_path):
    import onnx
    onnx.save(make(), str(tmp_path / "m.onnx"))
    assert_one_error_line(*run_cli("inspect", tmp_path / "m.onnx")[::2], *needles)


def test_the_unmutated_conv_model_is_accepted(tmp_path):
    """The base of the mutations above compiles (so each error is the mutation's)."""
    import onnx
    onnx.save(_conv_model(), str(tmp_path / "m.onnx"))
    code, out, err = run_cli("inspect", tmp_path / "m.onnx")
    assert code == 0, err


@pytest.mark.parametrize("values,needles", [
    (np.ones((2, 2, 6, 6), np.complex64), ["in.npy: expected an array of numbers", "got dtype complex64"]),
    (np.array(["a", "b"]), ["in.npy: expected an array of numbers", "got dtype <U1"]),
    (np.zeros((0, 2, 6, 6)), ["input 'x': no samples given"]),
    (np.full((2, 2, 6, 6), np.inf), ["input 'x': 144 NaN/Inf values (first in sample 0)"]),
], ids=["complex", "strings", "empty", "inf"])
def test_bad_input_arrays(values, needles, tmp_path):
    import onnx
    onnx.save(_conv_model(), str(tmp_path / "m.onnx"))
    np.save(tmp_path / "in.npy", values)
    assert_one_error_line(*run_cli("sim", tmp_path / "m.onnx", "-i", tmp_path / "in.npy",
                                   "-o", tmp_path / "o.npz")[::2], *needles)


def test_weight_scale_varying_along_the_inputs_is_refused(tmp_path):
    """A MatMul weight [in, out] with a float scale per *input* row cannot be applied after the sum:
    refused (it used to take the first row's scale for every output, silently)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from qconv.onnx_tools import add_quant
    nodes, inits = [], []
    add_quant(nodes, inits, "x", "xq", 0.125, 4, True, False)
    inits.append(numpy_helper.from_array(np.random.default_rng(0).uniform(-1, 1, (4, 3)).astype(np.float32), "w"))
    for name, v in (("ws", np.array([[0.3], [0.7], [0.3], [0.3]], np.float32)), ("wz", np.float32(0)),
                    ("wb", np.float32(4))):
        inits.append(numpy_helper.from_array(np.asarray(v, np.float32), name))
    nodes.append(helper.make_node("Quant", ["w", "ws", "wz", "wb"], ["wq"], domain="qonnx.custom_op.general",
                                  signed=1, narrow=0, rounding_mode="ROUND"))
    nodes.append(helper.make_node("MatMul", ["xq", "wq"], ["y"], name="mm"))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(tmp_path / "m.onnx"))
    assert_one_error_line(*run_cli("inspect", tmp_path / "m.onnx")[::2], "'mm' (MatMul)",
                          "float scale varies along the input axis")


# -- found by a review of the validation change (each reproduced first) ---------------------------
def _model(tmp_path, nodes, inits, name="m", shape=(1, 8), out="y", opsets=(("", 13),)):
    """Save a model with input x `shape` and output `out`; inits: {name: array}."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets])
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, str(path))
    return path


def _quant(src, out, scale, bits=8, signed=1, **extra):
    from onnx import helper
    inits = {f"{out}_s": scale, f"{out}_z": 0.0, f"{out}_b": float(bits)}
    return (helper.make_node("Quant", [src, f"{out}_s", f"{out}_z", f"{out}_b"], [out], name=out, signed=signed,
                             narrow=0, rounding_mode="ROUND", domain="qonnx.custom_op.general", **extra), inits)


def _sim_vs_qonnx(path, x, tmp_path, *options):
    np.savez(tmp_path / "in.npz", x=x)
    code, _, err = run_cli("sim", path, "-i", tmp_path / "in.npz", "-o", tmp_path / "o.npz", *options)
    assert code == 0, err
    _reference_equal(path, tmp_path / "in.npz", tmp_path / "o.npz")
    return err


def test_concat_of_a_quantized_and_a_float_constant_is_refused(tmp_path):
    from onnx import helper
    q, inits = _quant("w1", "w1q", 0.25)
    nodes = [q, helper.make_node("Concat", ["w1q", "w2"], ["w"], name="w", axis=1),
             helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")]
    inits.update(w1=np.ones((8, 2)), w2=np.full((8, 2), 0.3))
    path = _model(tmp_path, nodes, inits)
    assert_one_error_line(*run_cli("inspect", path, *IN8)[::2], "'w' (Concat)")


def test_division_by_zero_is_refused(tmp_path):
    from onnx import helper
    path = _model(tmp_path, [helper.make_node("Div", ["x", "d"], ["y"], name="div")], {"d": np.zeros(8)})
    assert_one_error_line(*run_cli("inspect", path, *IN8, *DEFAULT18)[::2], "'div' (Div)", "divides by zero")


def test_ai_onnx_domain_is_the_standard_domain(tmp_path):
    from onnx import helper
    q, inits = _quant("x", "xq", 2.0**-4)
    nodes = [q, helper.make_node("Relu", ["xq"], ["y"], name="r", domain="ai.onnx")]
    path = _model(tmp_path, nodes, inits, opsets=(("", 13), ("ai.onnx", 13), ("qonnx.custom_op.general", 1)))
    _sim_vs_qonnx(path, np.random.default_rng(0).uniform(-9, 9, (16, 8)), tmp_path)


def test_infinite_clip_bound_and_unused_nan_initializer_are_fine(tmp_path):
    from onnx import helper
    q, inits = _quant("x", "xq", 2.0**-4)
    q2, inits2 = _quant("c", "y", 2.0**-4)
    nodes = [q, helper.make_node("Clip", ["xq", "lo", "hi"], ["c"], name="clip"), q2]
    path = _model(tmp_path, nodes, {**inits, **inits2, "lo": -np.inf, "hi": 1.5, "unused": np.nan})
    _sim_vs_qonnx(path, np.random.default_rng(0).uniform(-9, 9, (16, 8)), tmp_path)


def test_attribute_given_twice(tmp_path):
    from onnx import helper
    q, inits = _quant("x", "xq", 0.25)
    q.attribute.append(helper.make_attribute("signed", 0))
    path = _model(tmp_path, [q], inits, out="xq", opsets=(("", 13), ("qonnx.custom_op.general", 1)))
    assert_one_error_line(*run_cli("inspect", path)[::2], "'xq' (Quant)", "attribute 'signed' given twice")


@pytest.mark.parametrize("var_size", [0, 3])
def test_batchnorm_parameters_of_different_sizes(var_size, tmp_path):
    """Found by the fuzzer (initializer_empty on tfc_2w2a): an empty var was a numpy broadcast
    traceback; the four parameters must each hold one value per channel."""
    from onnx import helper
    q, inits = _quant("x", "xq", 0.25)
    bn = helper.make_node("BatchNormalization", ["xq", "g", "b", "m", "v"], ["y"], name="bn")
    inits.update(g=np.ones(8), b=np.zeros(8), m=np.zeros(8), v=np.ones(var_size))
    path = _model(tmp_path, [q, bn], inits, opsets=(("", 13), ("qonnx.custom_op.general", 1)))
    assert_one_error_line(*run_cli("inspect", path)[::2], "'bn' (BatchNormalization)",
                          "scale, B, mean and var must hold one value per channel each",
                          f"got 8, 8, 8, {var_size} values")


def _qcdq(tmp_path, lo, hi):
    """x[1,8] -> QuantizeLinear (int8, scale 1/16) -> Clip(lo, hi: int8 initializers) -> DequantizeLinear."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    inits = [numpy_helper.from_array(np.asarray(v, t), k)
             for k, v, t in (("s", 1 / 16, np.float32), ("z", 0, np.int8), ("lo", lo, np.int8), ("hi", hi, np.int8))]
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="q"),
             helper.make_node("Clip", ["q", "lo", "hi"], ["c"], name="clip"),
             helper.make_node("DequantizeLinear", ["c", "s", "z"], ["y"], name="dq")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(tmp_path / "m.onnx"))
    return tmp_path / "m.onnx"


def test_qdq_clip_bound_must_be_a_scalar(tmp_path):
    """Found by the fuzzer (cycle on qdense_5_qcdq rewired a Clip's max to a weight tensor): the
    first element was taken as the bound; ONNX bounds are scalars."""
    path = _qcdq(tmp_path, -127, [100, 50])
    assert_one_error_line(*run_cli("inspect", path)[::2], "'clip' (Clip)",
                          "Clip max must be one value (a scalar), got shape [2]")


@pytest.mark.parametrize("value,shape", [(np.zeros(6, np.int64), "[6]"), (np.zeros(0, np.float32), "[0]")],
                         ids=["six_values", "empty"])
def test_pad_constant_value_must_be_one_value(value, shape, tmp_path):
    """Found by the fuzzer (seed 31337, extra_node_input gave a Pad its pads tensor again as
    constant_value): the first of six values was taken as the pad value (and an empty tensor was
    an IndexError); ONNX's constant_value is a scalar."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    q, inits = _quant("x", "xq", 2.0**-4)
    pad = helper.make_node("Pad", ["xq", "pads", "c"], ["y"], name="pad", mode="constant")
    tensors = [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in inits.items()]
    tensors += [numpy_helper.from_array(np.array([0, 1, 0, 1], np.int64), "pads"), numpy_helper.from_array(value, "c")]
    graph = helper.make_graph([q, pad], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], tensors)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                      helper.make_opsetid("qonnx.custom_op.general", 1)]),
              str(tmp_path / "m.onnx"))
    assert_one_error_line(*run_cli("inspect", tmp_path / "m.onnx")[::2], "'pad' (Pad)",
                          f"constant_value must be one value (a scalar), got shape {shape}")


@pytest.mark.parametrize("value,expect", [(None, "zeros"), (0.0, "zeros"), (1.0, "error")])
def test_pad_value_attribute_before_opset_11(value, expect, tmp_path):
    """Pad-2 takes pads and value as attributes; value was ignored, so value=1.0 padded zeros
    (silently wrong, found by review): now refused like a constant_value of 1.0."""
    import onnx
    from onnx import helper
    q, inits = _quant("x", "xq", 2.0**-4)
    extra = {} if value is None else {"value": value}
    pad = helper.make_node("Pad", ["xq"], ["y"], name="pad", mode="constant", pads=[0, 1, 0, 1], **extra)
    path = _model(tmp_path, [q, pad], inits, shape=(1, 4), opsets=(("", 10), ("qonnx.custom_op.general", 1)))
    if expect == "error":
        assert_one_error_line(*run_cli("inspect", path)[::2], "'pad' (Pad)",
                              "only zero constant padding is supported (mode constant, value 1.0)")
        return
    np.savez(tmp_path / "in.npz", x=np.array([[0.5, -0.25, 1.0, 2.0]]))
    code, _, err = run_cli("sim", path, "-i", tmp_path / "in.npz", "-o", tmp_path / "o.npz")
    assert code == 0, err
    np.testing.assert_array_equal(np.load(tmp_path / "o.npz")["y"], [[0.0, 0.5, -0.25, 1.0, 2.0, 0.0]])
    assert onnx.load(str(path)).opset_import[0].version == 10


@pytest.mark.parametrize("lo,hi,node,needle", [
    # found by the fuzzer (the same case): min above max made an empty range, and recognising
    # it shifted by a negative count (a traceback); ONNX: every value becomes max, a constant
    (-7, -100, "'clip' (Clip)", "Clip bounds [-7.0, -100.0] leave one value of the integers [-128, 127]"),
    (5, 5, "'clip' (Clip)", "Clip bounds [5.0, 5.0] leave one value"),
    # any signed range whose top is not 2^(b-1) - 1 was the same traceback
    (-128, 100, "'dq' (DequantizeLinear)", "integer range [-128, 100] is not the range of a QONNX Quant"),
    # one signed bit: qonnx's Quant would be bipolar (+-1), not the -1 and 0 onnxruntime gives
    (-1, 0, "'dq' (DequantizeLinear)", "integer range [-1, 0] is one signed bit"),
], ids=["min_above_max", "min_equals_max", "top_not_a_power_of_two", "one_signed_bit"])
def test_qdq_clip_ranges_qconv_refuses(lo, hi, node, needle, tmp_path):
    assert_one_error_line(*run_cli("inspect", _qcdq(tmp_path, lo, hi))[::2], node, needle)


def test_qdq_clip_to_the_narrow_range_equals_the_reference(tmp_path):
    x = np.random.default_rng(0).uniform(-10, 10, (64, 8))
    _sim_vs_qonnx(_qcdq(tmp_path, -127, 127), x, tmp_path)


def test_qdq_clip_bounds_as_attributes_before_opset_11(tmp_path):
    """Clip before opset 11 takes min/max as attributes. On integers that is outside the spec (Clip
    takes integer inputs from opset 12; onnxruntime refuses it), but qconv reads the bounds the
    attributes give, not none: the same integers as the inputs' form."""
    import onnx
    from onnx import helper
    x = np.random.default_rng(0).uniform(-10, 10, (64, 8))
    np.savez(tmp_path / "in.npz", x=x)
    outs = []
    for opset in (13, 10):
        model = onnx.load(str(_qcdq(tmp_path, -127, 127)))
        if opset == 10:
            clip = next(n for n in model.graph.node if n.op_type == "Clip")
            del clip.input[1:]
            clip.attribute.extend([helper.make_attribute("min", -127.0), helper.make_attribute("max", 127.0)])
            model.opset_import[0].version = 10
        onnx.save(model, str(tmp_path / f"m{opset}.onnx"))
        code, _, err = run_cli("sim", tmp_path / f"m{opset}.onnx", "-i", tmp_path / "in.npz", "-o", tmp_path / "o.npz",
                               "--raw")
        assert code == 0, err
        outs.append(np.load(tmp_path / "o.npz")["y"])
    np.testing.assert_array_equal(outs[0], outs[1])
    assert outs[0].min() == -127


def test_trunc_v2_needs_six_inputs(tmp_path):
    from onnx import helper
    q, inits = _quant("x", "xq", 2.0**-4)
    inits.update(ts=2.0**-4, tz=0.0, tb=8.0, tob=4.0)
    nodes = [q, helper.make_node("Trunc", ["xq", "ts", "tz", "tb", "tob"], ["y"], name="t",
                                 domain="qonnx.custom_op.general")]
    path = _model(tmp_path, nodes, inits, opsets=(("", 13), ("qonnx.custom_op.general", 2)))
    assert_one_error_line(*run_cli("inspect", path)[::2], "'t' (Trunc)", "takes 6 inputs", "got 5")


def test_constant_value_float_form(tmp_path):
    from onnx import helper
    q, inits = _quant("x", "xq", 2.0**-4)
    q2, inits2 = _quant("s", "y", 2.0**-4)
    nodes = [q, helper.make_node("Constant", [], ["k"], name="k", value_float=0.5),
             helper.make_node("Mul", ["xq", "k"], ["s"], name="mul"), q2]
    _sim_vs_qonnx(_model(tmp_path, nodes, {**inits, **inits2}), np.random.default_rng(0).uniform(-9, 9, (16, 8)),
                  tmp_path)


def test_initializer_of_unknown_element_type(tmp_path):
    import onnx
    from onnx import helper
    q, inits = _quant("x", "y", 2.0**-4)
    path = _model(tmp_path, [q], inits, opsets=(("", 13), ("qonnx.custom_op.general", 1)))
    model = onnx.load(str(path))
    model.graph.initializer[0].data_type = 999
    onnx.save(model, str(path))
    assert_one_error_line(*run_cli("inspect", path)[::2], "initializer 'y_s' has no valid element type (999)")


def test_concat_typed_by_default_type_reports_its_overflow(tmp_path):
    from onnx import helper
    q, inits = _quant("x", "xq", 2.0**-3)
    nodes = [q, helper.make_node("Concat", ["xq", "xq"], ["y"], name="cat", axis=1)]
    path = _model(tmp_path, nodes, inits)
    np.savez(tmp_path / "in.npz", x=np.full((2, 8), 12.0))
    code, _, err = run_cli("sim", path, "-i", tmp_path / "in.npz", "-o", tmp_path / "o.npz",
                           "--default-type", "ap_fixed<6,3,AP_TRN,AP_SAT>")
    assert code == 0, err
    assert "overflow: cat: 32 values outside ap_fixed<6,3,AP_TRN,AP_SAT>" in err


@pytest.mark.parametrize("content,needles", [
    (b"PK\x03\x04 truncated", ["cannot read inputs"]),
    (b"", ["cannot read inputs"]),
], ids=["truncated_npz", "empty_file"])
def test_damaged_input_files(content, needles, tmp_path):
    (tmp_path / "in.npz").write_bytes(content)
    code, _, err = run_cli("sim", case("seed_qact4.onnx"), "-i", tmp_path / "in.npz", "-o", tmp_path / "o.npz")
    assert_one_error_line(code, err, *needles)


def test_too_many_random_samples(tmp_path):
    code, _, err = run_cli("build", case("seed_qact4.onnx"), "-o", tmp_path / "p", "--samples", 10**12)
    assert_one_error_line(code, err, "random samples need", "--samples")


@pytest.mark.parametrize("content,needles", [
    ("{not json", ["not valid JSON at line 1, column 2"]),
    ("[1, 2]", ["expected a JSON object with the objects options, expected_status, expected"]),
    ('{"options": [1]}', ["expected a JSON object"]),
], ids=["bad_json", "list", "options_list"])
def test_conform_options_file(content, needles, tmp_path):
    (tmp_path / "o.json").write_text(content)
    code, _, err = run_cli("conform", tmp_path, "--options", tmp_path / "o.json")
    assert_one_error_line(code, err, *needles)


def test_conform_floors_are_enforced():
    from qconv.conform import Row, unexpected
    rows = [Row("a.onnx", exact=0.0031, argmax=1.0), Row("b.onnx", exact=1.0)]
    assert unexpected(rows, {}, {"a.onnx": {"min_exact": 1.0}, "b.onnx": {"min_exact": 1.0}}) == \
        ["a.onnx (exact 0.0031 below the recorded 1.0)"]


@pytest.mark.slow
@pytest.mark.parametrize("model_name,node,input_name", [
    ("fc_t", "fc", "x"), ("config_fc", "fc", "x"), ("fc_constants", "fc", "x"), ("qconv_dense", "fc", "x"),
    ("m", "fc", "raw"), ("m", "fc", "i"), ("m", "fc", "EOF"),
], ids=["typedef", "config_struct", "header_guard", "kernel_guard", "tb_local_raw", "tb_loop_i", "macro_EOF"])
def test_generated_identifiers_never_clash(model_name, node, input_name, tmp_path):
    """Names that used to compile to clashing C++ (the top function's own identifiers, header guards,
    testbench locals, macros)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    require_toolchain()
    q, inits = _quant(input_name, "xq", 2.0**-4)
    nodes = [q, helper.make_node("MatMul", ["xq", "w"], ["y"], name=node)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.asarray(v, np.float32), k)
                               for k, v in {**inits, "w": np.full((4, 3), 0.5)}.items()])
    path = tmp_path / f"{model_name}.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    assert build_and_csim(path, tmp_path / "prj", "--default-type", "ap_fixed<8,3>", samples=3) == 3


ODD = ["in\nput", "line\nbreak", "tab\tcr\r", "sep\u2028x", "esc\x1b[0m"]


def _odd_named_model(path):
    """x -> Quant -> MatMul (4-bit weights) -> Relu -> Quant, its nodes unnamed and its tensors
    (graph input and output too) named with a newline, a tab, a carriage return, a Unicode line
    separator, a terminal escape: the ONNX names the messages and generated comments quote."""
    from .randmodels import Builder
    b = Builder(3)
    x = b.quant(b.input([8]), 6, 3)
    w = b.quant(b.const(b.rng.integers(-8, 8, (8, 4)) / 4.0), 4, 2)
    b.output(b.quant(b.node("Relu", [b.node("MatMul", [x, w])]), 8, 4))
    model = b.model()
    g = model.graph
    consts = {t.name for t in g.initializer}
    tensors = [g.input[0].name] + [o for n in g.node for o in n.output if n.op_type != "Quant" or n.input[0] not in consts]
    rename = dict(zip(tensors, ODD + [f"odd\n{i}" for i in range(len(tensors))]))
    for vi in (*g.input, *g.output):
        vi.name = rename.get(vi.name, vi.name)
    for n in g.node:
        n.name = ""
        n.input[:] = [rename.get(i, i) for i in n.input]
        n.output[:] = [rename.get(o, o) for o in n.output]
    import onnx
    onnx.save(model, str(path))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["io_parallel", "io_stream", "verilog"])
def test_names_with_control_characters_stay_inside_comments(arch, tmp_path):
    """Found by the fuzzer (seed 4242, rename_odd_characters on an unnamed MaxPool): an output
    named 'line\\nbreak' ended the `//` comment quoting it in the top function, and g++ failed.
    Generated comments show such characters escaped; the C++ compiles and is bit-exact."""
    require_toolchain()
    path = _odd_named_model(tmp_path / "odd.onnx")
    prj = tmp_path / "prj"
    if arch == "verilog":
        r = CliRunner().invoke(main, ["build", str(path), "--backend", "verilog", "-o", str(prj), "--samples", "8"])
        assert r.exit_code == 0, r.output
    else:
        build_and_csim(path, prj, "--io", arch.split("_")[1], samples=8)
    texts = [p.read_text() for p in prj.rglob("*") if p.suffix in (".cpp", ".h", ".v")]
    assert not [t for t in texts if any(c in t for c in "\t\r\u2028\x1b")]
    assert any("ONNX node 'tab\\tcr\\r' (MatMul)" in t for t in texts)


def test_error_quoting_a_name_with_a_newline_is_one_line(tmp_path):
    """The messages quote ONNX names as they are; the error line shows control characters escaped."""
    from onnx import helper
    q, inits = _quant("x", "line\nbreak", 2.0**-4)
    q.name = ""
    path = _model(tmp_path, [q, helper.make_node("Softsign", ["line\nbreak"], ["y"])], inits,
                  opsets=(("", 13), ("qonnx.custom_op.general", 1)))
    assert_one_error_line(*run_cli("inspect", path)[::2], "ONNX node 'y' (Softsign)")
    q2 = helper.make_node("Softsign", ["line\nbreak"], ["tab\tout"])
    path = _model(tmp_path, [q, q2], inits, out="tab\tout", opsets=(("", 13), ("qonnx.custom_op.general", 1)))
    assert_one_error_line(*run_cli("inspect", path)[::2], "ONNX node 'tab\\tout' (Softsign)")


def test_output_lines_quoting_names_with_control_characters_stay_one_line(tmp_path):
    """qconv sim's summary, eval's report, build's notes and inspect's dump quote ONNX names (found
    by review: an output named with a newline split its line in two); every line shows them escaped."""
    path = _odd_named_model(tmp_path / "odd.onnx")
    np.savez(tmp_path / "in.npz", **{"in\nput": np.random.default_rng(0).normal(0, 1, (4, 8))})
    code, out, err = run_cli("sim", path, "-i", tmp_path / "in.npz", "-o", tmp_path / "o.npz")
    assert code == 0, err
    assert out.splitlines()[0].startswith("esc\\x1b[0m: (4, 4) ap_fixed<8,4")
    code, out, err = run_cli("build", path, "-o", tmp_path / "p", "--io", "auto", "--unroll-limit", "2", "--samples", "2")
    assert code == 0, err
    assert "note: --io auto chose io_stream: io_parallel cannot: graph input 'in\\nput' has 8 elements" in err
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(0, 8, (16, 8)))
    code, out, err = run_cli("eval", path, "--data", tmp_path / "x.npy", "--no-float")
    assert code == 0, err
    assert "output esc\\x1b[0m (4 scores" in out and "  sep\\u2028x (Relu, " in out
    for text in (out, err):
        assert not any(c in text for c in "\t\r\u2028\x1b"), text
    code, out, err = run_cli("inspect", path)  # the graph dump: one line per node, attribute or constant
    assert code == 0, err
    assert "      onnx_name = in\\nput" in out
    assert not any(c in out for c in "\t\r\u2028\x1b"), out
    assert all(line.startswith(("graph ", "  ", "design:")) for line in out.splitlines()), out


def _qdq_zero_point_model(path, form: str):
    """x[1,8] -> QuantizeLinear (scale 1/16, int8 zero point 3) -> DequantizeLinear, the zero point
    given as an initializer or made by another node from one."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    inits = [numpy_helper.from_array(np.float32(1 / 16), "s")]
    nodes = []
    if form == "initializer":
        inits.append(numpy_helper.from_array(np.int8(3), "z"))
    elif form in ("identity", "reshape"):
        inits.append(numpy_helper.from_array(np.array([3], np.int8), "z0"))
        if form == "identity":
            nodes.append(helper.make_node("Identity", ["z0"], ["z1"], name="zid"))
            nodes.append(helper.make_node("Identity", ["z1"], ["z"], name="zid2"))
        else:
            inits.append(numpy_helper.from_array(np.array([], np.int64), "scalar"))
            nodes.append(helper.make_node("Reshape", ["z0", "scalar"], ["z"], name="zr"))
    elif form == "cast":
        inits.append(numpy_helper.from_array(np.float32(3), "zf"))
        nodes.append(helper.make_node("Cast", ["zf"], ["z"], name="zc", to=TensorProto.INT8))
    elif form == "cast_of_identity":  # (found by review: the importer folds it in float32, 2^24 + 1 -> 2^24)
        inits.append(numpy_helper.from_array(np.int32(2**24 + 3), "zi"))
        nodes.append(helper.make_node("Identity", ["zi"], ["zi2"], name="zid"))
        nodes.append(helper.make_node("Cast", ["zi2"], ["z"], name="zc", to=TensorProto.INT8))
    elif form == "computed":
        inits += [numpy_helper.from_array(np.int8(1), "a"), numpy_helper.from_array(np.int8(2), "b")]
        nodes.append(helper.make_node("Add", ["a", "b"], ["z"], name="zadd"))
    nodes += [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="q"),
              helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], name="dq")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def test_qdq_zero_point_type_through_other_nodes(tmp_path):
    """Found by the fuzzer (seed 8086, insert_identity on qdense_5_qcdq's weight zero point): a
    zero point made by an Identity of an int8 Constant was taken as uint8 (clipping to [0, 255]):
    189 of 192 outputs silently wrong. Its type is now read through Identity, shape ops and Cast,
    and a zero point whose type qconv cannot tell is one error line."""
    x = np.random.default_rng(0).uniform(-12, 12, (64, 8))
    np.savez(tmp_path / "in.npz", x=x)
    outs = {}
    for form in ("initializer", "identity", "reshape", "cast"):
        path = _qdq_zero_point_model(tmp_path / f"{form}.onnx", form)
        code, _, err = run_cli("sim", path, "-i", tmp_path / "in.npz", "-o", tmp_path / "o.npz")
        assert code == 0, (form, err)
        outs[form] = np.load(tmp_path / "o.npz")["y"]
    want = (np.clip(np.rint(x * 16) + 3, -128, 127) - 3) / 16  # ONNX QuantizeLinear to int8, then back
    for form, y in outs.items():
        np.testing.assert_array_equal(y, want, err_msg=form)
    assert want.min() < 0
    for form in ("computed", "cast_of_identity"):
        path = _qdq_zero_point_model(tmp_path / f"{form}.onnx", form)
        assert_one_error_line(*run_cli("inspect", path)[::2], "'q' (QuantizeLinear)",
                              "the element type of zero point 'z' is not known")


def test_qdq_stored_integers_only_from_an_initializer(tmp_path):
    """A DequantizeLinear of int8 weights that an Identity passes on is refused with one line (found
    by review: followed, the QOperator rewrite's weights from a Constant node lost their per-channel
    axis, 777/800 QLinearConv outputs wrong)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    inits = [numpy_helper.from_array(np.float32(1 / 16), "s"), numpy_helper.from_array(np.int8(0), "z"),
             numpy_helper.from_array(np.arange(-16, 16, dtype=np.int8).reshape(8, 4), "w"),
             numpy_helper.from_array(np.float32(1 / 32), "ws")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="q"),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["xd"], name="dq"),
             helper.make_node("Identity", ["w"], ["w2"], name="wid"),
             helper.make_node("DequantizeLinear", ["w2", "ws"], ["wd"], name="wdq"),
             helper.make_node("MatMul", ["xd", "wd"], ["y"], name="mm")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(tmp_path / "m.onnx"))
    assert_one_error_line(*run_cli("inspect", tmp_path / "m.onnx")[::2], "'wdq' (DequantizeLinear)",
                          "read an integer initializer")
