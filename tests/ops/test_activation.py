"""The activation family (Relu, Table, Cast, PRelu, HardSigmoid, Clip, Softmax): activations
(qconv/analysis/activations.py): LeakyRelu, PRelu, HardSigmoid, Clip, Tanh, Elu, Selu, Softmax.

- every op against a float64 numpy reference on every input mantissa of small input types:
  exactly equal to the directly rounded value (ONNX's float32 constants, then the output cast);
- imports (broadcasts, layouts, Softmax axes, opset < 13) against qonnx's reference executor;
- Softmax: worst-case error against float softmax of the same fixed-point logits and argmax
  identity on >= 100k random vectors over several input and output types;
- sim vs g++ csim, integer for integer, one build per op family (slow).
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from qconv.errors import TypeOverflowError, UnsupportedError
from qconv.fixed import FixedType
from qconv.ir import Node, TensorType
from qconv.analysis.activations import SOFTMAX_OUTPUT, softmax_tables
from qconv.pipeline import compile_model
from qconv.sim import simulate
from qconv.sim.activation import softmax_mantissas

from ..conftest import require_toolchain
from ..helpers import build_and_csim
from ..randactivations import branches
from ..randmodels import Builder

F32 = lambda v: float(np.float32(v))  # noqa: E731  (ONNX attributes are float32)


def _model(tmp_path, op, x_type, out=None, shape=(1,), consts=(), opset=13, transpose=None, **attrs):
    """x -> Quant(x_type = (bits, frac, signed)) [-> Transpose] -> op(x, *consts) [-> Quant(out)]."""
    b = Builder(0)
    x = b.quant(b.input(list(shape)), *x_type[:2], signed=x_type[2])
    if transpose:
        x = b.node("Transpose", [x], perm=transpose)
    ins = [x] + [b.const(np.asarray(c, np.float64)) if c is not None else "" for c in consts]
    y = b.node(op, ins, **attrs)
    if out:
        y = b.quant(y, out[0], out[1], signed=out[2])
    b.output(y)
    model = b.model()
    if opset != 13:
        model.opset_import[0].version = opset
    path = tmp_path / f"{op}.onnx"
    onnx.save(model, str(path))
    return path, b.inputs[0].name


def _every_input(path, name, x_type):
    """(graph, x float values, y float values) over every mantissa of the input type."""
    graph = compile_model(path)
    t = graph.node(graph.inputs[0]).out.fixed
    x = t.to_float(np.arange(t.min_mantissa, t.max_mantissa + 1))
    y = simulate(graph, {name: x[:, None]}).as_float()
    return graph, x, next(iter(y.values()))[:, 0]


def _out_type(graph) -> FixedType:
    return graph.node(graph.outputs[0]).out.fixed


def _node(graph, op):
    return next(n for n in graph.topo() if n.op == op)


X_TYPES = [(6, 3, True), (8, 5, True), (7, 2, False), (10, 4, True)]
OUTS = [None, (8, 4, True), (6, 5, True), (5, 2, False)]


# ----- LeakyRelu / PRelu ----------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [0.125, 0.5, 2.0, 1.0, 0.01, 0.1, 0.3, 1 / 3, -0.3, 0.0, 1.7])
@pytest.mark.parametrize("x_type,out", list(zip(X_TYPES, OUTS)))
def test_leaky_relu_every_input(tmp_path, alpha, x_type, out):
    path, name = _model(tmp_path, "LeakyRelu", x_type, out, alpha=alpha)
    graph, x, y = _every_input(path, name, x_type)
    node = _node(graph, "PRelu")
    assert (node.attrs["shift"] is not None) == (alpha in (0.125, 0.5, 2.0, 1.0))  # po2: a shift
    exact = np.where(x >= 0, x, F32(alpha) * x)  # exact in float64 (24-bit alpha, <= 10-bit x)
    if out is None:
        np.testing.assert_array_equal(y, exact)  # lossless output type
    else:
        np.testing.assert_array_equal(y, _out_type(graph).to_float(_out_type(graph).from_float(exact)))


@pytest.mark.parametrize("slope_shape,transpose", [((3, 1), None), ((1,), None), ((3, 4), None),
                                                    ((4,), None), ((3, 1), [0, 2, 1])])
@pytest.mark.parametrize("po2", [True, False])
def test_prelu_broadcast_every_input(tmp_path, slope_shape, transpose, po2):
    rng = np.random.default_rng(len(slope_shape) + po2)
    slope = (rng.choice([0.25, 0.5, -0.125, 1.0], slope_shape) if po2
             else rng.uniform(-0.7, 0.7, slope_shape)).astype(np.float32)
    shape = (3, 4) if transpose is None else (4, 3)  # transposed to (3, 4) semantically
    path, name = _model(tmp_path, "PRelu", (7, 3, True), None if po2 else (9, 5, True), shape=shape,
                        consts=[slope], transpose=transpose)
    graph = compile_model(path)
    t = graph.node(graph.inputs[0]).out.fixed
    m = np.arange(t.min_mantissa, t.max_mantissa + 1)
    x = t.to_float(np.stack([np.roll(m, k) for k in range(12)], axis=1).reshape(-1, *shape))
    y = next(iter(simulate(graph, {name: x}).as_float().values()))
    xs = x.transpose(0, *[p for p in transpose[1:]]) if transpose else x
    exact = np.where(xs >= 0, xs, slope.astype(np.float64) * xs)
    want = exact if po2 else _out_type(graph).to_float(_out_type(graph).from_float(exact))
    np.testing.assert_array_equal(y, want)


# ----- HardSigmoid ----------------------------------------------------------------------------
@pytest.mark.parametrize("alpha,beta", [(0.2, 0.5), (0.25, 0.5), (1 / 6, 0.5), (0.5, 0.375), (-0.3, 0.6)])
@pytest.mark.parametrize("x_type,out", list(zip(X_TYPES, OUTS)))
def test_hard_sigmoid_every_input(tmp_path, alpha, beta, x_type, out):
    path, name = _model(tmp_path, "HardSigmoid", x_type, out, alpha=alpha, beta=beta)
    graph, x, y = _every_input(path, name, x_type)
    exact = np.clip(F32(alpha) * x + F32(beta), 0, 1)  # exact in float64 for these widths
    if out is None:
        np.testing.assert_array_equal(y, exact)
    else:
        np.testing.assert_array_equal(y, _out_type(graph).to_float(_out_type(graph).from_float(exact)))


# ----- Clip -----------------------------------------------------------------------------------
@pytest.mark.parametrize("lo,hi", [(0.0, 6.0), (-1.0, 1.0), (-1.3, 0.7), (0.1, None), (None, 2.5),
                                   (0.5, 0.5), (-100.0, 100.0), (2.0, -1.0)])
@pytest.mark.parametrize("x_type,out", list(zip(X_TYPES, OUTS)))
def test_clip_every_input(tmp_path, lo, hi, x_type, out):
    path, name = _model(tmp_path, "Clip", x_type, out, consts=[lo, hi] if hi is not None else [lo])
    graph, x, y = _every_input(path, name, x_type)
    exact = x
    if lo is not None:
        exact = np.maximum(exact, F32(lo))
    if hi is not None:
        exact = np.minimum(exact, F32(hi))
    if out is None:
        np.testing.assert_array_equal(y, exact)
        assert _out_type(graph).width <= max(x_type[0], 1) + 26
    else:
        np.testing.assert_array_equal(y, _out_type(graph).to_float(_out_type(graph).from_float(exact)))


def test_clip_attributes_opset6_and_narrow_lossless_type(tmp_path):
    path, name = _model(tmp_path, "Clip", (10, 4, True), opset=6, min=0.0, max=6.0)
    graph, x, y = _every_input(path, name, (10, 4, True))
    np.testing.assert_array_equal(y, np.clip(x, 0, 6))
    assert _out_type(graph) == FixedType(7, 3, signed=False)  # [0, 6] with 4 fraction bits
    assert _node(graph, "Clip").attrs["clamp"] == graph.node(graph.inputs[0]).out.fixed  # clamp in x's type


# ----- table activations ----------------------------------------------------------------------
def _elu(x, alpha=1.0):
    return np.where(x >= 0, x, alpha * np.expm1(np.minimum(x, 0)))


TABLE_OPS = [
    ("Tanh", {}, np.tanh),
    ("Sigmoid", {}, lambda x: 1 / (1 + np.exp(-x))),
    ("Elu", {}, _elu),
    ("Elu", {"alpha": 0.5}, lambda x: _elu(x, F32(0.5))),
    ("Selu", {}, lambda x: F32(1.05070102214813232421875) * _elu(x, F32(1.67326319217681884765625))),
    ("Selu", {"alpha": 2.0, "gamma": 0.5}, lambda x: 0.5 * _elu(x, 2.0)),
]


@pytest.mark.parametrize("op,attrs,fn", TABLE_OPS, ids=[f"{o}{a}" for o, a, _ in TABLE_OPS])
@pytest.mark.parametrize("x_type,out", list(zip(X_TYPES, OUTS)))
def test_table_every_input_is_the_rounded_function(tmp_path, op, attrs, fn, x_type, out):
    path, name = _model(tmp_path, op, x_type, out, **attrs)
    graph, x, y = _every_input(path, name, x_type)
    t = _out_type(graph)
    np.testing.assert_array_equal(y, t.to_float(t.from_float(fn(x))))
    if out is None:  # default types: nothing saturates
        assert t.rounding == "RND" and t.frac >= 15
        assert np.all(np.abs(y - fn(x)) <= t.lsb / 2 + 1e-12)


def test_elu_with_negative_alpha_uses_the_whole_range(tmp_path):
    path, name = _model(tmp_path, "Elu", (6, 3, True), (8, 4, True), alpha=-0.5)
    graph, x, y = _every_input(path, name, (6, 3, True))
    t = _out_type(graph)
    np.testing.assert_array_equal(y, t.to_float(t.from_float(_elu(x, -0.5))))


# ----- Softmax: error and argmax --------------------------------------------------------------
def _softmax_node(x_t: FixedType, out_t: FixedType, n: int) -> Node:
    node = Node("s", "Softmax", attrs={"outer": 1, "n": n, "inner": 1}, out=TensorType((n,), out_t))
    softmax_tables(node, x_t)
    return node


def _logits(rng, t: FixedType, count: int, n: int) -> np.ndarray:
    """Half uniform over the type, half narrow spreads around a random centre (near ties)."""
    lo, hi = t.min_mantissa, t.max_mantissa
    x = rng.integers(lo, hi, (count, n), endpoint=True)
    k = count // 2
    spread = rng.integers(0, 8, (k, 1))
    x[:k] = np.clip(rng.integers(lo, hi, (k, 1), endpoint=True) + rng.integers(0, 1 << 20, (k, n)) % (spread + 1),
                    lo, hi)
    return x


def _float_softmax(xf):
    e = np.exp(xf - xf.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


SOFTMAX_IN = ["ap_fixed<6,3>", "ap_fixed<8,4>", "ap_fixed<10,5>", "ap_fixed<12,4>", "ap_fixed<16,6>",
              "ap_ufixed<8,3>", "ap_fixed<14,8>"]
# output type -> worst-case error bound in output lsbs (measured: 0.79, 1.39, 1.78)
# output type -> worst-case error bounds in output lsbs: (elements the argmax guard left alone,
# elements it lowered by one lsb). Rounding (RND 0.5, TRN 1 lsb; 1.0 saturates to 1 - lsb in
# ap_ufixed<8,0>) plus at most 2^-(Fo+3) from the exp table and reciprocal. Measured over 486k
# vectors (n up to 100): 0.530/1.179, 1.000/1.410, 1.031/1.817.
SOFTMAX_OUT = {None: (0.55, 1.55), "ap_ufixed<8,0,AP_RND,AP_SAT>": (1.0, 1.55), "ap_fixed<16,6>": (1.05, 2.05)}


@pytest.mark.parametrize("out", list(SOFTMAX_OUT), ids=lambda o: o or "default")
def test_softmax_error_and_argmax_on_random_vectors(out):
    rng = np.random.default_rng(2024)
    out_t = FixedType.parse(out) if out else SOFTMAX_OUTPUT
    total, worst, worst_lowered = 0, 0.0, 0.0
    for x_s in SOFTMAX_IN:
        x_t = FixedType.parse(x_s)
        for n in (2, 3, 5, 10, 16, 33):
            count = 2400
            node = _softmax_node(x_t, out_t, n)
            x = _logits(rng, x_t, count, n)
            p, _, lowered = softmax_mantissas(x.reshape(count, 1, n, 1), node)
            p, lowered = out_t.to_float(p.reshape(count, n)), lowered.reshape(count, n)
            ref = _float_softmax(x_t.to_float(x))
            err = np.abs(p - ref)
            worst = max(worst, float(err[~lowered].max()))
            worst_lowered = max(worst_lowered, float(err[lowered].max(initial=0)))
            flipped = np.flatnonzero(p.argmax(axis=1) != ref.argmax(axis=1))
            assert flipped.size == 0, (x_s, out_t, n, x[flipped[:3]])
            total += count
    assert total >= 100_000
    bound, bound_lowered = SOFTMAX_OUT[out]
    assert worst <= bound * out_t.lsb, worst / out_t.lsb
    assert worst_lowered <= bound_lowered * out_t.lsb, worst_lowered / out_t.lsb


def test_softmax_over_a_middle_axis_is_each_positions_own_softmax():
    """softmax_mantissas on (N, outer, n, inner) (it computes classes first, sim/activation.py)
    gives at every (outer, inner) position exactly the softmax of that position's n values."""
    x_t, out_t, n, outer, inner = FixedType.parse("ap_fixed<16,6>"), FixedType.parse("ap_fixed<16,6>"), 5, 3, 4
    rng = np.random.default_rng(7)
    x = _logits(rng, x_t, 60 * outer * inner, n).reshape(60, outer, inner, n).transpose(0, 1, 3, 2).copy()
    node = _softmax_node(x_t, out_t, n)
    node.attrs.update(outer=outer, inner=inner)
    p, ovf, lowered = softmax_mantissas(x, node)
    assert p.shape == ovf.shape == lowered.shape == (60, outer, n, inner)
    for o in range(outer):
        for i in range(inner):
            one = softmax_mantissas(np.ascontiguousarray(x[:, o:o + 1, :, i:i + 1]), _softmax_node(x_t, out_t, n))
            for got, want in zip((p, ovf, lowered), one):
                np.testing.assert_array_equal(got[:, o:o + 1, :, i:i + 1], want)
    assert lowered.any()  # near ties: the argmax guard is exercised


