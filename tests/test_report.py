"""`qconv report` (qconv/report.py): per-layer types, ops, bit-ops, memory, first-order cost,
and the accumulator bits of tight vs the qtools rule vs hls4ml's auto rule."""

from __future__ import annotations

import json

import numpy as np

from qconv.pipeline import compile_model
from qconv.report import build_report, markdown, multiplier_kind

from .conftest import shared_path
from .helpers import cli

JET = ("models", "qonnx_model_zoo", "qkeras_jettagging.onnx")
INPUT_TYPE = "ap_fixed<8,3>"


def _jet_report():
    return build_report(compile_model(shared_path(*JET), input_type=INPUT_TYPE))


def test_jet_tagger_rows_and_totals():
    rep = _jet_report()
    macs = [r for r in rep["layers"] if r["op"] == "Dense"]
    assert [(r["layer"], r["shape"], r["input"], r["weight"], r["multiplier"], r["kind"], r["accumulator"], r["ops"])
            for r in macs] == [
        ("MatMul_0", "64", "ap_fixed<8,3>", "ap_fixed<6,1>", "ap_fixed<14,4>", "fixed", "ap_fixed<16,6>", 1024),
        ("MatMul_1", "32", "ap_ufixed<6,0,AP_RND_CONV,AP_SAT>", "ap_fixed<6,1>", "ap_fixed<12,1>", "fixed",
         "ap_fixed<15,4>", 2048),
        ("MatMul_2", "32", "ap_ufixed<6,0,AP_RND_CONV,AP_SAT>", "ap_fixed<6,1>", "ap_fixed<12,1>", "fixed",
         "ap_fixed<15,4>", 1024),
        ("MatMul_3", "5", "ap_ufixed<6,0,AP_RND_CONV,AP_SAT>", "ap_fixed<6,1>", "ap_fixed<12,1>", "fixed",
         "ap_fixed<16,5>", 160),
    ]
    # bit-ops = ops * (x_bits * w_bits + accumulator bits); memory = weights and biases as stored
    assert [r["bitops"] for r in macs] == [1024 * (8 * 6 + 16), 2048 * (6 * 6 + 15), 1024 * (6 * 6 + 15),
                                         160 * (6 * 6 + 16)]
    assert [r["memory_bits"] for r in macs] == [(16 * 64 + 64) * 6, (64 * 32 + 32) * 6, (32 * 32 + 32) * 6,
                                              (32 * 5 + 5) * 6]
    assert macs[0]["accumulator_rules"] == {"tight": "ap_fixed<16,6>", "qtools": "ap_fixed<18,8>",
                                            "hls4ml": "ap_fixed<19,9>"}
    t = rep["totals"]
    assert t["accumulator_bits"] == {"chosen": 62, "tight": 62, "qtools": 73, "hls4ml": 74}
    assert (t["ops"], t["bitops"], t["memory_bits"]) == (4256, 230528, 26334)
    # no Dense product is 10 x 10 bits: every DSP is one of Softmax's 5 exp x reciprocal products
    assert [r["dsp"] for r in macs] == [0, 0, 0, 0] and t["dsp"] == 5
    # every multiplier is 6 x 8 bits or less: LUTs; adders pay accumulator bits per nonzero MAC
    graph = compile_model(shared_path(*JET), input_type=INPUT_TYPE)
    node = graph.node("MatMul_0")
    nz = int(np.count_nonzero(node.consts["W"].values))
    assert macs[0]["lut"] == nz * (8 * 6 // 2) + (nz + 64) * 16
    assert t["accumulator_adder_luts"]["tight"] < t["accumulator_adder_luts"]["qtools"] < \
        t["accumulator_adder_luts"]["hls4ml"]


def test_report_cli_table_and_json(tmp_path):
    r = cli("report", shared_path(*JET), "--input-type", INPUT_TYPE)
    assert r.exit_code == 0, r.output
    assert "MatMul_0" in r.output and "16/18/19" in r.output and "62/73/74" in r.output
    assert "tight 62, qtools rule 73, hls4ml auto rule 74" in r.output
    r = cli("report", shared_path(*JET), "--input-type", INPUT_TYPE, "--json")
    assert r.exit_code == 0, r.output
    got, want = json.loads(r.output), json.loads(json.dumps(_jet_report()))
    assert (got["design"].pop("unroll_limit"), want["design"].pop("unroll_limit")) == (4096, 0)  # CLI: the guard on
    assert got == want
    r = cli("report", shared_path(*JET), "--input-type", INPUT_TYPE, "--json", "--accumulator", "qtools")
    data = json.loads(r.output)
    assert data["accumulator"] == "qtools" and data["totals"]["accumulator_bits"]["chosen"] == 73


def test_build_writes_report_files(tmp_path):
    r = cli("build", shared_path(*JET), "-o", tmp_path / "prj", "--input-type", INPUT_TYPE, "--samples", "4")
    assert r.exit_code == 0, r.output
    data = json.loads((tmp_path / "prj" / "report.json").read_text())
    assert data["totals"]["accumulator_bits"]["tight"] == 62
    md = (tmp_path / "prj" / "report.md").read_text()
    assert md == markdown(data)
    assert "| MatMul_0 | Dense | 64 | fx<8,3> | fx<6,1> | fx<6,1> | fx<14,4> | fixed | fx<16,6> | fx<16,6> |" in md
    assert "| total |" in md and "62/73/74" in md


def test_multiplier_kinds_from_quantizers_and_values(tmp_path):
    from .test_qtools import golden_case_model  # noqa: PLC0415
    kinds = {}
    for case in ("bits_x_bits", "bits_x_po2", "bits_x_binary", "bits_x_ternary"):
        path, config = golden_case_model(tmp_path, case)
        graph = compile_model(path, config=config)
        rows = {r["layer"]: r for r in build_report(graph)["layers"]}
        kinds[case] = (rows["conv"]["kind"], rows["dense"]["kind"])
        if case == "bits_x_binary":
            node = graph.node("dense")
            assert multiplier_kind(node, graph.node(node.inputs[0]).out.fixed) == ("mux", 1)
    assert kinds == {"bits_x_bits": ("fixed", "fixed"), "bits_x_po2": ("shift", "shift"),
                     "bits_x_binary": ("mux", "mux"), "bits_x_ternary": ("mux", "mux")}
    bnn = compile_model(shared_path("models", "example-models", "bnn_model_fc_1layer.onnx"), input_type=INPUT_TYPE)
    assert [r["kind"] for r in build_report(bnn)["layers"] if r["op"] == "Dense"] == ["xnor"]


def test_report_on_a_conv_model_counts_macs_per_position():
    graph = compile_model(shared_path("models", "qonnx", "qkeras_tests", "model_test_qkeras_qconv2d_0.onnx"),
                          input_type=INPUT_TYPE)
    row = next(r for r in build_report(graph)["layers"] if r["op"] == "Conv")
    node = graph.node(row["layer"])
    oh, ow, m = node.attrs["out_hwc"]
    assert row["ops"] == oh * ow * node.consts["W"].values.size
    assert row["shape"] == f"{oh}x{ow}x{m}"
