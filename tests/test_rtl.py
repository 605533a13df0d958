"""The Verilog backend (qconv/backend/rtl.py, `qconv build --backend verilog`, `qconv cosim`):
every ap_fixed cast qconv writes in RTL against FixedType.cast on every input value (Verilator),
Verilator co-simulations of Dense/Relu networks bit-exact with the simulator at the reported
latency, and its refusals as one error line."""

from __future__ import annotations

import itertools
import os
import subprocess

import numpy as np
import onnx
import pytest

from qconv.backend.cosim import verilator_command
from qconv.backend.rtl import cast_lines, signed_width
from qconv.fixed import OVERFLOW_MODES, ROUNDING_MODES, FixedType

from .conftest import shared_path
from .helpers import cli

JET = shared_path("models", "qonnx_model_zoo", "qkeras_jettagging.onnx")
SOURCES = [FixedType(8, 3), FixedType(7, 2, signed=False), FixedType(6, 6)]
DESTINATIONS = [(5, 2, True), (4, 1, False), (10, 6, True), (3, 5, True), (1, 1, True), (12, 2, True)]


def _cases():
    for src, (w, i, s) in itertools.product(SOURCES, DESTINATIONS):
        for q, o in itertools.product(ROUNDING_MODES, OVERFLOW_MODES):
            yield src, FixedType(w, i, s, q, o)


