"""Designs that fit (qconv/design/): the cost model's formulas on hand-built layers, the folding
settings (CLI, config), the --target-ii search, the synthesizability guard, the report's `design`
object, every bad input as one error line; and (slow) the folded kernels bit-exact against the
simulator in g++, several reuse factors and parallelizations per build, across op families."""

from __future__ import annotations

import json
import math

import numpy as np
import onnx
import pytest
import yaml

from qconv.design.cost import adder_cycles, layer_cost, memory_cost
from qconv.design.folding import DesignError, DesignOptions, plan
from qconv.design.parts import find_part
from qconv.fixed import FixedType
from qconv.ir import Const, Graph, Node, TensorType
from qconv.passes import Options, infer_types
from qconv.pipeline import compile_model

from .conftest import shared_path
from .helpers import build_and_csim, cli
from .randmodels import Builder, conv_branch, matmul_branch, pool_branch

JET = shared_path("models", "qonnx_model_zoo", "qkeras_jettagging.onnx")
JET_TYPES = ("--input-type", "ap_fixed<8,3>")
CNN = shared_path("models", "brevitas", "brevitas_cnn2d_1x16x16.onnx")
VU13P = find_part("xcvu13p")


def _dense(n_in=8, n_out=4, wx=12, ww=12, bias=True) -> Graph:
    """x <wx,4> -> Dense with every weight nonzero (+ bias): both operands >= 10 bits, DSP products."""
    rng = np.random.default_rng(0)
    g = Graph("d")
    g.add(Node("x", "Input", [], TensorType((n_in,), FixedType(wx, 4))))
    w = rng.integers(1, 2 ** (ww - 1) - 1, (n_in, n_out)) * rng.choice([-1, 1], (n_in, n_out))
    consts = {"W": Const(w, FixedType(ww, 2))}
    if bias:
        consts["b"] = Const(rng.integers(-50, 50, n_out), FixedType(8, 3))
    g.add(Node("fc", "Dense", ["x"], TensorType((n_out,)), consts=consts))
    g.inputs, g.outputs, g.output_names = ["x"], ["fc"], ["y"]
    return infer_types.apply(g, Options())


def test_dense_cost_is_the_documented_formulas():
    g = _dense()
    node = g.node("fc")
    acc, out = node.attrs["accum"].width, node.out.fixed.width
    # reuse 1: 32 constant 12 x 12 products, one DSP each; an accumulator add per product and bias
    c = layer_cost(g, node, 1)
    assert (c.dsp, c.lut, c.interval, c.multipliers) == (32, (32 + 4) * acc, 1, 32)
    assert c.latency == 1 + adder_cycles(9, 5.0) == 2 and c.ff == math.ceil(0.4 * 32 * acc) + 4 * out
    # reuse 3: ceil(32 / 3) = 11 general multipliers; each reads 3 inputs (a 3:1 mux, 1 LUT a bit)
    # and 3 weights (a 3-entry LUT ROM, 1 LUT a bit); 4 accumulators and the products registered
    c = layer_cost(g, node, 3)
    assert (c.dsp, c.interval, c.latency, c.multipliers) == (11, 3, 3 + 1 + 1, 11)
    assert c.lut == 11 * acc + 4 * acc + 11 * 12 + 11 * 12
    assert c.ff == 4 * acc + 4 * out and c.partitioned == {"fc_w": 32, "fc": 4}  # DSPs register products
    g8 = _dense(wx=8, ww=6)
    assert layer_cost(g8, g8.node("fc"), 3).ff == 11 * (8 + 6) + 4 * g8.node("fc").attrs["accum"].width + \
        4 * g8.node("fc").out.fixed.width  # a LUT multiplier's product is a register
    # resource strategy: a 3 x (11 * 12)-bit memory is LUTRAM below 64 words
    assert layer_cost(g, node, 3, strategy="resource").lut == c.lut and layer_cost(g, node, 3, strategy="resource").bram18 == 0
    # R above the product count: one multiplier reading 32 weights (32 words: LUTRAM), one input every 1000 cycles
    c = layer_cost(g, node, 1000, strategy="resource")
    assert (c.bram18, c.multipliers, c.interval, "fc_w" in c.partitioned) == (0, 1, 1000, False)
    # 256 products at R 128: 2 multipliers, a 128 x (2 * 12)-bit memory, one BRAM18 in its 512 x 36 aspect
    g16 = _dense(n_in=16, n_out=16)
    c = layer_cost(g16, g16.node("fc"), 128, strategy="resource")
    assert (c.bram18, c.multipliers, c.interval) == (1, 2, 128)
    assert memory_cost(4096, 36) == (8, 0) and memory_cost(1000, 3) == (1, 0) and memory_cost(63, 5) == (0, 5)