def test_softmax_exact_ties_keep_numpy_argmax():
    x_t = FixedType.parse("ap_fixed<8,4>")
    node = _softmax_node(x_t, SOFTMAX_OUTPUT, 4)
    x = np.array([[5, 7, 7, 1], [7, 7, 7, 7], [-128, -128, 127, 127], [0, 1, 0, 1]])
    p, _, _ = softmax_mantissas(x.reshape(4, 1, 4, 1), node)
    np.testing.assert_array_equal(p.reshape(4, 4).argmax(axis=1), x.argmax(axis=1))
    assert p.reshape(4, 4)[1].tolist() == [SOFTMAX_OUTPUT.from_float(0.25)] * 4


def test_softmax_exp_table_clamp_is_exact_and_bounded():
    x_t = FixedType.parse("ap_fixed<10,5>")
    node = _softmax_node(x_t, SOFTMAX_OUTPUT, 4)
    table = node.consts["exp"]
    assert table.values[0] == 1 << node.attrs["exp_frac"] and table.values[-1] == 0
    assert np.all(table.values[1:] < table.values[0]) and np.all(np.diff(table.values) <= 0)
    d = np.arange(table.values.size)
    np.testing.assert_array_equal(table.values[1:-1],  # rounded exp, except the cap below 1.0
                                  np.minimum(table.fixed.from_float(np.exp(-x_t.to_float(d[1:-1]))),
                                             table.values[0] - 1))


