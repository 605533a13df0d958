"""io_stream (qconv/backend/architecture.py StreamArchitecture, templates/firmware/top_stream.cpp.j2):
the project's shape, and (slow) its g++ C simulation with the genuine hls_stream.h bit-exact with
the simulator across op families, with branches (residual, U-Net concat), on full-size images, and
with no token left in any stream."""

from __future__ import annotations

import json
import re
from pathlib import Path

import onnx
import pytest

from qconv.backend.csim import run_csim
from qconv.errors import ToolchainError

from .conftest import shared_path
from .helpers import build_and_csim, cli
from .randmodels import Builder, conv_branch, eltwise_branch, matmul_branch, pool_branch, shape_branch

JET = shared_path("models", "qonnx_model_zoo", "qkeras_jettagging.onnx")
TYPES = ("--input-type", "ap_fixed<8,3>", "--default-type", "ap_fixed<18,8,AP_RND_CONV,AP_SAT>")


def test_stream_project_is_dataflow_processes_joined_by_fifos(tmp_path):
    r = cli("build", shared_path("models", "qonnx", "residual_block_clean.onnx"), *TYPES, "--io", "stream",
            "-o", tmp_path / "p", "--samples", "2")
    assert r.exit_code == 0, r.output
    top = next((tmp_path / "p" / "firmware").glob("*.cpp")).read_text()
    assert "#pragma HLS DATAFLOW" in top and "#pragma HLS PIPELINE\n" not in top  # (io_parallel's top pipeline)
    # element-wise layers run token by token (a pipelined loop, no buffer); the others buffer for now
    assert re.search(r"// Relu_0: Relu .* one token \(\d+ values\) at a time", top)
    assert re.search(r"// Conv_0: Conv .*, over a line buffer", top) and re.search(r"// Add_0: Eltwise .* one token", top)
    assert "static void Conv_0_clone(" in top  # Conv_0 feeds Conv_1 and the skip connection
    fifos = re.findall(r"hls::stream<(\w+)> (s\d+_\w+)\(", top)
    depths = dict(re.findall(r"#pragma HLS STREAM variable = (s\d+_\w+) depth = (\d+)", top))
    assert fifos and {name for _, name in fifos} == set(depths)
    # the skip connection: the Add reads the block's input and the second conv's output
    add = re.search(r"static void (\w*Add\w*)_process\(([^)]*)\)", top)
    assert add and add.group(2).count("hls::stream") == 3  # two inputs, one output
    header = (tmp_path / "p" / "firmware" / "residual_block_clean.h").read_text()
    assert '#include "hls_stream.h"' in header and "qconv::token<" in header
    d = json.loads((tmp_path / "p" / "report.json").read_text())["design"]
    assert d["io"] == "io_stream" and "FIFO model" in d["note"] and d["fifos"] and d["interval_cycles"] > 1


def test_io_auto_streams_what_io_parallel_cannot_build(tmp_path):
    mnist = shared_path("models", "qonnx", "mnist-conv", "model.onnx")
    r = cli("build", mnist, *TYPES, "--io", "parallel", "-o", tmp_path / "a", "--samples", "1")
    assert r.exit_code == 2  # its 6,272-element feature map is over the register limit
    r = cli("build", mnist, *TYPES, "-o", tmp_path / "b", "--samples", "1")  # --io auto, the default
    assert r.exit_code == 0 and "note: --io auto chose io_stream: io_parallel cannot: ONNX node 'Convolution28'" in \
        r.output
    assert json.loads((tmp_path / "b" / "report.json").read_text())["design"]["io"] == "io_stream"
    r = cli("build", JET, "--input-type", "ap_fixed<8,3>", "-o", tmp_path / "c", "--samples", "1")
    assert r.exit_code == 0 and "--io auto" not in r.output  # io_parallel, the default design, without a note
    assert json.loads((tmp_path / "c" / "report.json").read_text())["design"]["io"] == "io_parallel"


def test_the_config_chooses_the_architecture_and_the_flag_wins(tmp_path):
    cfg = tmp_path / "q.yaml"
    cfg.write_text("io: stream\n")
    r = cli("report", JET, "--input-type", "ap_fixed<8,3>", "--config", cfg, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output[r.output.index("{"):])["design"]["io"] == "io_stream"
    r = cli("report", JET, "--input-type", "ap_fixed<8,3>", "--config", cfg, "--io", "parallel", "--json")
    assert json.loads(r.output[r.output.index("{"):])["design"]["io"] == "io_parallel"
    cfg.write_text("io: streaming\n")
    r = cli("report", JET, "--input-type", "ap_fixed<8,3>", "--config", cfg)
    assert r.exit_code == 2 and r.output.strip().splitlines() == [
        "error: quantization config io: expected one of auto, parallel, stream, got 'streaming'"]


@pytest.mark.slow
@pytest.mark.parametrize("model,samples", [
    (("qonnx_model_zoo", "qkeras_jettagging.onnx"), 200), (("qonnx", "residual_block_clean.onnx"), 4),
    (("qonnx", "eltwise_chanlast_testcase.onnx"), 4), (("qonnx", "sdp.onnx"), 2), (("qonnx", "mnist-conv", "model.onnx"), 20),
    (("brevitas", "brevitas_cnn2d_1x16x16.onnx"), 50), (("example-models", "tiny_unet_ch_last.onnx"), 1),
    (("example-models", "separable_conv_model_ch_last.onnx"), 1),
    (("qonnx", "bsd300x3-espcn", "nn_resize", "float_model.onnx"), 1)], ids=lambda m: m[-1] if isinstance(m, tuple) else m)
