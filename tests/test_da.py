"""Strategy da (qconv/design/da.py): da4ml's adder graphs rebuilt as exact integer arithmetic,
checked against W; its cost; its limits as one-line errors; and (slow) g++ C simulations of
Dense networks built with it, bit-exact with the simulator."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qconv.design import da
from qconv.design.folding import DesignError, DesignOptions, plan
from qconv.design.parts import find_part
from qconv.pipeline import compile_model

from .conftest import shared_path
from .helpers import build_and_csim, cli

JET = shared_path("models", "qonnx_model_zoo", "qkeras_jettagging.onnx")
VU13P = find_part("xcvu13p")


@pytest.mark.parametrize("shape,bits,x_lo,x_hi,seed", [((16, 64), 6, -128, 127, 0), ((5, 7), 3, 0, 255, 1),
                                                       ((32, 5), 12, -2048, 2047, 2), ((1, 1), 2, -1, 0, 3)])
def test_the_adder_graph_computes_x_at_w_exactly(shape, bits, x_lo, x_hi, seed):
    rng = np.random.default_rng(seed)
    w = rng.integers(-2 ** (bits - 1), 2 ** (bits - 1), shape)
    if shape[1] > 2:
        w[:, 1] = 0  # a zero column: an output without a node
    g = da.solve_dense(w, x_lo, x_hi, "test layer")
    x = np.concatenate([rng.integers(x_lo, x_hi + 1, (300, shape[0])),
                        np.full((1, shape[0]), x_lo), np.full((1, shape[0]), x_hi)])
    y = da.evaluate(g, x)
    assert y.astype(np.int64).tolist() == (x @ w).tolist()
    # every node's range holds what it computes on these inputs (the widths the C++ declares)
    for node, v in zip(g.nodes, da.node_values(g, x)):
        assert node.lo <= min(v) and max(v) <= node.hi
    assert g.outputs[1][0] == -1 if shape[1] > 2 else True


def test_adder_graph_cost_has_no_multiplier():
    graph = compile_model(JET, input_type="ap_fixed<8,3>")
    d = plan(graph, DesignOptions(VU13P, strategy="da"))
    dense = [ld for ld in d.layers.values() if ld.op == "Dense"]
    assert dense and all(ld.adder_graph is not None and ld.strategy == "da" for ld in dense)
    for ld in dense:
        node = graph.node(ld.name)
        g = ld.adder_graph
        assert ld.cost.dsp == 0 and ld.cost.multipliers == 0
        assert ld.cost.lut == g.adder_bits + node.out.size * node.attrs["accum"].width
    latency = plan(graph, DesignOptions(VU13P))
    assert d.totals["lut"] < latency.totals["lut"] / 2  # (its DSPs are the Softmax's in both)


def test_da_limits_are_one_line_errors(tmp_path):
    graph = compile_model(JET, input_type="ap_fixed<8,3>")
    with pytest.raises(DesignError, match="strategy da computes every product at once"):
        plan(graph, DesignOptions(VU13P, strategy="da", reuse_factor=2))
    lossy = compile_model(JET, input_type="ap_fixed<8,3>", accumulator="fixed:ap_fixed<16,6>")
    with pytest.raises(DesignError, match="the accumulator ap_fixed<16,6> drops product bits"):
        plan(lossy, DesignOptions(VU13P, strategy="da"))
    with pytest.raises(da.DAError, match="weights wider than 24 bits"):
        da.solve_dense(np.array([[1 << 30]]), -1, 1, "ONNX node 'x' (Gemm)")
    conv = shared_path("models", "example-models", "conv2d_small_mp_keras.onnx")
    types = ("--input-type", "ap_fixed<8,3>", "--default-type", "ap_fixed<12,6,AP_RND_CONV,AP_SAT>")
    r = cli("report", conv, *types, "--strategy", "da", "--io", "parallel", "--json")
    assert r.exit_code == 0, r.output  # --strategy da: the Dense and Conv layers; the Pool keeps its own
    rows = {row["op"]: row["strategy"] for row in json.loads(r.output[r.output.index("{"):])["layers"]}
    assert (rows["Conv"], rows["Dense"], rows["Pool"]) == ("da", "da", "latency")
    (tmp_path / "c.yaml").write_text("MaxPool: {strategy: da}\n")
    r = cli("report", conv, *types, "--config", tmp_path / "c.yaml")
    assert r.exit_code == 2 and "strategy applies to no layer" in r.output and "strategy Dense and Conv" in r.output
    assert len(r.output.strip().splitlines()) == 1
    r = cli("report", conv, *types, "--strategy", "da", "--io", "stream", "--json")
    assert r.exit_code == 0, r.output  # io_stream: --strategy da leaves the Conv (a line buffer) to latency
    rows = {row["op"]: row["strategy"] for row in json.loads(r.output[r.output.index("{"):])["layers"]}
    assert (rows["Conv"], rows["Dense"]) == ("latency", "da")
    (tmp_path / "c.yaml").write_text("Conv: {strategy: da}\n")  # asked for by name: one error line
    r = cli("report", conv, *types, "--io", "stream", "--config", tmp_path / "c.yaml")
    assert r.exit_code == 2 and "strategy da builds a Conv's filter bank in io_parallel" in r.output
    assert len(r.output.strip().splitlines()) == 1
    with pytest.raises(DesignError, match="strategy da computes every product at once"):
        plan(graph, DesignOptions(VU13P, strategy="da", reuse_factor=2))
    d = plan(graph, DesignOptions(VU13P, strategy="da", target_ii=4))  # the search keeps da layers at R 1
    assert all(ld.reuse_factor == 1 for ld in d.layers.values() if ld.strategy == "da")


def test_weight_bits_zero_in_every_weight_are_left_out_of_the_graph():
    """The tight accumulator drops product bits that are zero in every weight (all-even weights):
    the graph computes x @ (W / 2) and its sums carry one fraction bit less."""
    rng = np.random.default_rng(5)
    w = 2 * rng.integers(-8, 8, (6, 4))
    from qconv.design.folding import _adder_graph  # noqa: F401  (the graph plan() builds)
    g = da.solve_dense(w >> 1, -32, 31, "t")
    x = rng.integers(-32, 32, (50, 6))
    assert (da.evaluate(g, x).astype(np.int64) * 2).tolist() == (x @ w).tolist()


@pytest.mark.slow
def test_a_matrix_with_all_zero_rows_is_solved_exactly():
    """TFC_2W2A's first layer (784x64 ternary weights; 231 rows are all zero: border pixels): da4ml
    0.6 returned a graph that was not x @ W for it (input 2^127 shifts); solve_dense gives da4ml the
    nonzero rows only and maps the inputs back; here checked on 64 random inputs as well."""
    g = compile_model(shared_path("models", "qonnx_model_zoo", "TFC_2W2A.onnx"), input_type="ap_fixed<8,3>")
    node = next(n for n in g.topo() if n.op == "Dense")
    w = node.consts["W"].values
    assert int((~w.any(axis=1)).sum()) == 231
    adders = da.solve_dense(w, -2, 1, "tfc")  # (raises DAError when not exact)
    x = np.random.default_rng(0).integers(-2, 2, (64, 784))
    assert np.array_equal(da.evaluate(adders, x).astype(np.int64), x @ w)
    assert adders.n_in == 784 and {n.a for n in adders.nodes if n.kind == "in"} == set(np.flatnonzero(w.any(axis=1)))


def test_an_all_zero_matrix_is_a_graph_without_nodes():
    g = da.solve_dense(np.zeros((3, 2), np.int64), -4, 3, "zero")
    assert g.nodes == () and g.outputs == ((-1, 0, False), (-1, 0, False))
    assert da.evaluate(g, np.ones((5, 3), np.int64)).tolist() == [[0, 0]] * 5


@pytest.mark.slow
@pytest.mark.parametrize("model,types", [
    (("qonnx_model_zoo", "qkeras_jettagging.onnx"), ("--input-type", "ap_fixed<8,3>")),
    (("brevitas", "brevitas_mlp_16_64_32_5.onnx"), ("--input-type", "ap_fixed<8,3>")),
    (("qonnx", "qkeras_tests", "model_test_qkeras_qdense_3.onnx"), ("--input-type", "ap_fixed<8,3>"))],
    ids=lambda m: m[-1] if isinstance(m, tuple) and m[-1].endswith(".onnx") else "")
def test_da_csim_is_bit_exact(tmp_path, model, types):
    build_and_csim(shared_path("models", *model), tmp_path / "prj", *types, "--strategy", "da", samples=200)
    top = next((tmp_path / "prj" / "firmware").glob("*.cpp")).read_text()
    assert "qconv::dense_da<" in top and "qconv::dense<" not in top


@pytest.mark.slow
def test_conv_filter_banks_as_adder_graphs_are_bit_exact(tmp_path):
    """Strategy da on ten random Conv layers (1-D and 2-D; groups, strides, dilations, pads; design/
    da.py filter_bank, conv2d_da): g++ C simulation bit-exact with the simulator, one pixel per
    step (io_parallel's default P 1) and, under --target-ii 3, P pixels per step (P adder graphs)."""
    import onnx

    from .randmodels import Builder, conv_branch
    b = Builder(21)
    for i in range(10):
        conv_branch(b, 1 + i % 2)
    onnx.save(b.model(), str(tmp_path / "convs.onnx"))
    for k, extra in enumerate([(), ("--target-ii", "3")]):
        prj = tmp_path / f"p{k}"
        build_and_csim(tmp_path / "convs.onnx", prj, "--strategy", "da", "--io", "parallel", *extra, samples=100)
        top = next((prj / "firmware").glob("*.cpp")).read_text()
        assert top.count("qconv::conv2d_da<") == 10 and "qconv::conv2d<" not in top
        params = (prj / "firmware" / "parameters.h").read_text()
        parallel = sorted(int(line.split("=")[1].split(";")[0]) for line in params.splitlines()
                          if "static const unsigned parallel = " in line)
        assert len(parallel) == 10 and (max(parallel) == 1) == (not extra), parallel


def test_a_filter_bank_is_the_conv_at_one_pixel():
    """filter_bank's matrix times a pixel's window (ky, kx, channel order) is the grouped Conv's
    output there, computed directly from ONNX's W (O, C/g, kh, kw)."""
    rng = np.random.default_rng(4)
    groups, cpg, o, kh, kw = 3, 2, 6, 2, 3
    w = rng.integers(-8, 8, (o, cpg, kh, kw))
    window = rng.integers(-16, 16, (kh, kw, groups * cpg))
    direct = [sum(int(w[f, c, ky, kx]) * int(window[ky, kx, (f // (o // groups)) * cpg + c])
                  for c in range(cpg) for ky in range(kh) for kx in range(kw)) for f in range(o)]
    assert (window.reshape(-1) @ da.filter_bank(w, groups * cpg, groups)).tolist() == direct