def test_narrow_products_are_luts_and_dsp_tiles_follow_the_27x18_multiplier():
    g = _dense(wx=8, ww=6)
    assert layer_cost(g, g.node("fc"), 1).dsp == 0
    g = _dense(wx=30, ww=20)  # ceil(30 / 27) * ceil(20 / 18) = 4 DSP48E2 per product
    assert layer_cost(g, g.node("fc"), 1).dsp == 32 * 4


def _jet(**kw):
    return plan(compile_model(JET, input_type="ap_fixed<8,3>"), DesignOptions(VU13P, **kw))


def test_default_design_is_fully_parallel_and_reuse_factor_divides_every_layer():
    d = _jet()
    assert (d.interval, d.latency, d.fits) == (1, 11, True)
    assert {ld.reuse_factor for ld in d.layers.values()} == {1} and not any(ld.folded for ld in d.layers.values())
    d = _jet(reuse_factor=7)  # not a divisor of any layer: accepted as given
    dense = {n: ld for n, ld in d.layers.items() if ld.op == "Dense"}
    assert {ld.reuse_factor for ld in dense.values()} == {7} and d.interval == 7
    assert [ld.cost.multipliers for ld in dense.values()] == [math.ceil(m / 7) for m in (1024, 2048, 1024, 160)]


def test_config_entries_win_over_the_cli_which_wins_over_default(tmp_path):
    from qconv.config import load_config
    config = load_config({"default": {"reuse_factor": 2}, "MatMul_1": {"reuse_factor": 5, "strategy": "resource"},
                          "MatMul": {"reuse_factor": 3}})
    graph = compile_model(JET, input_type="ap_fixed<8,3>")
    d = plan(graph, DesignOptions(VU13P, config=config))
    dense = [ld for ld in d.layers.values() if ld.op == "Dense"]
    assert [(ld.reuse_factor, ld.strategy) for ld in dense] == [(3, "latency"), (5, "resource"), (3, "latency"),
                                                               (3, "latency")]
    d = plan(graph, DesignOptions(VU13P, reuse_factor=4, config=load_config({"default": {"reuse_factor": 2}})))
    assert {ld.reuse_factor for ld in d.layers.values() if ld.op == "Dense"} == {4}


def test_target_ii_search_meets_the_target_with_fewer_resources():
    graph = compile_model(JET, input_type="ap_fixed<8,3>")
    full = plan(graph, DesignOptions(VU13P))
    for target in (1, 4, 16, 100):
        d = plan(graph, DesignOptions(VU13P, target_ii=target))
        assert d.interval <= target and d.chosen == [n for n, ld in d.layers.items() if ld.op == "Dense"]
        assert d.totals["lut"] <= full.totals["lut"]
    d = plan(graph, DesignOptions(VU13P, target_ii=16))
    assert [(ld.reuse_factor, ld.strategy) for ld in d.layers.values() if ld.op == "Dense"] == \
        [(16, "latency"), (16, "latency"), (16, "latency"), (16, "latency")]
    # --fps: 1e9 / (fps * clock ns) cycles between samples
    d = plan(graph, DesignOptions(VU13P, clock_period=5.0, fps=40e6))
    assert d.target_ii == 5 and d.interval <= 5


def test_spatial_layers_loop_over_their_pixels_unless_asked():
    graph = compile_model(CNN)
    d = plan(graph, DesignOptions(VU13P, unroll_limit=0))
    for name, ld in d.layers.items():
        node = graph.node(name)
        if node.op in ("Conv", "Pool"):
            oh, ow, _ = node.attrs["out_hwc"]
            assert (ld.parallelization, ld.folded, ld.cost.interval) == (1, True, oh * ow), name
    d = plan(graph, DesignOptions(VU13P, target_ii=8))
    assert d.interval <= 8 and d.fits