def test_stream_csim_is_bit_exact_on_full_size_models(tmp_path, model, samples):
    build_and_csim(shared_path("models", *model), tmp_path / "prj", *TYPES, "--io", "stream", samples=samples)


FIT = json.loads((Path(__file__).parent.parent / "conformance" / "fit_xcvu13p.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("row", [r for r in FIT if r.get("io") == "io_parallel"], ids=lambda r: r["model"])
def test_every_corpus_model_builds_as_io_stream(tmp_path, row):
    """The models --io auto keeps in io_parallel stream too (test_fit_corpus builds the others as
    io_stream at their target): bit-exact, with no token left in any stream."""
    build_and_csim(shared_path("models", row["model"]), tmp_path / "prj", "--input-type", row["input_type"],
                   "--default-type", row["default_type"], "--io", "stream", samples=4)


@pytest.mark.slow
@pytest.mark.parametrize("kind,seed", [("conv", 21), ("pool", 22), ("eltwise", 23), ("shape", 24), ("shape", 26),
                                       ("shape", 28), ("matmul", 25)])
def test_stream_random_layers_sim_equals_csim(tmp_path, kind, seed):
    b = Builder(seed)
    branch = {"conv": conv_branch, "pool": pool_branch, "eltwise": eltwise_branch, "shape": shape_branch,
              "matmul": matmul_branch}[kind]
    for i in range(8):
        branch(b, dims=1 + i % 2)
    path = tmp_path / "m.onnx"
    onnx.save(b.model(), str(path))
    build_and_csim(path, tmp_path / "prj", "--default-type", "ap_fixed<18,8,AP_RND,AP_SAT>", "--io", "stream",
                   samples=30)


@pytest.mark.slow
def test_a_token_left_in_a_stream_fails_the_csim(tmp_path):
    r = cli("build", JET, "--input-type", "ap_fixed<8,3>", "--io", "stream", "-o", tmp_path / "p", "--samples", "3")
    assert r.exit_code == 0, r.output
    top = next((tmp_path / "p" / "firmware").glob("*.cpp"))
    text = top.read_text()
    assert text.count("        out0.write(tok);\n") == 1
    top.write_text(text.replace("        out0.write(tok);\n", "        out0.write(tok);\n        out0.write(tok);\n"))
    with pytest.raises(ToolchainError, match="data left in stream out0"):
        run_csim(tmp_path / "p")


def test_fifo_depths_come_from_the_schedule_model_and_the_skip_fifo_needs_them():
    """The residual block's skip FIFO (Conv_0 -> Add_0) must hold what the two convolutions take
    to catch up: design/fifo.py's depth keeps the schedule, 2 (HLS's default) deadlocks."""
    from qconv.design import dataflow, fifo
    from qconv.design.folding import DesignOptions, plan
    from qconv.design.parts import find_part
    from qconv.pipeline import compile_model
    graph = compile_model(shared_path("models", "qonnx", "residual_block_clean.onnx"), input_type="ap_fixed<8,3>",
                          default_type="ap_fixed<18,8,AP_RND_CONV,AP_SAT>")
    design = plan(graph, DesignOptions(find_part("xcvu13p"), unroll_limit=0, io="io_stream"))
    depth = {(f.producer, f.consumer): f.depth for f in design.fifos}
    kernels = dataflow.kernels(graph, design.flows, {n: ld.cost for n, ld in design.layers.items()})
    model = fifo.fifo_depths(kernels, preserve="outputs", samples=2)
    assert depth[("Conv_0 clone", "Add_0")] == model[("Conv_0 clone", "Add_0")] > 100
    assert fifo.simulate(kernels, model).deadlock is None
    starved = {**model, ("Conv_0 clone", "Add_0"): 2}
    assert "Conv_0 clone->Add_0" in (fifo.simulate(kernels, starved).deadlock or "")


@pytest.mark.slow
def test_stream_layers_trace_like_the_simulator(tmp_path):
    """After a mismatch qconv names the first differing layer from per-layer traces: every io_stream
    process (line buffer, token by token, buffered) traces its whole output."""
    from qconv.backend.csim import trace_sample
    from qconv.pipeline import compile_model
    from qconv.backend.project import read_rows
    from qconv.sim import run
    model = shared_path("models", "qonnx", "residual_block_clean.onnx")
    r = cli("build", model, *TYPES, "--io", "stream", "-o", tmp_path / "p", "--samples", "2")
    assert r.exit_code == 0, r.output
    graph = compile_model(model, input_type="ap_fixed<8,3>", default_type="ap_fixed<18,8,AP_RND_CONV,AP_SAT>")
    x = read_rows(tmp_path / "p" / "tb_data" / "inputs.dat")[1]
    name = graph.inputs[0]
    want = run(graph, {name: x.reshape((1, *graph.node(name).out.shape))}, trace=True).trace
    got = trace_sample(tmp_path / "p", 1)
    layers = [n.name for n in graph.topo() if n.op != "Input"]
    assert set(got) == set(layers)
    for layer in layers:
        assert got[layer].tolist() == want[layer].reshape(-1).tolist(), layer


def test_stream_identifiers_of_a_node_do_not_meet_another_nodes_name():
    """io_stream derives act_tok_t, config_act_tok, act_process, act_clone, act_rows... from node
    act: a node named act_tok (or act_process...) is renamed, so the C++ never declares one twice."""
    from qconv.names import CppNames
    for suffix in ("tok", "process", "clone", "split", "rows", "cols", "lanes"):
        names = CppNames("m")
        assert names.unique("act") == "act" and names.unique(f"act_{suffix}") == f"act_{suffix}_2"