@pytest.mark.slow
def test_every_rtl_cast_is_ap_fixeds_on_every_value(tmp_path):
    """One module per source type with a cast to every destination in every mode; a Verilator
    testbench sweeps every source mantissa; FixedType.cast (checked against the Xilinx headers by
    test_fixed_vs_ap_fixed.py) must give the same integers."""
    cases = list(_cases())
    verilog, tb = [], []
    for k, src in enumerate(SOURCES):
        mine = [(n, dst) for n, (s, dst) in enumerate(cases) if s == src]
        ports = ", ".join([f"input wire [{src.width - 1}:0] x"] + [f"output wire [{d.width - 1}:0] y{n}" for n, d in mine])
        body = [f"wire signed [{signed_width(src) - 1}:0] a = " +
                (f"x;" if src.signed else f"{{1'b0, x}};")]
        for n, dst in mine:
            body += cast_lines("a", signed_width(src), src.frac, dst, f"c{n}") + [f"assign y{n} = c{n};"]
        verilog.append(f"module m{k} ({ports});\n    " + "\n    ".join(body) + "\nendmodule\n")
    ports = []
    for k, src in enumerate(SOURCES):
        ports.append(f"input wire [{src.width - 1}:0] x{k}")
        ports += [f"output wire [{d.width - 1}:0] y{n}" for n, (s, d) in enumerate(cases) if s == src]
    inst = [f"m{k} u{k} (.x(x{k}), " + ", ".join(f".y{n}(y{n})" for n, (s, _) in enumerate(cases) if s == src) + ");"
            for k, src in enumerate(SOURCES)]
    verilog.append("module casts (" + ", ".join(ports) + ");\n    " + "\n    ".join(inst) + "\nendmodule\n")
    (tmp_path / "casts.v").write_text("\n".join(verilog))
    lines = ['#include <cstdio>', '#include "Vcasts.h"', "int main() {", "    Vcasts *t = new Vcasts;"]
    for k, src in enumerate(SOURCES):
        lines += [f"    for (unsigned long long v = 0; v < {1 << src.width}ULL; v++) {{", f"        t->x{k} = v;",
                  "        t->eval();"]
        lines += [f'        std::printf("{n} %llu %llu\\n", v, (unsigned long long)t->y{n});'
                  for n, (s, _) in enumerate(cases) if s == src]
        lines.append("    }")
    lines += ["    delete t;", "    return 0;", "}"]
    (tmp_path / "tb.cpp").write_text("\n".join(lines) + "\n")
    proc = subprocess.run([*verilator_command(), "--cc", "--exe", "--build", "-O0", "-Wno-fatal",
                           "--top-module", "casts", "-Mdir", str(tmp_path / "obj"), "-CFLAGS", "-O0", "-o", "Vtb",
                           str(tmp_path / "casts.v"), str(tmp_path / "tb.cpp")],
                          capture_output=True, text=True, env={**os.environ, "MAKEFLAGS": "CFG_CXXFLAGS_PCH_I=-include"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "SELRANGE" not in proc.stderr  # (a widening cast once selected past its wire: undefined bits)
    out = subprocess.run([str(tmp_path / "obj" / "Vtb")], capture_output=True, text=True, check=True).stdout
    got: dict[int, dict[int, int]] = {}
    for line in out.splitlines():
        n, v, y = map(int, line.split())
        got.setdefault(n, {})[v] = y
    assert len(got) == len(cases)
    for n, (src, dst) in enumerate(cases):
        raw = np.arange(1 << src.width, dtype=np.int64)
        mant = np.where(raw >= 1 << (src.width - 1), raw - (1 << src.width), raw) if src.signed else raw
        want = dst.cast(mant, src) % (1 << dst.width)  # as the output port's bits
        assert [got[n][int(v)] for v in raw] == want.tolist(), f"{src.to_cpp()} -> {dst.to_cpp()}"


def _verilog(project) -> str:
    import json
    name = json.loads((project / "qconv_project.json").read_text())["name"]
    return (project / "rtl" / f"{name}.v").read_text()


def _jet_before_softmax(path):
    """The jet tagger without its Softmax (the Verilog backend builds Dense, Relu and casts)."""
    from qconv.onnx_tools import cut_at
    m = onnx.load(str(JET))
    return cut_at(m, [next(n for n in m.graph.node if n.op_type == "Softmax").input[0]], path)


@pytest.mark.slow
@pytest.mark.parametrize("model,layers", [("jet", 7), (("brevitas", "brevitas_mlp_16_64_32_5.onnx"), 5),
                                          (("qonnx", "qkeras_tests", "model_test_qkeras_qdense_3.onnx"), 3),
                                          (("example-models", "bnn_model_fc_1layer.onnx"), 3)],
                         ids=["jet_tagger_before_softmax", "brevitas_mlp", "qkeras_qdense_3", "bnn_thresholds"])
def test_verilator_cosim_is_bit_exact_at_the_reported_latency(tmp_path, model, layers):
    path = _jet_before_softmax(tmp_path / "jet.onnx") if model == "jet" else shared_path("models", *model)
    r = cli("build", path, "--input-type", "ap_fixed<8,3>", "--backend", "verilog", "-o", tmp_path / "p",
            "--samples", "1000")
    assert r.exit_code == 0, r.output
    verilog = _verilog(tmp_path / "p")
    assert "*" not in verilog.replace("/*", "").replace("*/", "")  # no multiplier: adder graphs
    r = cli("cosim", tmp_path / "p")
    assert r.exit_code == 0, r.output
    assert f"latency {layers} cycles (report: {layers})" in r.output and "bit-exact: 1000/1000 samples" in r.output


def test_what_the_verilog_backend_does_not_build_is_one_error_line(tmp_path):
    r = cli("build", JET, "--input-type", "ap_fixed<8,3>", "--backend", "verilog", "-o", tmp_path / "a")
    assert r.exit_code == 2 and r.output.strip().splitlines() == [
        "error: ONNX node 'Softmax_0' (Softmax): the Verilog backend builds Dense, Relu, Cast, Table, Thresholds "
        "layers; cut the model "
        "before this Softmax (make its input the graph's output) or build it for HLS (--backend hls)"]
    cut = _jet_before_softmax(tmp_path / "jet.onnx")
    r = cli("build", cut, "--input-type", "ap_fixed<8,3>", "--backend", "verilog", "--strategy", "latency",
            "-o", tmp_path / "b")
    assert r.exit_code == 2 and "give --strategy da" in r.output and len(r.output.strip().splitlines()) == 1
    r = cli("cosim", shared_path("models"))
    assert r.exit_code == 2 and "not a qconv project" in r.output
    for flag, says in ((("--csim",), "--csim runs the HLS C simulation"),
                       (("--io", "stream"), "--io stream is an HLS architecture")):
        r = cli("build", cut, "--input-type", "ap_fixed<8,3>", "--backend", "verilog", *flag, "-o", tmp_path / "c")
        assert r.exit_code == 2 and says in r.output and "Traceback" not in r.output, r.output
    r = cli("build", cut, "--input-type", "ap_fixed<8,3>", "--stage-adders", "2", "-o", tmp_path / "d")
    assert r.exit_code == 2 and "give --backend verilog" in r.output


@pytest.mark.slow
def test_thresholds_and_tables_in_rtl_on_every_input_value(tmp_path):
    """A MultiThreshold (per-channel thresholds, some beyond the input's range) and a Tanh table
    (clipped inside the input's range) on every mantissa of their ap_fixed<7,4> input."""
    from onnx import helper

    from .randmodels import QD, Builder
    b = Builder(5)
    x = b.quant(b.input([6]), 7, 3)
    thr = b.const(np.sort(b.rng.integers(-70, 70, (6, 3)) / 8.0, axis=1))
    out = b.name("mt")
    b.nodes.append(helper.make_node("MultiThreshold", [x, thr], [out], name=out, domain=QD, out_dtype="INT2",
                                    out_bias=-2.0, data_layout="NC"))
    b.output(out)
    b.output(b.node("Tanh", [x]))
    onnx.save(b.model(), str(tmp_path / "m.onnx"))
    np.save(tmp_path / "x.npy", np.repeat(np.arange(-64, 64)[:, None] / 8.0, 6, axis=1).reshape(128, 1, 6))
    r = cli("build", tmp_path / "m.onnx", "--backend", "verilog", "-o", tmp_path / "p", "-i", tmp_path / "x.npy")
    assert r.exit_code == 0, r.output
    verilog = _verilog(tmp_path / "p")
    assert "function [16:0] lookup;" in verilog and verilog.count(">= ") == 18  # 6 channels x 3 thresholds
    r = cli("cosim", tmp_path / "p")
    assert r.exit_code == 0 and "latency 1 cycles (report: 1)" in r.output and "bit-exact: 128/128" in r.output


@pytest.mark.slow
@pytest.mark.parametrize("stage_adders", [1, 3])
def test_pipeline_registers_inside_adder_graphs(tmp_path, stage_adders):
    """--stage-adders N: a register after every N adder levels of a Dense layer's adder graph
    (delay registers for values used later); still bit-exact, latency (depth - 1) // N + 1 for
    the Dense layer plus 1 for its Relu."""
    from qconv.design.folding import DesignOptions, plan
    from qconv.design.parts import find_part
    from qconv.pipeline import compile_model

    from .randmodels import Builder
    b = Builder(7)
    x = b.quant(b.input([8]), 6, 3)
    w = b.quant(b.const(b.rng.normal(0, 1, (8, 6))), 4, 2)
    b.output(b.quant(b.node("Relu", [b.node("MatMul", [x, w])]), 6, 3, signed=False))
    onnx.save(b.model(), str(tmp_path / "m.onnx"))
    d = plan(compile_model(tmp_path / "m.onnx"), DesignOptions(find_part("xcu250-figd2104-2L-e"), strategy="da"))
    depth = next(ld.adder_graph.depth for ld in d.layers.values() if ld.adder_graph is not None)
    assert depth == 4
    latency = (depth - 1) // stage_adders + 2
    r = cli("build", tmp_path / "m.onnx", "--backend", "verilog", "--stage-adders", stage_adders, "-o", tmp_path / "p",
            "--samples", "300")
    assert r.exit_code == 0, r.output
    assert "always @(posedge clk) v" in _verilog(tmp_path / "p")
    r = cli("cosim", tmp_path / "p")
    assert r.exit_code == 0 and f"latency {latency} cycles (report: {latency})" in r.output, r.output
    assert "bit-exact: 300/300 samples" in r.output


@pytest.mark.slow
def test_yosys_counts_a_small_network_into_its_report(tmp_path):
    """qconv synth on a 4-3 Dense + Relu: Yosys maps its adder graph to LUTs and carries, no DSP,
    and the counts land in report.json beside the formula estimate."""
    import json

    from .randmodels import Builder
    b = Builder(7)
    x = b.quant(b.input([4]), 6, 3)
    w = b.quant(b.const(b.rng.normal(0, 1, (4, 3))), 4, 2)
    b.output(b.quant(b.node("Relu", [b.node("MatMul", [x, w])]), 6, 3, signed=False))
    onnx.save(b.model(), str(tmp_path / "m.onnx"))
    assert cli("build", tmp_path / "m.onnx", "--backend", "verilog", "-o", tmp_path / "p", "--samples", "50").exit_code == 0
    assert "bit-exact: 50/50 samples" in cli("cosim", tmp_path / "p").output
    r = cli("synth", tmp_path / "p", "--json")
    assert r.exit_code == 0, r.output
    counts = json.loads(r.output)
    assert counts["totals"]["lut"] > 0 and counts["totals"]["dsp"] == 0 and counts["totals"]["ff"] > 0
    rep = json.loads((tmp_path / "p" / "report.json").read_text())
    assert rep["synth"]["totals"] == counts["totals"]
    assert any("yosys" in row for row in rep["layers"])


@pytest.mark.slow
def test_yosys_counts_a_corpus_network_as_the_report_says(tmp_path):
    """qconv synth on the QKeras qdense model (3 layers, about 30 s): no DSP, Yosys keeps every
    flip-flop the report counts (the RTL's registers, exact; the valid chain as a shift register),
    and its LUTs are within 0.8-1.25x of
    the cost model's adder-graph estimate (README 'Verilog backend': 0.94-1.15x on four networks)."""
    import json
    path = shared_path("models", "qonnx", "qkeras_tests", "model_test_qkeras_qdense_3.onnx")
    assert cli("build", path, "--input-type", "ap_fixed<8,3>", "--backend", "verilog", "-o", tmp_path / "p",
               "--samples", "20").exit_code == 0
    r = cli("synth", tmp_path / "p", "--json")
    assert r.exit_code == 0, r.output
    counts = json.loads(r.output)["totals"]
    design = json.loads((tmp_path / "p" / "report.json").read_text())["design"]
    # every register the report counts is there; the valid bits' 3-cycle chain became one SRL16E
    assert counts["dsp"] == 0 and counts["ff"] == design["ff"] - 3 and counts["srl"] == 1
    assert 0.8 <= counts["lut"] / design["lut"] <= 1.25, (counts, design["lut"])


def _one_dense(path, weights, out_bits, out_frac, seed):
    """x (6-bit) @ W (4-bit quantized `weights`) -> an out_bits-bit quantizer with out_frac fraction bits."""
    from .randmodels import Builder
    b = Builder(seed)
    x = b.quant(b.input([weights.shape[0]]), 6, 3)
    w = b.quant(b.const(weights), 4, 2)
    b.output(b.quant(b.node("MatMul", [x, w]), out_bits, out_frac))
    onnx.save(b.model(), str(path))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("case", ["all_even_weights", "output_wider_than_accumulator"])
def test_review_cases_are_bit_exact_in_rtl_and_csim(tmp_path, case):
    """Two layers an independent review built: weights whose low bit is 0 everywhere (the tight
    accumulator drops it: the adder graph leaves it out) and a widening output cast (16 bits,
    10 integer, from an 8-bit accumulator: its sign extension)."""
    rng = np.random.default_rng(3)
    weights = (rng.choice([-1.5, -0.5, 0.5, 1.0, 1.5], (4, 3)) if case == "all_even_weights"
               else rng.normal(0, 0.3, (4, 3)))
    path = _one_dense(tmp_path / "m.onnx", weights, 12 if case == "all_even_weights" else 16, 6, 3)
    assert cli("build", path, "--backend", "verilog", "-o", tmp_path / "v", "--samples", "200").exit_code == 0
    r = cli("cosim", tmp_path / "v")
    assert r.exit_code == 0 and "bit-exact: 200/200 samples" in r.output, r.output
    from .helpers import build_and_csim
    assert build_and_csim(path, tmp_path / "h", "--strategy", "da", samples=200) == 200


def test_a_top_named_like_a_verilog_keyword_is_renamed():
    """The top function is the Verilog top module: a model named `small` (a Verilog charge
    strength) once wrote `module small (`, which no tool parses."""
    from qconv.names import CppNames
    assert [CppNames(n).function for n in ("small", "wire", "logic", "always_ff", "jet")] == [
        "t_small", "t_wire", "t_logic", "t_always_ff", "jet"]
