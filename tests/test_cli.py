"""The command line: the demo model end to end, and one clear line + non-zero exit for every
kind of bad input (never a traceback)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from click.testing import CliRunner

from qconv.cli import main

from .helpers import build_and_csim, cli

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
from make_jet_mlp import make_model  # noqa: E402


@pytest.fixture(scope="module")
def demo_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "jet_mlp.onnx"
    onnx.save(make_model(), str(path))
    return path


def _qconv(*args, **kw):
    """Run the installed `qconv` console script as a user would."""
    return subprocess.run([sys.executable, "-m", "qconv.cli", *map(str, args)], capture_output=True, text=True, **kw)


def _assert_clean_error(proc, *needles):
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_inspect_shows_types(demo_model):
    r = cli("inspect", demo_model)
    assert r.exit_code == 0
    assert "dense0 = Dense(x) -> 64 ap_fixed<15,6>" in r.output  # tight accumulator (the lossless rule: <19,10>)
    assert "relu0 = Relu(dense0) -> 64 ap_ufixed<6,3,AP_RND_CONV,AP_SAT>" in r.output
    assert "W: 16x64 ap_fixed<6,2>" in r.output


def test_sim_writes_float_and_raw_outputs(demo_model, tmp_path):
    x = np.array([[0.5, -0.25] + [0.03125 * k for k in range(14)], [3.96875] * 16])
    np.save(tmp_path / "in.npy", x)
    r = cli("sim", demo_model, "-i", tmp_path / "in.npy", "-o", tmp_path / "out.npz")
    assert r.exit_code == 0 and "y: (2, 5) ap_fixed<12,6,AP_RND_CONV,AP_SAT>" in r.output
    r = cli("sim", demo_model, "-i", tmp_path / "in.npy", "-o", tmp_path / "raw.npz", "--raw")
    assert r.exit_code == 0
    y, raw = np.load(tmp_path / "out.npz")["y"], np.load(tmp_path / "raw.npz")["y"]
    assert raw.dtype == np.int64 and y.dtype == np.float64
    np.testing.assert_array_equal(raw * 2.0**-6, y)
    # the float reference of the model (onnxruntime cannot run QONNX Quant; compute it directly)
    from qconv.pipeline import compile_model
    g = compile_model(demo_model)
    np.testing.assert_array_equal(y, _float_reference(demo_model, x))
    assert g.output_names == ["y"]


def _float_reference(path, x):
    """qonnx's executor on the demo model (exact here: every value is a short dyadic)."""
    from .conftest import qonnx_reference
    return qonnx_reference(Path(path), x)


@pytest.mark.slow
def test_demo_build_csim_bit_exact(demo_model, tmp_path):
    assert build_and_csim(demo_model, tmp_path / "prj", samples=1000) == 1000
    prj = tmp_path / "prj"
    for f in ["firmware/jet_mlp.cpp", "firmware/jet_mlp.h", "firmware/defines.h", "firmware/parameters.h",
              "firmware/weights/dense0.h", "firmware/qconv/qconv_dense.h", "tb/jet_mlp_test.cpp",
              "tb_data/inputs.dat", "tb_data/expected.dat", "build_prj.tcl", "Makefile"]:
        assert (prj / f).is_file(), f
    assert "#pragma HLS PIPELINE" in (prj / "firmware/jet_mlp.cpp").read_text()
    assert "set_part $part" in (prj / "build_prj.tcl").read_text()
    # the generated Makefile builds and runs the same C simulation
    proc = subprocess.run(["make", "-s", "csim"], cwd=prj, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (prj / "tb_data/csim_results.dat").read_text() == (prj / "tb_data/expected.dat").read_text()


@pytest.mark.slow
def test_csim_detects_a_mismatch_and_names_the_layer(demo_model, tmp_path):
    prj = tmp_path / "prj"
    build_and_csim(demo_model, prj, samples=20)
    # corrupt one weight of the second layer in the generated C++: csim must catch it
    header = prj / "firmware/weights/dense1.h"
    text = header.read_text()
    start = text.index("dense1_w[2048] = {") + len("dense1_w[2048] = {")
    first = text[start:text.index(",", start)]
    header.write_text(text[:start] + str(int(first) + 1 if int(first) < 31 else int(first) - 1) + text[start + len(first):])
    proc = _qconv("csim", prj)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "MISMATCH" in proc.stdout
    assert "first differing layer: dense1 (Dense)" in proc.stdout


def _model(tmp_path, nodes, inits, shape=(1, 4), name="m.onnx", opsets=(("", 13),)):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets])
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


def test_error_not_onnx(tmp_path):
    bad = tmp_path / "notes.onnx"
    bad.write_text("this is not a protobuf")
    _assert_clean_error(_qconv("build", bad, "-o", tmp_path / "out"), "notes.onnx")


def test_error_missing_file(tmp_path):
    _assert_clean_error(_qconv("inspect", tmp_path / "nope.onnx"), "no such file")


def test_error_unsupported_op(tmp_path):
    path = _model(tmp_path, [helper.make_node("Softsign", ["x"], ["y"], name="odd")], [])
    _assert_clean_error(_qconv("build", path, "-o", tmp_path / "out", "--input-type", "ap_fixed<8,3>"),
                        "'odd'", "Softsign")


