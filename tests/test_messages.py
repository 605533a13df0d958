"""Messages (issue 11, part 4): a declared quantizer's saturation is clipping (counted, shown by
`sim --trace`), not an `overflow:` line, which is kept for types qconv or an option chose; type
provenance on the nodes; `qconv conform` fails on unexpected refusals and keeps third-party
warnings off the terminal."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from qconv.cli import main
from qconv.conform import captured_warnings
from qconv.pipeline import compile_model
from qconv.sim import Clipping, quantize_inputs, run, simulate

from .conftest import ROOT

QONNX = "qonnx.custom_op.general"
# two declared quantizers: x -> Quant(1/16, 8 bits) -> Quant(1/2, 3 bits) -> y
INPUTS = np.array([[-3, -2, -2.25, 1.5], [1.75, 5, 9, -1]])
# the input quantizer ap_fixed<8,4> clips 9 (high); the second, ap_fixed<3,2> (range [-2, 1.5], half
# to even), clips -3 (low), 1.75 (rounds to 2), 5 and 7.9375 (high); -2.25 rounds to -2: no clip
INPUT_CLIP, CAST_CLIP = Clipping(0, 1, 8), Clipping(1, 3, 8)


def _save(path, nodes, inits, opsets=(("", 13),), shape=(1, 4)):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets]), str(path))
    return path


def _quant(name, x, y, scale, bits):
    inits = [numpy_helper.from_array(np.array(v, np.float32), f"{name}_{k}")
             for k, v in (("s", scale), ("z", 0.0), ("b", bits))]
    return helper.make_node("Quant", [x, *(i.name for i in inits)], [y], name=name, domain=QONNX,
                            signed=1, narrow=0, rounding_mode="ROUND"), inits


@pytest.fixture
def two_quants(tmp_path):
    a, ia = _quant("qa", "x", "t", 1 / 16, 8)
    b, ib = _quant("qb", "t", "y", 0.5, 3)
    return _save(tmp_path / "q.onnx", [a, b], ia + ib, opsets=(("", 13), (QONNX, 1)))


def _sim(model, tmp_path, x, *extra):
    np.save(tmp_path / "in.npy", x)
    return CliRunner().invoke(main, ["sim", str(model), "-i", str(tmp_path / "in.npy"),
                                     "-o", str(tmp_path / "out.npz"), *extra])


def test_declared_quantizer_clipping_is_counted_not_an_overflow(two_quants, tmp_path):
    graph = compile_model(two_quants)
    assert [(n.name, n.op, n.attrs["type_source"]) for n in graph.topo()] == [
        ("x", "Input", "quantizer"), ("qb", "Cast", "quantizer")]
    r = simulate(graph, {"x": INPUTS})
    assert r.overflows == {}
    assert r.clipped == {"x": INPUT_CLIP, "qb": CAST_CLIP}
    assert (r.clipped["qb"].count, r.clipped["qb"].fraction) == (4, 0.5)


def test_clipping_totals_add_up_over_chunks(two_quants):
    """run() evaluates big batches in chunks: counts and totals are summed over all of them."""
    graph = compile_model(two_quants)
    x = np.tile(INPUTS, (1100, 1))  # 2200 samples: more than one chunk
    r = run(graph, quantize_inputs(graph, {"x": x}))
    assert r.clipped == {"qb": Clipping(1100, 3300, 8800)}


def test_sim_trace_prints_clipping_and_no_overflow_line(two_quants, tmp_path):
    r = _sim(two_quants, tmp_path, INPUTS, "--trace")
    assert r.exit_code == 0, r.output
    assert "overflow" not in r.stderr
    assert "  x: min -3.0 max 7.9375 (type range [-8.0, 7.9375]), quantizer clipped 1 of 8 (12.50%; 0 low, 1 high)" \
        in r.stdout
    assert "  qb: min -2.0 max 1.5 (type range [-2.0, 1.5]), quantizer clipped 4 of 8 (50.00%; 1 low, 3 high)" \
        in r.stdout
    assert "clipped" not in _sim(two_quants, tmp_path, INPUTS).stdout  # only with --trace


def test_types_chosen_by_options_still_report_overflow(tmp_path):
    """An input outside --input-type and a --default-type too narrow for a value are real losses."""
    model = _save(tmp_path / "relu.onnx", [helper.make_node("Relu", ["x"], ["y"], name="r")], [])
    r = _sim(model, tmp_path, np.array([[0.5, 3.0, -1.0, 10.0]]), "--input-type", "ap_fixed<8,3,AP_RND,AP_SAT>",
             "--default-type", "ap_fixed<4,1,AP_RND,AP_SAT>")
    assert r.exit_code == 0, r.output
    assert r.stderr.splitlines() == [
        "overflow: x: 1 values outside ap_fixed<8,3,AP_RND,AP_SAT> (SAT; type: --input-type/--default-type)",
        "overflow: r: 2 values outside ap_fixed<4,1,AP_RND,AP_SAT> (SAT; type: --input-type/--default-type)"]
    graph = compile_model(model, "ap_fixed<8,3>", "ap_fixed<4,1>")
    assert {n.name: n.attrs["type_source"] for n in graph.topo()} == {"x": "option", "r": "option"}


@pytest.mark.parametrize("value,default,becomes", [
    (1e38, "ap_fixed<16,6>", 0.0),  # was a traceback (a 128-bit type)
    (-1e12, "ap_fixed<16,6,AP_RND,AP_SAT>", -32.0),
    (100.5, "ap_fixed<16,6>", None)])  # kept exactly: ap_fixed<9,8>
def test_a_constant_outside_the_default_type_is_a_note(tmp_path, value, default, becomes):
    """A float constant too wide to keep exactly (over 40 bits) takes --default-type, whose
    overflow mode applies as in the C++; the user hears of it (before: 1e38 crashed building a
    128-bit type, and a wrapped or saturated constant was silent)."""
    model = _save(tmp_path / "mul.onnx", [helper.make_node("Mul", ["x", "c"], ["y"], name="m")],
                  [numpy_helper.from_array(np.array(value, np.float32), "c")])
    r = _sim(model, tmp_path, np.array([[0.5, 1.0, -1.0, 0.25]]), "--input-type", "ap_fixed<8,3>",
             "--default-type", default)
    assert r.exit_code == 0, r.output
    notes = [line for line in r.stderr.splitlines() if line.startswith("note:")]
    mode = default.split(",")[-1].strip(">").removeprefix("AP_") if "SAT" in default else "WRAP"
    assert notes == ([f"note: ONNX node 'm' (Mul): 1 of 1 values of constant 'c' lie outside {default} "
                      f"({value:g} becomes {becomes:g}, {mode}); give a wider --default-type"] if becomes is not None
                     else [])
    graph = compile_model(model, "ap_fixed<8,3>", default)
    (c,) = graph.node("m").consts.values()
    assert c.fixed.to_float(c.values).item() == (value if becomes is None else becomes)


def test_type_sources_of_layers_and_accumulator_caps(tmp_path):
    from qconv.report import build_report
    sys.path.insert(0, str(ROOT / "examples"))
    from make_jet_mlp import make_model
    model = tmp_path / "jet.onnx"
    onnx.save(make_model(), str(model))
    sources = {n.name: n.attrs["type_source"] for n in compile_model(model).topo()}
    assert sources == {"x": "quantizer", "dense0": "inferred", "relu0": "quantizer", "dense1": "inferred",
                       "relu1": "quantizer", "dense2": "inferred", "relu2": "quantizer", "dense3": "quantizer"}
    capped = compile_model(model, accumulator="fixed:ap_fixed<24,12>")
    assert capped.node("dense0").attrs["type_source"] == "accumulator_cap"
    assert [r["type_source"] for r in build_report(capped)["layers"]][:2] == ["accumulator_cap", "quantizer"]


# --- qconv conform ---------------------------------------------------------------------------

def _conform(root, *extra):
    return CliRunner().invoke(main, ["conform", str(root), *map(str, extra)])


def _corpus(tmp_path, two_quants):
    """A folder with one working model and one broken file, both with references."""
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "good.onnx").write_bytes(two_quants.read_bytes())
    ref = {"x": INPUTS[:, None, :], "y": simulate(compile_model(two_quants), {"x": INPUTS}).as_float()["y"]}
    np.savez(root / "good.ref.npz", **ref)
    (root / "broken.onnx").write_text("not a protobuf")
    np.savez(root / "broken.ref.npz", **ref)
    return root


def _expectations(tmp_path, status: dict):
    path = tmp_path / "expected.json"
    path.write_text(json.dumps({"options": {}, "expected_status": status}))
    return path


def test_conform_fails_on_an_unexpected_error_and_passes_when_it_is_recorded(tmp_path, two_quants):
    root = _corpus(tmp_path, two_quants)
    r = _conform(root)
    assert r.exit_code == 1, r.output
    assert "summary: 1/2 ok" in r.stdout
    (line,) = r.stderr.splitlines()
    assert line.startswith("error: 1 unexpected result (no matching expected_status in --options): broken.onnx "
                           f"(error: {root / 'broken.onnx'}: not a readable ONNX model"), line
    r = _conform(root, "--options", _expectations(tmp_path, {"broken.onnx": "not a readable ONNX model"}))
    assert r.exit_code == 0, r.output
    assert r.stderr == ""


def test_conform_fails_when_a_recorded_refusal_works(tmp_path, two_quants):
    root = _corpus(tmp_path, two_quants)
    expect = _expectations(tmp_path, {"broken.onnx": "not a readable ONNX model", "good.onnx": "unsupported"})
    r = _conform(root, "--options", expect)
    assert r.exit_code == 1, r.output
    assert r.stderr.splitlines() == [
        "error: 1 unexpected result (no matching expected_status in --options): good.onnx (expected "
        "'unsupported', got ok)"]


def test_conform_keeps_onnxruntime_log_off_the_terminal(tmp_path):
    """qonnx runs a channels-last Conv as an opset-1 single-node model: onnxruntime writes three
    warning lines per run straight to stderr unless its log is limited."""
    root = tmp_path / "cl"
    root.mkdir()
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array((rng.integers(-4, 4, (3, 1, 1, 2)) / 4).astype(np.float32), "w")
    conv = helper.make_node("Conv", ["x", "w"], ["y"], name="c", domain="qonnx.custom_op.channels_last",
                            kernel_shape=[1, 1], pads=[0, 0, 0, 0], strides=[1, 1], dilations=[1, 1], group=1)
    _save(root / "cl.onnx", [conv], [w], shape=(1, 4, 4, 2))
    x = rng.uniform(-2, 2, (3, 1, 4, 4, 2)).astype(np.float32)
    np.savez(root / "cl.ref.npz", x=x, y=np.zeros((3, 1, 4, 4, 3), np.float32))
    proc = subprocess.run([sys.executable, "-m", "qconv.cli", "conform", str(root), "--json", str(tmp_path / "r.json")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == ""
    (row,) = json.loads((tmp_path / "r.json").read_text())
    assert row["status"] == "ok" and row["exact"] == 1.0


def test_captured_warnings_are_counted_not_printed(capsys):
    with captured_warnings() as caught:
        warnings.warn("from a library", UserWarning)
        warnings.warn("from a library", UserWarning)
    assert len(caught) == 2
    assert capsys.readouterr().err == ""


def test_build_report_has_the_test_datas_clipping(tmp_path):
    """`qconv build` writes the clipping of its test samples into report.json and report.md."""
    sys.path.insert(0, str(ROOT / "examples"))
    from make_jet_mlp import make_model
    onnx.save(make_model(), str(tmp_path / "jet.onnx"))
    r = CliRunner().invoke(main, ["build", str(tmp_path / "jet.onnx"), "-o", str(tmp_path / "prj"), "--samples", "200"])
    assert r.exit_code == 0, r.output
    data = json.loads((tmp_path / "prj/report.json").read_text())["test_data"]
    assert data["samples"] == 200
    assert data["layers"]["relu0"] == {"clipped_low": 0, "clipped_high": 15, "values": 12800}
    assert "- relu0: quantizer clipped 15 of 12800 values (0.12%; 0 low, 15 high)" in \
        (tmp_path / "prj/report.md").read_text()


def test_a_product_wider_than_64_bits_names_its_node(tmp_path):
    """A 32-bit activation times a 33-bit one (or a 33-bit weight) needs 65 bits: the error names
    the ONNX node and what to change (it once named only the two types)."""
    from .helpers import cli
    from .randmodels import Builder
    for kind in ("Mul", "MatMul"):
        b = Builder(3)
        x = b.quant(b.input([4]), 32, 8)
        other = b.quant(b.input([4]), 33, 8) if kind == "Mul" else b.quant(b.const(b.rng.normal(0, 1, (4, 4))), 33, 8)
        b.output(b.node(kind, [x, other]))
        onnx.save(b.model(), str(tmp_path / "m.onnx"))
        r = cli("inspect", tmp_path / "m.onnx")
        assert r.exit_code == 2 and r.output.strip().splitlines() == [
            f"error: ONNX node '{kind.lower()}5' ({kind}): ap_fixed<32,24,AP_RND_CONV,AP_SAT> * "
            f"ap_fixed<33,25{',AP_RND_CONV,AP_SAT' if kind == 'Mul' else ''}> needs ap_fixed<65,49>: wider than the 64 "
            "bits qconv can simulate exactly; quantize its inputs to fewer bits (a quantizer before it) or its weights, "
            "so that its exact products and sums fit in 64 bits"], r.output


def _leftover(name):
    """The ONNX forms qconv still refuses (README, Known limits), each a one-node model."""
    f32, i64 = np.float32, np.int64
    if name == "topk":
        return [helper.make_node("TopK", ["x", "k"], ["y", "i"], name="topk")], {"k": np.array([2], i64)}, (1, 8)
    if name == "pad":
        return ([helper.make_node("Pad", ["x", "p", "c"], ["y"], name="pad", mode="constant")],
                {"p": np.array([0, 0, 1, 1, 0, 0, 1, 1], i64), "c": f32(0.5)}, (1, 1, 4, 4))
    if name == "resize":
        return ([helper.make_node("Resize", ["x", "", "s"], ["y"], name="resize", mode="linear")],
                {"s": np.array([1, 1, 2, 2], f32)}, (1, 1, 4, 4))
    if name == "trunc_v1":
        return ([helper.make_node("Trunc", ["x", "s", "z0", "ib", "ob"], ["y"], name="trunc", domain=QONNX)],
                {"s": f32(0.125), "z0": f32(0), "ib": f32(8), "ob": f32(4)}, (1, 4))
    return [helper.make_node("Add", ["x", "z"], ["y"], name="add")], {}, (1, 4, 4)  # "broadcast"


@pytest.mark.parametrize("name,message", [
    ("topk", "error: ONNX node 'topk' (TopK): only TopK with k=1, largest=1 on a flat vector (an argmax) is supported"),
    ("pad", "error: ONNX node 'pad' (Pad): only zero constant padding is supported (mode constant, value 0.5)"),
    ("resize", "error: ONNX node 'resize' (Resize): only mode 'nearest' is supported"),
    ("broadcast", "error: ONNX node 'add' (Add): broadcasting between two tensors ([4, 4] and [1, 4]) is not supported"),
    ("trunc_v1", "error: ONNX node 'trunc' (Trunc): Trunc v1 (output multiplied by the input scale) is not supported"),
])
def test_unsupported_forms_are_one_error_line(tmp_path, name, message):
    from .helpers import cli
    nodes, inits, shape = _leftover(name)
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))]
                              + ([helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 1, 4])] if name == "broadcast" else []),
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    opsets = [helper.make_opsetid("", 13)] + ([helper.make_opsetid(QONNX, 1)] if name == "trunc_v1" else [])
    onnx.save(helper.make_model(graph, opset_imports=opsets), str(tmp_path / "m.onnx"))
    r = cli("build", tmp_path / "m.onnx", "-o", tmp_path / "prj", "--input-type", "ap_fixed<8,3>")
    assert r.exit_code == 2 and r.output.strip().splitlines() == [message], r.output