# ----- Softmax: axes and layouts against qonnx ------------------------------------------------
SOFTMAX_FORMS = [
    # (per-sample shape, axis, opset, transpose)
    ((7,), -1, 13, None), ((3, 5), -1, 13, None), ((3, 5), 1, 13, None), ((2, 3, 4), 2, 13, None),
    ((4, 3), -1, 13, [0, 2, 1]), ((2, 3, 4), 1, 13, [0, 3, 1, 2]), ((3, 5), 1, 11, None),
    ((2, 3, 4), 2, 11, None), ((2, 3, 4), -1, 11, [0, 3, 1, 2]), ((2, 3, 4), 1, 11, [0, 2, 3, 1]),
]


@pytest.mark.parametrize("shape,axis,opset,transpose", SOFTMAX_FORMS)
def test_softmax_axes_equal_onnx_semantics(tmp_path, shape, axis, opset, transpose):
    from ..conftest import qonnx_reference
    path, name = _model(tmp_path, "Softmax", (8, 3, True), shape=shape, opset=opset, transpose=transpose,
                        axis=axis)
    graph = compile_model(path)
    rng = np.random.default_rng(5)
    x = rng.uniform(-16, 16, (12, *shape)).round(3) / 1.0
    x = graph.node(graph.inputs[0]).out.fixed.to_float(graph.node(graph.inputs[0]).out.fixed.from_float(x))
    y = next(iter(simulate(graph, {name: x}).as_float().values())).reshape(12, -1)
    ref = qonnx_reference(path, x)
    assert np.abs(y - ref).max() <= SOFTMAX_OUTPUT.lsb  # same grouping: else errors are ~0.1