def _quant_model(tmp_path, scale, zeropt=0.0):
    inits = [numpy_helper.from_array(np.array(v, np.float32), n)
             for n, v in (("s", scale), ("z", zeropt), ("b", 8.0))]
    q = helper.make_node("Quant", ["x", "s", "z", "b"], ["y"], name="q_in", domain="qonnx.custom_op.general",
                         signed=1, narrow=0, rounding_mode="ROUND")
    return _model(tmp_path, [q], inits, opsets=(("", 13), ("qonnx.custom_op.general", 1)))


def test_error_non_integer_zero_point(tmp_path):
    _assert_clean_error(_qconv("build", _quant_model(tmp_path, 0.125, zeropt=2.5), "-o", tmp_path / "out"),
                        "'q_in'", "zero point [2.5] is not an integer")


def test_non_power_of_two_scale_input_is_integers_times_the_float_scale(tmp_path):
    """A float scale: the hardware carries q = round(x / s) (computed on the host in float32, as
    qonnx does) and multiplies by s exactly; rounded to float32 it is qonnx's q * s."""
    from qconv.pipeline import compile_model
    from qconv.sim import simulate
    from .conftest import qonnx_reference
    path = _quant_model(tmp_path, 0.1)
    x = np.random.default_rng(1).uniform(-16, 16, (64, 4))
    y = simulate(compile_model(path), {"x": x}).as_float()["y"]
    np.testing.assert_array_equal(np.float32(y), qonnx_reference(path, x))


def test_error_float_input_without_type(tmp_path):
    path = _model(tmp_path, [helper.make_node("Relu", ["x"], ["y"], name="r")], [])
    _assert_clean_error(_qconv("build", path, "-o", tmp_path / "out"), "graph input 'x'", "--input-type")


def test_error_float_weight_without_type(tmp_path):
    w = numpy_helper.from_array(np.ones((4, 2), np.float32), "w")
    path = _model(tmp_path, [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], [w])
    _assert_clean_error(_qconv("build", path, "-o", tmp_path / "out", "--input-type", "ap_fixed<8,3>"),
                        "'mm'", "--default-type")


def test_error_bad_type_string(tmp_path):
    _assert_clean_error(_qconv("inspect", _quant_model(tmp_path, 0.125), "--input-type", "ap_fixed<8"),
                        "--input-type")


def test_error_missing_ap_types(tmp_path, monkeypatch):
    path = _quant_model(tmp_path, 0.125)
    env = {"QCONV_AP_TYPES": str(tmp_path / "none"), "PYTHONPATH": str(tmp_path / "shadow")}
    # hide the hls4ml package from the header search: a stub package that has no ap_types folder
    (tmp_path / "shadow" / "hls4ml").mkdir(parents=True)
    (tmp_path / "shadow" / "hls4ml" / "__init__.py").write_text("")
    import os
    proc = _qconv("build", path, "-o", tmp_path / "out", "--csim", env={**os.environ, **env})
    _assert_clean_error(proc, "ap_types", "pip install")


def test_error_missing_gxx(tmp_path):
    import os
    path = _quant_model(tmp_path, 0.125)
    proc = _qconv("build", path, "-o", tmp_path / "out", "--csim", env={**os.environ, "CXX": "/nonexistent/g++"})
    _assert_clean_error(proc, "g++ not found")


def test_project_json_records_types(demo_model, tmp_path):
    r = cli("build", demo_model, "-o", tmp_path / "prj", "--samples", "3")
    assert r.exit_code == 0, r.output
    info = json.loads((tmp_path / "prj/qconv_project.json").read_text())
    assert info["output_types"] == {"y": "ap_fixed<12,6,AP_RND_CONV,AP_SAT>"}
    assert len((tmp_path / "prj/tb_data/inputs.dat").read_text().splitlines()) == 3


def test_sim_trace_reports_ranges_and_clipping(demo_model, tmp_path):
    np.save(tmp_path / "in.npy", np.random.default_rng(0).uniform(-4, 4, (200, 16)))
    r = CliRunner().invoke(main, ["sim", str(demo_model), "-i", str(tmp_path / "in.npy"),
                                                  "-o", str(tmp_path / "o.npz"), "--trace"])
    assert r.exit_code == 0, r.output
    assert "dense0: min" in r.output and "(type range [-32.0, 31.998046875])" in r.output  # tight <15,6>
    # relu0's type is its declared quantizer's: saturating there is clipping, not an overflow
    assert "relu0: min 0.0 max 7.875 (type range [0.0, 7.875]), quantizer clipped 12 of 12800 (0.09%; 0 low, " \
        "12 high)" in r.output
    assert "overflow" not in r.stderr


def test_error_ap_types_option_without_headers(tmp_path):
    proc = _qconv("build", _quant_model(tmp_path, 0.125), "-o", tmp_path / "out", "--csim",
                  "--ap-types", tmp_path)
    _assert_clean_error(proc, "--ap-types", "no ap_fixed.h")