def test_unknown_part_and_part_resources():
    graph = compile_model(JET, input_type="ap_fixed<8,3>")
    from qconv.design.parts import parse_capacities
    d = plan(graph, DesignOptions(parse_capacities("lut=50000,ff=100000,dsp=10,bram18=1000,uram=0")))
    assert (d.fits, d.limiting_resource) == (False, "lut")


def test_report_json_design_object_and_layer_fields():
    r = cli("report", JET, *JET_TYPES, "--json", "--target-ii", "4", "--part", "xczu7ev-ffvc1156-2-e")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output[r.output.index("{"):])
    d = rep["design"]
    assert {"part", "fits", "limiting_resource", "interval_cycles", "latency_cycles", "dsp", "lut", "ff", "bram18",
            "uram"} <= d.keys()
    assert (d["part"], d["fits"], d["target_ii"], d["interval_cycles"] <= 4) == ("xczu7ev", True, 4, True)
    for row in rep["layers"]:
        assert {"reuse_factor", "parallelization", "interval_cycles", "latency_cycles"} <= row.keys()
    assert d["dsp"] == sum(row["dsp"] for row in rep["layers"]) and d["capacity"]["dsp"] == 1728


def test_build_writes_folded_kernels_and_the_limit(tmp_path):
    r = cli("build", JET, *JET_TYPES, "-o", tmp_path / "p", "--reuse-factor", "7", "--strategy", "resource",
            "--samples", "2")
    assert r.exit_code == 0, r.output
    top = (tmp_path / "p" / "firmware" / "qkeras_jettagging.cpp").read_text()
    assert "qconv::dense_folded<global_in_t, MatMul_0_t, config_MatMul_0>" in top
    assert "#pragma HLS ARRAY_RESHAPE variable = MatMul_0_w block factor = 147 dim = 1" in top  # ceil(1024 / 7)
    params = (tmp_path / "p" / "firmware" / "parameters.h").read_text()
    assert "static const unsigned reuse_factor = 7, parallel = 1;" in params
    assert "catch {config_array_partition -maximum_size 4096}" in (tmp_path / "p" / "build_prj.tcl").read_text()
    w = (tmp_path / "p" / "firmware" / "weights" / "MatMul_0.h").read_text()
    assert "MatMul_0_w[1029]" in w  # output-major, padded to block * R = 147 * 7 words


ERRORS = [
    (("--reuse-factor", "0"), "error: --reuse-factor must be an integer >= 1, got 0"),
    (("--reuse-factor", "-2"), "error: --reuse-factor must be an integer >= 1, got -2"),
    (("--target-ii", "0"), "error: --target-ii must be an integer >= 1, got 0"),
    (("--strategy", "fast"), "error: --strategy must be latency, resource or da, got 'fast'"),
    (("--fps", "1e12"), "error: --fps 1e+12: at a 5 ns clock that is under one cycle per sample; lower --fps or "
                        "--clock-period"),
    (("--reuse-factor", "2", "--target-ii", "8"), "error: give --reuse-factor or --target-ii/--fps, not both "
                                                  "(--target-ii chooses every reuse factor; fix single layers in the "
                                                  "config)"),
    (("--unroll-limit", "-1"), "error: --unroll-limit must be >= 0 (0: no limit), got -1"),
    (("--part", "xc9999"), "error: unknown FPGA part 'xc9999': known parts are xc7z020, xcku115, xcu200, xcu250, "
                           "xcu280, xcvu13p, xcvu9p, xczu3eg, xczu7ev, xczu9eg; give capacities by hand with "
                           "--part-resources 'lut=...,ff=...,dsp=...,bram18=...,uram=...' (--part then only names "
                           "the part in build_prj.tcl)"),
    (("--fps", "1e6", "--reuse-factor", "4"), "error: give --reuse-factor or --target-ii/--fps, not both (--target-ii "
                                              "chooses every reuse factor; fix single layers in the config)"),
    (("--fps", "1e-320"), "error: --fps 9.99989e-321: too few samples per second to count in cycles; raise --fps"),
]


@pytest.mark.parametrize("args,line", ERRORS, ids=[" ".join(a) for a, _ in ERRORS])
def test_bad_design_options_are_one_error_line(args, line):
    for command in ("report", "inspect", "build"):
        extra = ("-o", "unused") if command == "build" else ()
        r = cli(command, JET, *JET_TYPES, *extra, *args)
        assert r.exit_code == 2 and r.output.strip().splitlines()[-1] == line, (command, r.output)