def test_softmax_unsupported_forms(tmp_path):
    path, _ = _model(tmp_path, "Softmax", (8, 3, True), shape=(4,), axis=0)
    with pytest.raises(UnsupportedError, match="batch axis"):
        compile_model(path)
    path, _ = _model(tmp_path, "Softmax", (24, 16, True), shape=(4,), axis=-1)  # 16 fraction bits
    with pytest.raises(TypeOverflowError, match="fewer fractional bits"):
        compile_model(path)


# ----- imports against qonnx's executor (onnxruntime, float32) --------------------------------
def _qonnx_outputs(path, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.util.cleanup import cleanup_model
    model = cleanup_model(ModelWrapper(str(path)))
    names = [i.name for i in model.graph.input]  # renamed by cleanup_model, same order
    arrays = list(inputs.values())
    outs = [execute_onnx(model, {k: v[i:i + 1].astype(np.float32) for k, v in zip(names, arrays)})
            for i in range(arrays[0].shape[0])]
    return [np.concatenate([r[o.name] for r in outs]) for o in model.graph.output]


@pytest.mark.parametrize("family", ["leaky_relu", "prelu", "clip", "hard_sigmoid", "softmax"])
def test_random_branches_equal_qonnx(tmp_path, family):
    """Random branches (layouts, broadcasts, quantized constants) against onnxruntime: exact
    where float32 computes the op exactly, else at most one output lsb apart (float32 rounds
    alpha * x before the output quantizer rounds again; qconv rounds the exact value once)."""
    b = branches(family, 7, 10)
    path = tmp_path / "m.onnx"
    onnx.save(b.model(), str(path))
    graph = compile_model(path)
    rng = np.random.default_rng(1)
    inputs = {}
    for name in graph.inputs:
        node = graph.node(name)
        t = node.out.fixed
        m = rng.integers(t.min_mantissa, t.max_mantissa, (6, *node.out.shape), endpoint=True)
        inputs[node.attrs["onnx_name"]] = t.to_float(m)
    got = simulate(graph, inputs).as_float()
    exact = 0
    for name, out_node, ref in zip(graph.output_names, graph.outputs, _qonnx_outputs(path, inputs)):
        t = graph.node(out_node).out.fixed
        y, ref = got[name].reshape(-1), ref.reshape(-1).astype(np.float64)
        # one output lsb, or float32's own precision where the output type is finer (lossless)
        tol = max(t.lsb, 2.0**-23 * max(1.0, float(np.abs(ref).max()))) + (1e-6 if family == "softmax" else 0)
        assert np.abs(y - ref).max() <= tol, (name, t)
        exact += np.array_equal(y, ref)
    assert family == "softmax" or exact >= len(graph.outputs) - 2


# ----- sim vs csim ----------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("families,seed", [(("leaky_relu", "prelu"), 1), (("hard_sigmoid", "clip"), 2),
                                           (("tanh", "elu", "selu"), 3), (("softmax",), 4)])
def test_sim_equals_csim(tmp_path, families, seed):
    require_toolchain()
    b = branches(families, seed, 24 // len(families) + 6)
    path = tmp_path / "m.onnx"
    onnx.save(b.model(), str(path))
    # inputs over each type's whole range, half of them near ties (small spreads: softmax's
    # argmax guard, clamps and slopes around 0 all get exercised)
    graph = compile_model(path)
    rng = np.random.default_rng(seed)
    inputs = {}
    for name in graph.inputs:
        node = graph.node(name)
        t = node.out.fixed
        m = rng.integers(t.min_mantissa, t.max_mantissa, (80, node.out.size), endpoint=True)
        m[40:] = np.clip(m[40:, :1] + rng.integers(-3, 4, (40, node.out.size)), t.min_mantissa, t.max_mantissa)
        inputs[node.attrs["onnx_name"]] = t.to_float(m).reshape(80, *node.out.shape)
    np.savez(tmp_path / "in.npz", **inputs)
    assert build_and_csim(path, tmp_path / "prj", "-i", tmp_path / "in.npz") == 80
