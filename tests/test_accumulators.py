"""Accumulator sizing (--accumulator tight|qtools|fixed:<type>, passes/size_accumulators.py).

The property behind `tight`: for every Dense/Conv layer, worst-case inputs (each input at the
extreme of its type that matches its weight's sign, for every output and both signs) never
overflow the accumulator in the simulator, and one integer bit less always does (the type is
minimal). Checked on random layers and on every ../shared model that builds; tight is never
wider than the qtools rule unless qtools itself overflows on such an input."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import onnx
import pytest

from qconv import qtools
from qconv.errors import QconvError
from qconv.fixed import FixedType
from qconv.ir import TensorType
from qconv.analysis.accumulators import hls4ml_type, parse_mode, tight_type
from qconv.pipeline import compile_model, random_inputs
from qconv.sim import arith, run
from qconv.sim import run_node

from .conftest import shared_path
from .helpers import build_and_csim, cli
from .randmodels import Builder, conv_branch

JET = "qonnx_model_zoo/qkeras_jettagging.onnx"
INPUT_TYPE = "ap_fixed<8,3>"
DEFAULT_TYPE = "ap_fixed<18,8,AP_RND_CONV,AP_SAT>"


# ----- worst-case inputs ------------------------------------------------------------------------
def _conv_position(node):
    """The output position whose window has the most taps inside the input, and whether all are."""
    a = node.attrs
    (h, w, _), (oh, ow, _) = a["in_hwc"], a["out_hwc"]
    (kh, kw), (sh, sw), (dh, dw), (pt, pl, _, _) = a["kernel"], a["strides"], a["dilations"], a["pads"]
    best = None
    for r in range(oh):
        rows = [r * sh + ky * dh - pt for ky in range(kh)]
        for q in range(ow):
            cols = [q * sw + kx * dw - pl for kx in range(kw)]
            inside = sum(0 <= i < h for i in rows) * sum(0 <= j < w for j in cols)
            if best is None or inside > best[0]:
                best = (inside, rows, cols)
    return best[1], best[2], best[0] == kh * kw


def one_window(node):
    """A Conv node cut down to one output position whose window lies inside the input (same
    weights, bias and types), or the node itself when every window needs padding."""
    rows, cols, full = _conv_position(node)
    if not full:
        return node
    a = node.attrs
    (kh, kw), (dh, dw), c, m = a["kernel"], a["dilations"], a["in_hwc"][2], a["out_hwc"][2]
    small = copy.copy(node)
    small.attrs = {**a, "in_hwc": (dh * (kh - 1) + 1, dw * (kw - 1) + 1, c), "out_hwc": (1, 1, m),
                   "pads": (0, 0, 0, 0), "strides": (1, 1)}
    small.out = TensorType((1, 1, m), node.out.fixed)
    return small


def worst_case_inputs(node, x_type: FixedType):
    """(mantissas (N, ...), whether every output's extremes are reached): for each output and
    sign s, every input that meets a weight w takes hi if s*w > 0 else lo."""
    lo, hi = x_type.min_mantissa, x_type.max_mantissa
    w = node.consts["W"].values
    if node.op == "Dense":
        xs = [np.where(s * w[:, j] > 0, hi, lo) for j in range(w.shape[1]) for s in (1, -1)]
        return np.array(xs, np.int64), True
    h, wd, c = node.attrs["in_hwc"]
    m, cpg = w.shape[:2]
    mpg = m // node.attrs["group"]
    rows, cols, full = _conv_position(node)
    xs = []
    for f in range(m):
        g = f // mpg
        for s in (1, -1):
            img = np.zeros((h, wd, c), np.int64)
            for ky, i in enumerate(rows):
                for kx, j in enumerate(cols):
                    if 0 <= i < h and 0 <= j < wd:
                        img[i, j, g * cpg:(g + 1) * cpg] = np.where(s * w[f, :, ky, kx] > 0, hi, lo)
            xs.append(img.reshape(-1))
    return np.array(xs, np.int64), full


def accumulator_overflows(node, x, x_type, accum=None) -> int:
    """Accumulator values the simulator's kernel wraps for inputs x (optionally another accum type)."""
    if accum is not None:
        node = copy.copy(node)
        node.attrs = {**node.attrs, "accum": accum}
    return run_node(node, [x], [x_type])[2]


def check_layer(graph, node):
    """Worst case: no overflow; tight accumulators are minimal; tight <= qtools unless qtools
    overflows on the worst case. Returns (tight width, qtools width)."""
    x_type = graph.node(node.inputs[0]).out.fixed
    acc = node.attrs["accum"]
    assert acc == tight_type(node, x_type) or acc.width < tight_type(node, x_type).width
    big = node
    node = one_window(node) if node.op == "Conv" else node
    x, full = worst_case_inputs(node, x_type)
    assert accumulator_overflows(node, x, x_type) == 0, node.describe()
    if full and acc.width > 1 and acc == tight_type(node, x_type):
        narrower = FixedType(acc.width - 1, acc.integer - 1, acc.signed)
        assert accumulator_overflows(node, x, x_type, narrower) > 0, f"{node.describe()}: {acc} is not minimal"
    q = qtools.rule_accumulator(graph, big, x_type)
    if acc.width > q.width:  # only where qtools' one-bit-narrower multiplier really overflows
        assert accumulator_overflows(node, x, x_type, q) > 0, f"{node.describe()}: tight {acc} > qtools {q}"
    return acc.width, q.width


def _compile(path, **kw):
    try:
        return compile_model(path, input_type=INPUT_TYPE, **kw)
    except QconvError as exc:
        if "--default-type" not in str(exc):
            raise
        return compile_model(path, input_type=INPUT_TYPE, default_type=DEFAULT_TYPE, **kw)


# ----- random layers ----------------------------------------------------------------------------
def dense_branch(b: Builder):
    r = b.rng
    n_in, n_out = int(r.integers(1, 40)), int(r.integers(1, 9))
    x = b.quant(b.input([n_in]), int(r.integers(2, 10)), int(r.integers(-2, 6)), signed=bool(r.integers(0, 2)),
                narrow=False)
    scale = float(r.choice([0.1, 1, 4]))
    w = b.quant(b.const(r.normal(0, scale, (n_in, n_out))), int(r.integers(2, 9)), int(r.integers(-1, 6)),
                signed=True, narrow=bool(r.integers(0, 2)))
    ins = [x, w]
    if r.integers(0, 2):
        ins.append(b.quant(b.const(r.normal(0, 2, n_out)), int(r.integers(2, 12)), int(r.integers(0, 8))))
    b.output(b.node("Gemm", ins))


def _random_model(tmp_path, seed, n=12):
    b = Builder(seed)
    for i in range(n):
        if i % 3 == 0:
            dense_branch(b)
        else:
            conv_branch(b, 1 + (i % 3 == 2))
    path = tmp_path / f"random{seed}.onnx"
    onnx.save(b.model(), str(path))
    return path


@pytest.mark.parametrize("seed", range(6))
def test_tight_worst_case_never_overflows_random_layers(tmp_path, seed):
    graph = compile_model(_random_model(tmp_path, seed))
    layers = [n for n in graph.topo() if n.op in ("Dense", "Conv")]
    assert len(layers) == 12
    for node in layers:
        check_layer(graph, node)


def test_tight_equals_a_lossless_wide_accumulator(tmp_path):
    """Same outputs as with a huge accumulator, on random inputs over the whole input range."""
    path = _random_model(tmp_path, 7)
    tight = compile_model(path)
    wide = compile_model(path, accumulator="fixed:ap_fixed<62,31>")
    x = random_inputs(tight, 200, seed=1)
    a, b = run(tight, x), run(wide, x)
    assert not a.accumulator_overflows and not b.accumulator_overflows
    for k in a.outputs:
        np.testing.assert_array_equal(a.types[k].to_float(a.outputs[k]), b.types[k].to_float(b.outputs[k]))


def _shared_models():
    root = shared_path("models")
    return root, sorted(root.rglob("*.onnx"))


def test_tight_on_every_shared_model_that_builds():
    root, paths = _shared_models()
    built, totals = 0, {}
    for path in paths:
        try:
            graph = _compile(path)
        except QconvError:
            continue  # unsupported op or scale: not this business
        layers = [n for n in graph.topo() if n.op in ("Dense", "Conv")]
        if not layers:
            continue
        built += 1
        widths = [check_layer(graph, node) for node in layers]
        totals[str(path.relative_to(root))] = tuple(map(sum, zip(*widths)))
    assert built >= 20
    assert all(t <= q for t, q in totals.values()), totals
    assert totals[JET] == (62, 73)


# ----- the jet tagger: tight vs qtools vs hls4ml ----------------------------------------------------
def test_jet_tagger_accumulators_tight_vs_qtools_vs_hls4ml():
    graph = compile_model(shared_path("models", JET), input_type=INPUT_TYPE)
    rows = []
    for node in (n for n in graph.topo() if n.op == "Dense"):
        x = graph.node(node.inputs[0]).out.fixed
        rows.append((node.name, node.attrs["accum"].to_cpp(), qtools.rule_accumulator(graph, node).to_cpp(),
                     hls4ml_type(node, x).to_cpp()))
    assert rows == [
        ("MatMul_0", "ap_fixed<16,6>", "ap_fixed<18,8>", "ap_fixed<19,9>"),
        ("MatMul_1", "ap_fixed<15,4>", "ap_fixed<19,8>", "ap_fixed<19,8>"),
        ("MatMul_2", "ap_fixed<15,4>", "ap_fixed<18,7>", "ap_fixed<18,7>"),
        ("MatMul_3", "ap_fixed<16,5>", "ap_fixed<18,7>", "ap_fixed<18,7>"),
    ]
    qgraph = compile_model(shared_path("models", JET), input_type=INPUT_TYPE, accumulator="qtools")
    assert [n.attrs["accum"].to_cpp() for n in qgraph.topo() if n.op == "Dense"] == [r[2] for r in rows]


# ----- modes: qtools and fixed caps -------------------------------------------------------------------
def test_parse_mode_and_errors():
    assert str(parse_mode("tight")) == "tight" and str(parse_mode(None)) == "tight"
    assert str(parse_mode("fixed:ap_fixed<24, 12>")) == "fixed:ap_fixed<24,12>"
    with pytest.raises(QconvError, match="AP_TRN and AP_WRAP"):
        parse_mode("fixed:ap_fixed<24,12,AP_RND,AP_SAT>")
    with pytest.raises(QconvError, match="expected tight, qtools or fixed"):
        parse_mode("loose")
    with pytest.raises(QconvError, match="cannot parse"):
        parse_mode("fixed:int24")


def test_fixed_cap_overflow_is_counted_and_reported(tmp_path):
    path = shared_path("models", JET)
    graph = compile_model(path, input_type=INPUT_TYPE, accumulator="fixed:ap_fixed<10,3>")
    assert {n.attrs["accum"].to_cpp() for n in graph.topo() if n.op == "Dense"} == {"ap_fixed<10,3>"}
    result = run(graph, random_inputs(graph, 300, seed=0))
    assert result.accumulator_overflows.get("MatMul_0", 0) > 0
    x = np.random.default_rng(0).uniform(-4, 4, (50, 16))
    np.save(tmp_path / "x.npy", x)
    r = cli("sim", path, "-i", tmp_path / "x.npy", "-o", tmp_path / "y.npz", "--input-type", INPUT_TYPE,
            "--accumulator", "fixed:ap_fixed<10,3>", "--trace")
    assert r.exit_code == 0, r.output
    m = re.search(r"overflow: MatMul_0: (\d+) accumulator values outside ap_fixed<10,3> \(wrapped\)", r.output)
    assert m and int(m.group(1)) > 0, r.output
    assert re.search(r"MatMul_0: min .* accumulator ap_fixed<10,3>: \d+ wrapped", r.output), r.output
    r = cli("sim", path, "-i", tmp_path / "x.npy", "-o", tmp_path / "y.npz", "--input-type", INPUT_TYPE)
    assert r.exit_code == 0 and "accumulator values" not in r.output, r.output


def test_fixed_cap_with_fewer_fraction_bits_truncates_each_product():
    path = shared_path("models", JET)
    graph = compile_model(path, input_type=INPUT_TYPE, accumulator="fixed:ap_fixed<24,12>")
    node = graph.node("MatMul_0")  # products have 5 + 5 fraction bits, the cap keeps 12: exact
    capped = copy.copy(node)
    capped.attrs = {**node.attrs, "accum": FixedType(24, 20)}  # 4 fraction bits: each product floored
    x_type = graph.node(node.inputs[0]).out.fixed
    x = random_inputs(graph, 64, seed=3)[graph.inputs[0]]
    w, b = node.consts["W"], node.consts["b"]
    prods = x[:, :, None] * w.values[None, :, :]              # exact, frac 10
    up = 4 - b.fixed.frac
    want = (prods >> 6).sum(axis=1) + (b.values << up if up >= 0 else b.values >> -up)
    y = run_node(capped, [x], [x_type])[0]
    exact_out = capped.out.fixed.cast(want, FixedType(24, 20))
    np.testing.assert_array_equal(y, exact_out)


def test_qtools_mode_matches_the_golden_rules_on_a_config_model(tmp_path):
    from .test_qtools import golden_case_model  # noqa: PLC0415
    path, config = golden_case_model(tmp_path, "bits_x_bits")
    graph = compile_model(path, config=config, accumulator="qtools")
    accs = {n.name: n.attrs["accum"].to_cpp() for n in graph.topo() if n.op in ("Dense", "Conv")}
    # the golden's fused_accumulator (its JSON int_bits count the sign, as ap_fixed's I does)
    assert accs == {"conv": "ap_fixed<19,9>", "dense": "ap_fixed<21,11>"}
    tight = compile_model(path, config=config)
    for node in (n for n in tight.topo() if n.op in ("Dense", "Conv")):
        t, q = check_layer(tight, node)
        assert t < q


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["qtools", "fixed:ap_fixed<12,4>", "fixed:ap_fixed<9,4>"])
def test_accumulator_modes_csim_bit_exact(tmp_path, mode):
    build_and_csim(shared_path("models", JET), tmp_path / "prj", "--input-type", INPUT_TYPE,
                   "--accumulator", mode, samples=200)