def _dense_big(*args, command="report"):
    extra = ("-o", "/nonexistent/never-written", "--samples", "2") if command == "build" else ()
    return cli(command, shared_path("models", "example-models", "dense_big_keras.onnx"), *JET_TYPES,
               "--default-type", "ap_fixed<18,8,AP_RND_CONV,AP_SAT>", "--io", "parallel", *extra, *args)


def test_unmet_target_names_the_layer_and_what_it_can_reach():
    r = _dense_big("--target-ii", "2")
    assert r.exit_code == 2
    assert r.output.strip() == (
        "error: --target-ii 2: no folding of ONNX node '_class__keras_layers_core_Dense__1' (MatMul) (10,000 "
        "products) meets it within the unroll limit 4,096; it can reach an interval of 3 cycles: raise --target-ii "
        "(or --unroll-limit)")
    assert _dense_big("--target-ii", "3").exit_code == 0


def test_guard_refuses_unsynthesizable_layers_with_the_knob_to_turn():
    line = ("error: ONNX node '_class__keras_layers_core_Dense__1' (MatMul) unrolls 10,000 operations in one cycle, "
            "over the synthesizable limit of 4,096 (--unroll-limit); raise its reuse factor (--reuse-factor, or "
            "reuse_factor in the config), or give --target-ii so qconv folds it")
    r = _dense_big(command="build")
    assert r.exit_code == 2 and r.output.strip() == line
    # 3,334 products a cycle, but 10,000 weights partitioned into registers
    r = _dense_big("--reuse-factor", "3", command="build")
    assert r.exit_code == 2 and "partitions array class__keras_layers_core_Dense__1_w into 10,000 registers" in \
        r.output and "choose strategy resource for it" in r.output
    r = _dense_big("--reuse-factor", "3", "--strategy", "resource", "--json")
    assert r.exit_code == 0 and json.loads(r.output[r.output.index("{"):])["design"]["synthesizable"] is True
    # report and inspect describe an unsynthesizable design (one warning line each), build refuses it
    r = _dense_big("--json")
    assert r.exit_code == 0 and f"warning: not synthesizable as io_parallel: {line[7:]}" in r.output
    d = json.loads(r.output[r.output.index("{"):])["design"]
    assert (d["synthesizable"], d["violations"][0], len(d["violations"])) == (False, line[7:], 4)  # 4 such layers
    mnist = shared_path("models", "qonnx", "mnist-conv", "model.onnx")
    r = cli("build", mnist, *JET_TYPES, "--default-type", "ap_fixed<18,8,AP_RND_CONV,AP_SAT>", "--io", "parallel", "-o",
            "/nonexistent/never-written")
    assert r.exit_code == 2 and r.output.strip() == (
        "error: ONNX node 'Convolution28' (Conv) partitions its output into 6,272 registers, over the synthesizable "
        "limit of 4,096 (--unroll-limit); io_parallel keeps every feature map in registers: this layer needs the "
        "streaming architecture (--io stream), or --unroll-limit 0 for a C simulation only")
    r = cli("inspect", mnist, *JET_TYPES, "--default-type", "ap_fixed<18,8,AP_RND_CONV,AP_SAT>", "--io", "parallel")
    assert r.exit_code == 0 and "warning: not synthesizable as io_parallel: ONNX node 'Convolution28'" in r.output


UNUSED = ("error: config entry '{key}': {fields} applies to no layer of the compiled model (reuse_factor folds "
          "Dense, Conv and MatMul layers, parallelization Conv, Pool and MatMul, strategy Dense and Conv; a node the "
          "compiler removed, such as a quantizer, has none)")


