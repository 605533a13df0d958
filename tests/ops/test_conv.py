"""The conv family (Conv, Pool): random conv and pooling layers, and convolutional models from
../shared/models: the simulator against the reference (exact where the model is fixed-point
representable) and against the g++ C simulation, bit for bit."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from qconv.fixed import FixedType
from qconv.pipeline import compile_model
from qconv.sim import simulate

from ..conftest import qonnx_reference, shared_path
from ..helpers import build_and_csim, save_inputs
from . import random_layers

QCONV2D = [f"qonnx/qkeras_tests/model_test_qkeras_qconv2d_{i}.onnx" for i in range(9)]
INPUT_TYPE = "ap_fixed<8,3>"


def _ref(rel):
    path = shared_path("models", rel)
    return path, np.load(str(path).replace(".onnx", ".ref.npz"))


def _cast(x, type_text=INPUT_TYPE):
    t = FixedType.parse(type_text)
    return t.to_float(t.from_float(x))


@pytest.mark.parametrize("rel", QCONV2D)
def test_qkeras_qconv2d_sim_equals_qonnx(rel):
    path, ref = _ref(rel)
    x = _cast(ref["x"][:12])
    graph = compile_model(path, input_type=INPUT_TYPE)
    y = simulate(graph, {"global_in": x}).as_float()[graph.output_names[0]]
    np.testing.assert_array_equal(y.reshape(len(x), -1), qonnx_reference(path, x))


@pytest.mark.slow
@pytest.mark.parametrize("rel", QCONV2D[::4])
def test_qkeras_qconv2d_csim_bit_exact(rel, tmp_path):
    path, ref = _ref(rel)
    inputs = save_inputs(tmp_path / "in.npz", "global_in", _cast(ref["x"][:10]))
    build_and_csim(path, tmp_path / "prj", "-i", inputs, "--input-type", INPUT_TYPE)


def test_separable_conv_channels_last_equals_reference():
    """Brevitas depthwise-separable block (qonnx channels-last Conv domain, LeakyRelu) on its
    512x512x3 reference input: exact."""
    path, ref = _ref("example-models/separable_conv_model_ch_last.onnx")
    graph = compile_model(path)
    assert [n.op for n in graph.topo()].count("Transpose") == 0  # channels-last end to end
    y = simulate(graph, {"global_in": ref["x"][:, 0]}).as_float()[graph.output_names[0]]
    np.testing.assert_array_equal(y, ref["y"][:, 0])


@pytest.mark.slow
def test_separable_conv_csim_on_reduced_input(tmp_path):
    path, _ = _ref("example-models/separable_conv_model_ch_last.onnx")
    model = onnx.load(str(path))
    for dim, size in zip(model.graph.input[0].type.tensor_type.shape.dim[1:3], (24, 20)):
        dim.dim_value = size
    small = tmp_path / "sepconv_24x20.onnx"
    onnx.save(model, str(small))
    build_and_csim(small, tmp_path / "prj", samples=4)


def test_brevitas_truncavgpool_equals_reference_up_to_its_float_bias():
    """Conv, Relu-Quant, AveragePool + Trunc (an exact sum and shift), then a Gemm whose bias
    Brevitas left in float: qconv adds it exactly, the reference rounds that sum to float32."""
    path, ref = _ref("brevitas/brevitas_truncavgpool_4x8x8.onnx")
    graph = compile_model(path)
    y = simulate(graph, {"x": ref["x"][:, 0]}).as_float()[graph.output_names[0]]
    want = ref["y"][:, 0].astype(np.float64)
    np.testing.assert_array_equal(np.float32(y), want)  # equal once rounded like the reference
    assert np.abs(y - want).max() <= np.abs(np.spacing(np.float32(want))).max()


@pytest.mark.slow
def test_brevitas_truncavgpool_csim_bit_exact(tmp_path):
    path, ref = _ref("brevitas/brevitas_truncavgpool_4x8x8.onnx")
    inputs = save_inputs(tmp_path / "in.npz", "x", ref["x"][:, 0])
    build_and_csim(path, tmp_path / "prj", "-i", inputs)


@pytest.mark.slow
@pytest.mark.parametrize("rel", ["qonnx/residual_block_clean.onnx", "qonnx/mnist-conv/model.onnx"])
def test_float_conv_models_with_default_type_csim_bit_exact(rel, tmp_path):
    path, _ = _ref(rel)
    build_and_csim(path, tmp_path / "prj", "--default-type", "ap_fixed<16,6,AP_RND_CONV,AP_SAT>", samples=3)


@pytest.mark.parametrize("kind,seed", [("conv", 1), ("conv", 2), ("pool", 3)])
def test_random_layers_sim_equals_qonnx_reference(tmp_path, kind, seed):
    random_layers.sim_equals_qonnx_reference(tmp_path, kind, seed)


@pytest.mark.slow
@pytest.mark.parametrize("kind,seed,count", [("conv", 11, 30), ("pool", 12, 30)])
def test_random_layers_sim_equals_csim(tmp_path, kind, seed, count):
    random_layers.sim_equals_csim(tmp_path, kind, seed, count)