@pytest.mark.slow
def test_qtools_po2_kernel_dropping_bits_csim_bit_exact(tmp_path):
    """qtools' shifter keeps fewer fraction bits than quantized_po2's real exponents: products
    are truncated one by one in C++ and in the simulator alike."""
    import yaml

    from .test_qtools import golden_case_model  # noqa: PLC0415
    path, config = golden_case_model(tmp_path, "bits_x_po2", weights_scale=0.02)
    graph = compile_model(path, config=config, accumulator="qtools")
    node = graph.node("conv")
    x_type = graph.node(node.inputs[0]).out.fixed
    assert arith.product_drop(node, x_type) > 0
    (tmp_path / "q.yaml").write_text(yaml.safe_dump(config))
    build_and_csim(path, tmp_path / "prj", "--config", tmp_path / "q.yaml", "--accumulator", "qtools", samples=200)


def test_project_records_the_accumulator_mode(tmp_path):
    r = cli("build", shared_path("models", JET), "-o", tmp_path / "prj", "--input-type", INPUT_TYPE,
            "--accumulator", "qtools", "--samples", "4")
    assert r.exit_code == 0, r.output
    import json
    info = json.loads(Path(tmp_path / "prj" / "qconv_project.json").read_text())
    assert info["accumulator"] == "qtools"


@pytest.mark.slow
def test_qtools_mode_csim_bit_exact_for_every_quantizer_kind(tmp_path):
    import yaml

    from .test_config_build import _model  # noqa: PLC0415
    path, config, _ = _model(tmp_path)
    (tmp_path / "q.yaml").write_text(yaml.safe_dump(config))
    build_and_csim(path, tmp_path / "prj", "--config", tmp_path / "q.yaml", "--accumulator", "qtools", samples=300)