def test_config_design_fields_are_checked(tmp_path):
    cases = [({"default": {"reuse_factor": 0}}, "error: config entry 'default': reuse_factor must be an integer >= 1, "
                                                "got 0"),
             ({"MatMul_0": {"strategy": "fast"}}, "error: config entry 'MatMul_0': strategy must be latency, "
                                                  "resource or da, got 'fast'"),
             ({"MatMul_0": {"parallelization": 2}}, "error: config entry for ONNX node 'MatMul_0' (MatMul): "
                                                    "parallelization does not apply to a Dense layer "
                                                    "(parallelization counts Conv/Pool output pixels and MatMul "
                                                    "output rows)"),
             ({"Relu_0": {"reuse_factor": 4}}, "error: config entry for ONNX node 'Relu_0' (Relu): reuse_factor "
                                               "does not apply to a Relu layer (reuse_factor folds Dense, Conv and "
                                               "MatMul products)"),
             ({"Relu": {"reuse_factor": 4}}, UNUSED.format(key="Relu", fields="reuse_factor")),
             ({"Quant_10": {"parallelization": 2, "reuse_factor": 3}},
              UNUSED.format(key="Quant_10", fields="parallelization, reuse_factor"))]
    for body, line in cases:
        path = tmp_path / "c.yaml"
        path.write_text(yaml.safe_dump(body))
        r = cli("report", JET, *JET_TYPES, "--config", path)
        assert r.exit_code == 2 and r.output.strip().splitlines()[-1] == line, r.output


# ---------------------------------------------------------------------------------------------
# g++: every folding computes the simulator's integers

FOLDINGS = [(1, 1, "latency"), (2, 1, "latency"), (3, 2, "resource"), (7, 3, "latency"), (5, 1, "resource"),
            (1, 2, "latency"), (64, 1, "latency"), (1000, 4, "resource")]


def _config_for(path, seed):
    """A config giving every layer that folds its own (R, P, strategy), cycling through FOLDINGS
    (non-divisors, R above the product count, P above the pixel count)."""
    graph = compile_model(path, default_type="ap_fixed<18,8,AP_RND,AP_SAT>")
    rng = np.random.default_rng(seed)
    entries, used = {}, set()
    from qconv import ops
    for node in graph.topo():
        if ops.has(node.op, ops.FOLDS) and node.source[0]:
            r, p, s = FOLDINGS[int(rng.integers(len(FOLDINGS)))]
            entry = {}
            if node.op != "Pool":
                entry["reuse_factor"] = r
            if ops.has(node.op, ops.WEIGHTED):
                entry["strategy"] = s
            if node.op != "Dense":
                entry["parallelization"] = p
            entries[node.source[0]] = entry
            used.add((r, p))
    return entries, used


@pytest.mark.slow
@pytest.mark.parametrize("kind,seed", [("conv", 11), ("pool", 12), ("matmul", 13)])
def test_folded_layers_sim_equals_csim(tmp_path, kind, seed):
    b = Builder(seed)
    branch = {"conv": conv_branch, "pool": pool_branch, "matmul": matmul_branch}[kind]
    for i in range(10):
        branch(b, dims=1 + i % 2)
    path = tmp_path / "m.onnx"
    onnx.save(b.model(), str(path))
    entries, used = _config_for(path, seed)
    assert len(used) >= 4  # several foldings in one g++ build
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(entries))
    build_and_csim(path, tmp_path / "prj", "--default-type", "ap_fixed<18,8,AP_RND,AP_SAT>", "--config",
                   tmp_path / "c.yaml", "--unroll-limit", "0", samples=40)
    top = next((tmp_path / "prj" / "firmware").glob("*.cpp")).read_text()
    assert "_folded<" in top


@pytest.mark.slow
def test_folded_dense_sim_equals_csim(tmp_path):
    """The jet tagger with each Dense at another reuse factor and strategy: non-divisors, and R
    above the product count (160 products at R 1000)."""
    entries = {"MatMul_0": {"reuse_factor": 3, "strategy": "resource"}, "MatMul_1": {"reuse_factor": 7},
               "MatMul_2": {"reuse_factor": 64, "strategy": "resource"}, "MatMul_3": {"reuse_factor": 1000}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(entries))
    build_and_csim(JET, tmp_path / "prj", *JET_TYPES, "--config", tmp_path / "c.yaml", samples=200)
    rep = json.loads((tmp_path / "prj" / "report.json").read_text())
    assert [row["interval_cycles"] for row in rep["layers"] if row["op"] == "Dense"] == [3, 7, 64, 1000]


# ---------------------------------------------------------------------------------------------
# the search and its messages on hand-made layers (found by a review)

def _float_model(tmp_path, node, x_shape, inits=()):
    from onnx import TensorProto, helper, numpy_helper
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph([node], "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)], [y],
                              [numpy_helper.from_array(v, k) for k, v in inits])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return compile_model(path, input_type="ap_fixed<8,3>", default_type="ap_fixed<8,2>")


