"""The eltwise family (Eltwise, Reshape, Transpose, Gather, Concat, ArgMax): random eltwise and shape
layers, and BatchNorm folding: into float Conv/Dense weights (SEMANTICS.md 5) by default, kept as a
per-channel multiply-add with --no-fold-bn or after quantized weights."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from qconv.pipeline import compile_model
from qconv.sim import simulate

from ..conftest import qonnx_reference
from ..helpers import build_and_csim
from ..randmodels import Builder
from . import random_layers


def _conv_bn(tmp_path, quantized_weights: bool):
    b = Builder(9)
    r = b.rng
    x = b.quant(b.input([2, 5, 5]), 6, 3)
    w = b.const(r.normal(0, 1, (3, 2, 3, 3)))
    if quantized_weights:
        w = b.quant(w, 4, 2)
    conv = b.node("Conv", [x, w, b.const(r.normal(0, 1, 3))], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    gamma, beta, mean, var = r.uniform(0.5, 2, 3), r.normal(0, 1, 3), r.normal(0, 1, 3), r.uniform(0.5, 2, 3)
    bn = b.node("BatchNormalization", [conv, *(b.const(v) for v in (gamma, beta, mean, var))], epsilon=1e-3)
    b.output(b.quant(bn, 10, 4))
    path = tmp_path / f"bn_{int(quantized_weights)}.onnx"
    onnx.save(b.model(), str(path))
    return path, (gamma, beta, mean, var)


def test_batchnorm_folds_into_float_conv(tmp_path):
    path, (gamma, beta, mean, var) = _conv_bn(tmp_path, quantized_weights=False)
    folded = compile_model(path, default_type="ap_fixed<16,6,AP_RND_CONV,AP_SAT>")
    assert [n.op for n in folded.topo()] == ["Input", "Transpose", "Conv", "Transpose"]
    kept = compile_model(path, default_type="ap_fixed<16,6,AP_RND_CONV,AP_SAT>", fold_batchnorm=False)
    assert "Eltwise" in [n.op for n in kept.topo()]
    # the folded weights are W * (gamma * (1 / sqrt(var + eps))) in float32 (QKeras), quantized once
    conv = next(n for n in folded.topo() if n.op == "Conv")
    raw = next(a for a in map(onnx.numpy_helper.to_array, onnx.load(str(path)).graph.initializer)
               if a.shape == (3, 2, 3, 3))
    f32 = np.float32
    inv = gamma.astype(f32) * (f32(1) / np.sqrt(var.astype(f32) + f32(1e-3)))
    want = conv.consts["W"].fixed.from_float((raw.astype(f32) * inv[:, None, None, None]).astype(f32))
    np.testing.assert_array_equal(conv.consts["W"].values, want)


def test_batchnorm_after_quantized_weights_becomes_exact_thresholds(tmp_path):
    """Quantized weights cannot absorb a BatchNorm; BatchNorm + the following Quant become
    per-channel thresholds computed from the reference's own float32 arithmetic: exact."""
    path, _ = _conv_bn(tmp_path, quantized_weights=True)
    g = compile_model(path)
    assert [n.op for n in g.topo()] == ["Input", "Transpose", "Conv", "Thresholds", "Transpose"]
    x = np.random.default_rng(0).uniform(-4, 4, (16, 2, 5, 5))
    y = simulate(g, {"x1": x}).as_float()[g.output_names[0]]
    np.testing.assert_array_equal(y.reshape(16, -1), qonnx_reference(path, x))


@pytest.mark.slow
@pytest.mark.parametrize("quantized", [False, True])
@pytest.mark.parametrize("fold", [True, False])
def test_batchnorm_csim_bit_exact(tmp_path, quantized, fold):
    path, _ = _conv_bn(tmp_path, quantized)
    extra = ["--default-type", "ap_fixed<16,6,AP_RND_CONV,AP_SAT>"] + ([] if fold else ["--no-fold-bn"])
    build_and_csim(path, tmp_path / "prj", *extra, samples=30)


@pytest.mark.parametrize("kind,seed", [("eltwise", 4), ("shape", 5)])
def test_random_layers_sim_equals_qonnx_reference(tmp_path, kind, seed):
    random_layers.sim_equals_qonnx_reference(tmp_path, kind, seed)


@pytest.mark.slow
@pytest.mark.parametrize("kind,seed,count", [("eltwise", 13, 30), ("shape", 14, 30)])
def test_random_layers_sim_equals_csim(tmp_path, kind, seed, count):
    random_layers.sim_equals_csim(tmp_path, kind, seed, count)
