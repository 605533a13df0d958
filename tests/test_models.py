"""Acceptance models from ../shared/models: numpy simulator against the reference outputs,
element for element, and the generated C++ (g++ csim) against the simulator, bit for bit."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from qconv.fixed import FixedType
from qconv.onnx_tools import cut_before
from qconv.pipeline import compile_model
from qconv.sim import simulate

from .conftest import qonnx_reference, shared_path
from .helpers import build_and_csim, save_inputs

INPUT_TYPE = "ap_fixed<8,3>"
QDENSE = [f"qonnx/qkeras_tests/model_test_qkeras_qdense_{i}.onnx" for i in range(9)]


def _ref(rel):
    path = shared_path("models", rel)
    return path, np.load(str(path).replace(".onnx", ".ref.npz"))


def _flat(a):
    return a.reshape(a.shape[0], -1)


def test_brevitas_mlp_sim_equals_reference():
    path, ref = _ref("brevitas/brevitas_mlp_16_64_32_5.onnx")
    graph = compile_model(path)
    y = simulate(graph, {"x": _flat(ref["x"])}).as_float()[graph.output_names[0]]
    np.testing.assert_array_equal(y, _flat(ref["y"]))


@pytest.mark.slow
def test_brevitas_mlp_csim_bit_exact(tmp_path):
    path, ref = _ref("brevitas/brevitas_mlp_16_64_32_5.onnx")
    inputs = save_inputs(tmp_path / "in.npz", "x", _flat(ref["x"]))
    assert build_and_csim(path, tmp_path / "prj", "-i", inputs) == len(ref["x"])


def _cut_before_softmax(path, tmp_path):
    """The model without its final Softmax (the foundation issue compares logits)."""
    return cut_before(path, "Softmax", tmp_path / (path.stem + "_logits.onnx"))


def _float_input_case(rel, tmp_path):
    """(model path, cast inputs, reference on the cast inputs) for a float-input model."""
    path, ref = _ref(rel)
    if rel.endswith("qkeras_jettagging.onnx"):
        path = _cut_before_softmax(path, tmp_path)
    t = FixedType.parse(INPUT_TYPE)
    x = t.to_float(t.from_float(_flat(ref["x"])))
    return path, x, qonnx_reference(path, x)


@pytest.mark.parametrize("rel", QDENSE + ["qonnx_model_zoo/qkeras_jettagging.onnx"])
def test_float_input_models_sim_equals_qonnx(rel, tmp_path):
    path, x, y_ref = _float_input_case(rel, tmp_path)
    graph = compile_model(path, input_type=INPUT_TYPE)
    name = graph.node(graph.inputs[0]).attrs["onnx_name"]
    y = simulate(graph, {name: x}).as_float()[graph.output_names[0]]
    np.testing.assert_array_equal(_flat(y), y_ref)


@pytest.mark.slow
@pytest.mark.parametrize("rel", QDENSE + ["qonnx_model_zoo/qkeras_jettagging.onnx"])
def test_float_input_models_csim_bit_exact(rel, tmp_path):
    path, x, _ = _float_input_case(rel, tmp_path)
    name = onnx.load(str(path)).graph.input[0].name
    inputs = save_inputs(tmp_path / "in.npz", name, x)
    assert build_and_csim(path, tmp_path / "prj", "-i", inputs, "--input-type", INPUT_TYPE) == len(x)


@pytest.mark.slow
@pytest.mark.parametrize("rel", ["example-models/two_layer_keras.onnx", "example-models/three_layer_keras.onnx"])
def test_float_mlp_with_default_type_csim_bit_exact(rel, tmp_path):
    path, ref = _ref(rel)
    if "three_layer" in rel:
        path = _cut_before_softmax(path, tmp_path)
    build_and_csim(path, tmp_path / "prj", "--default-type", "ap_fixed<16,6>", samples=300)