def test_search_tries_every_step_count_when_doubling_finds_nothing(tmp_path):
    """12 -> 12 filters 3x3 on 14x14 (196 pixels, 1,296 products each): at --target-ii 63 the
    doubling P candidates all unroll 5,184; P 22 (9 steps) at R 7 meets it with 4,092."""
    w = np.random.default_rng(3).uniform(-1, 1, (12, 12, 3, 3)).astype(np.float32)
    from onnx import helper
    graph = _float_model(tmp_path, helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1]), [1, 12, 14, 14],
                         [("w", w)])
    for target in (63, 64):
        d = plan(graph, DesignOptions(VU13P, target_ii=target), strict=False)
        conv = next(ld for ld in d.layers.values() if ld.op == "Conv")
        assert conv.cost.interval <= target and conv.cost.unrolled <= 4096
        assert [v for v in d.violations if "Conv" in v] == []


def test_pool_reach_counts_channels_and_window(tmp_path):
    """MaxPool 7x7 over 64 channels: a pooled pixel is 3,136 comparisons, so P 2 is over 4,096 and
    4 pixels take 4 steps at best."""
    from onnx import helper
    graph = _float_model(tmp_path, helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[7, 7]), [1, 64, 8, 8])
    with pytest.raises(DesignError) as exc:
        plan(graph, DesignOptions(VU13P, target_ii=2))
    assert "it can reach an interval of 4 cycles" in str(exc.value)
    assert plan(graph, DesignOptions(VU13P, target_ii=4)).interval == 4


def test_fixed_fields_are_kept_by_the_search_and_named_when_they_block_it():
    from qconv.config import load_config
    graph = compile_model(JET, input_type="ap_fixed<8,3>")
    d = plan(graph, DesignOptions(VU13P, target_ii=16, strategy="resource"))
    assert {ld.strategy for ld in d.layers.values() if ld.op == "Dense"} == {"resource"}
    d = plan(graph, DesignOptions(VU13P, target_ii=200, config=load_config({"MatMul_1": {"reuse_factor": 100}})))
    assert d.layers["MatMul_1"].reuse_factor == 100 and d.layers["MatMul_0"].reuse_factor > 1
    with pytest.raises(DesignError) as exc:
        plan(graph, DesignOptions(VU13P, target_ii=10, config=load_config({"MatMul_0": {"reuse_factor": 100}})))
    assert str(exc.value) == ("--target-ii 10: no folding of ONNX node 'MatMul_0' (MatMul) (1,024 products, "
                              "reuse_factor 100 from the config or flags) meets it within the unroll limit 4,096; it "
                              "can reach an interval of 100 cycles: raise --target-ii (or --unroll-limit)")
    big = compile_model(shared_path("models", "example-models", "dense_big_keras.onnx"), input_type="ap_fixed<8,3>",
                        default_type="ap_fixed<18,8,AP_RND_CONV,AP_SAT>")
    with pytest.raises(DesignError, match="passes the unroll limit 4,096 at any interval: change its config entry"):
        plan(big, DesignOptions(VU13P, target_ii=10000, strategy="latency"))  # 10,000 weights in registers


def test_huge_targets_and_reuse_factors_stay_small(tmp_path):
    graph = compile_model(JET, input_type="ap_fixed<8,3>")
    d = plan(graph, DesignOptions(VU13P, target_ii=10 ** 30))
    assert {ld.cost.multipliers for ld in d.layers.values() if ld.op == "Dense"} <= {0, 1}
    r = cli("build", JET, *JET_TYPES, "-o", tmp_path / "p", "--reuse-factor", "2000000", "--strategy", "resource",
            "--samples", "2")
    assert r.exit_code == 0, r.output
    # one multiplier, 1,024 weights: the ROM is 1,024 words, not 2,000,000
    assert "MatMul_0_w[1024]" in (tmp_path / "p" / "firmware" / "weights" / "MatMul_0.h").read_text()


def test_write_project_without_a_design_reports_what_it_writes(tmp_path):
    from qconv.backend.project import write_project
    graph = compile_model(CNN)
    write_project(graph, tmp_path / "p")
    rep = json.loads((tmp_path / "p" / "report.json").read_text())
    assert rep["design"]["interval_cycles"] == 1 and {r["schedule"] for r in rep["layers"]} == {"parallel"}
    assert "_folded<" not in next((tmp_path / "p" / "firmware").glob("*.cpp")).read_text()
